//! What a test (or the control routes) acts through: the fake's URL, faults to inject,
//! the calls it received, Telegram's state (links, members, join requests), simulated
//! users' actions and updates for the webhook.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::faults::{Call, Fault, FaultPolicy};
use crate::params::{buttons_of, fastish_id, telegram_bot_user, unix_ms};
use crate::state::{AppState, Pace};
use crate::telegram::{Join, JoinDecision, JoinOutcome, OpenLink, PendingRequest, Removal};
use crate::updates::{Delivery, Webhook};

/// What a test or the control routes act through: the fake's state (a running
/// [`FakeBotApi`] derefs to it).
#[derive(Clone)]
pub struct FakeBotApiHandle {
    pub(crate) state: Arc<AppState>,
}

impl FakeBotApiHandle {
    /// The base URL to give teloxide (`TELEGRAM_API_URL`).
    pub fn url(&self) -> String {
        format!("http://{}", self.state.addr)
    }

    pub fn port(&self) -> u16 {
        self.state.addr.port()
    }

    pub fn inject(&self, fault: Fault) {
        self.state.shared.lock().unwrap().faults.push_back(fault);
    }

    /// Consults `policy` for every call that no injected [`Fault`] matches.
    pub fn set_policy(&self, policy: FaultPolicy) {
        *self.state.policy.lock().unwrap() = Some(policy);
    }

    /// Every call received, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state.shared.lock().unwrap().calls.clone()
    }

    /// The calls received from the `start`-th on, in order (cheap to poll).
    pub fn calls_from(&self, start: usize) -> Vec<Call> {
        let shared = self.state.shared.lock().unwrap();
        shared.calls.get(start..).unwrap_or_default().to_vec()
    }

    /// The calls of `method` that Telegram would have acted on.
    pub fn delivered(&self, method: &str) -> Vec<Call> {
        // Filtered under the lock: only the calls asked for are copied.
        let shared = self.state.shared.lock().unwrap();
        shared
            .calls
            .iter()
            .filter(|c| c.method == method && c.delivered)
            .cloned()
            .collect()
    }

    /// A user clicks `link` at `now` (Unix seconds): Telegram admits them if the link is
    /// known, not revoked, not expired and not used up, and counts the use. Through a
    /// link that creates join requests, the user waits instead, and the bot gets a
    /// `chat_join_request` update (once per pending request).
    pub fn join(&self, link: &str, user_id: i64, now: i64) -> JoinOutcome {
        let (outcome, request, joined) = {
            let mut shared = self.state.shared.lock().unwrap();
            let after_calls = shared.calls.len();
            let pending_before = shared.telegram.pending_requests.len();
            let outcome = shared.telegram.join(link, user_id, now, after_calls);
            let request = (shared.telegram.pending_requests.len() > pending_before)
                .then(|| shared.telegram.pending_requests.last().cloned())
                .flatten();
            let joined = (outcome == JoinOutcome::Joined)
                .then(|| shared.telegram.link_facts(link))
                .flatten();
            (outcome, request, joined)
        };
        // Telegram tells an administrator bot of a join through a link (`chat_member`),
        // delivered only if the bot asked for the kind by name (`allowed_updates`); the
        // link is shown whole to the bot that made it, with its name.
        if let Some((chat_id, name, member_limit)) = joined {
            self.push_update(json!({
                "chat_member": {
                    "chat": {"id": chat_id, "type": "channel", "title": "Private channel"},
                    "from": {"id": user_id, "is_bot": false, "first_name": "Buyer"},
                    "date": now,
                    "old_chat_member": {"user": {"id": user_id, "is_bot": false, "first_name": "Buyer"},
                        "status": "left"},
                    "new_chat_member": {"user": {"id": user_id, "is_bot": false, "first_name": "Buyer"},
                        "status": "member"},
                    "invite_link": {
                        "invite_link": link, "creator": telegram_bot_user(), "name": name,
                        "member_limit": member_limit, "creates_join_request": false,
                        "is_primary": false, "is_revoked": false
                    }
                }
            }));
        }
        if let Some(request) = request {
            self.push_update(json!({
                "chat_join_request": {
                    "chat": {"id": request.chat_id, "type": "channel", "title": "Private channel"},
                    "from": {"id": user_id, "is_bot": false, "first_name": "Buyer"},
                    "user_chat_id": user_id,
                    "date": request.at,
                    "invite_link": {
                        "invite_link": request.link, "creator": telegram_bot_user(),
                        "creates_join_request": true, "is_primary": false, "is_revoked": false
                    }
                }
            }));
        }
        outcome
    }

    /// Queues an update for the webhook (an `update_id` is given unless it has one);
    /// answers its id.
    pub fn push_update(&self, update: Value) -> i64 {
        let id = self.state.outbox.lock().unwrap().push(update);
        self.state.wake.notify_one();
        id
    }

    /// A user pays by the Stars invoice `link`: Telegram asks the bot (a
    /// `pre_checkout_query` update) and waits up to 10 seconds for its answer; answered
    /// ok, the user is charged and the bot gets the `successful_payment` message.
    pub async fn pay_stars(&self, user_id: i64, link: &str) -> crate::payments::StarsCheckout {
        use crate::payments::{PRE_CHECKOUT_WINDOW, StarsCheckout};
        let asked = self
            .state
            .shared
            .lock()
            .unwrap()
            .telegram
            .payments
            .ask(user_id, link);
        let Some((query_id, query)) = asked else {
            return StarsCheckout::UnknownInvoice;
        };
        self.push_update(query);
        let deadline = std::time::Instant::now() + PRE_CHECKOUT_WINDOW;
        let answer = loop {
            let answer = self
                .state
                .shared
                .lock()
                .unwrap()
                .telegram
                .payments
                .answer(&query_id);
            if answer.is_some() || std::time::Instant::now() >= deadline {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        match answer {
            None => StarsCheckout::Unanswered,
            Some(Err(message)) => StarsCheckout::Refused(message),
            Some(Ok(())) => {
                let now = unix_ms() / 1000;
                let charged = self.payments(|p| p.charge_first(user_id, link, now));
                match charged {
                    Some((charge_id, paid)) => {
                        self.push_update(paid);
                        StarsCheckout::Paid(charge_id)
                    }
                    None => StarsCheckout::UnknownInvoice,
                }
            }
        }
    }

    /// `user_id` pays `link` and Telegram charges as if the bot had answered the
    /// pre-checkout query ok: for tests of what follows a charge (the answer itself is
    /// tested through [`Self::pay_stars`]). The charge's id, or none for no such link.
    pub fn charge_stars(&self, user_id: i64, link: &str) -> Option<String> {
        let now = unix_ms() / 1000;
        let (charge_id, paid) = self.payments(|p| p.charge_first(user_id, link, now))?;
        self.push_update(paid);
        Some(charge_id)
    }

    /// Telegram renews the Stars subscription begun by `first_charge_id` (its period
    /// ended on the test's clock): the new charge's id, or none if it was cancelled or
    /// refunded.
    pub fn renew_stars(&self, first_charge_id: &str) -> Option<String> {
        let renewed = self.payments(|p| p.renew(first_charge_id));
        let (charge_id, paid) = renewed?;
        self.push_update(paid);
        Some(charge_id)
    }

    /// Telegram's payments state, under the fake's one lock.
    fn payments<R>(&self, act: impl FnOnce(&mut crate::payments::Payments) -> R) -> R {
        act(&mut self.state.shared.lock().unwrap().telegram.payments)
    }

    /// Every Stars charge Telegram made, in order.
    pub fn star_charges(&self) -> Vec<crate::payments::StarCharge> {
        self.payments(|p| p.charges.clone())
    }

    /// A user writes `text` to the bot in their private chat.
    pub fn user_writes(&self, user_id: i64, text: &str) -> i64 {
        let mut message = json!({
            "message_id": fastish_id(), "date": unix_ms() / 1000,
            "chat": {"id": user_id, "type": "private", "first_name": "Buyer"},
            "from": {"id": user_id, "is_bot": false, "first_name": "Buyer"},
            "text": text,
        });
        if text.starts_with('/') {
            let length = text.split_whitespace().next().map_or(0, str::len);
            message["entities"] = json!([{"type": "bot_command", "offset": 0, "length": length}]);
        }
        self.push_update(json!({ "message": message }))
    }

    /// A user presses an inline button carrying `data` under a bot message in their chat.
    pub fn user_presses(&self, user_id: i64, data: &str) -> i64 {
        self.push_update(json!({
            "callback_query": {
                "id": format!("cb{}", fastish_id()),
                "from": {"id": user_id, "is_bot": false, "first_name": "Buyer"},
                "chat_instance": "fake",
                "data": data,
                "message": {
                    "message_id": 1, "date": unix_ms() / 1000,
                    "chat": {"id": user_id, "type": "private", "first_name": "Buyer"},
                    "text": "menu"
                }
            }
        }))
    }

    /// The bot's own rights in `chat_id` changed (an owner demoted or removed it).
    pub fn bot_status_changes(&self, chat_id: i64, status: &str, can_manage: bool) -> i64 {
        self.push_update(json!({
            "my_chat_member": {
                "chat": {"id": chat_id, "type": "channel", "title": "Private channel"},
                "from": {"id": 1000, "is_bot": false, "first_name": "Owner"},
                "date": unix_ms() / 1000,
                "old_chat_member": {"user": telegram_bot_user(), "status": "administrator",
                    "can_invite_users": true, "can_restrict_members": true},
                "new_chat_member": {"user": telegram_bot_user(), "status": status,
                    "can_invite_users": can_manage, "can_restrict_members": can_manage}
            }
        }))
    }

    /// Every update queued so far and how its delivery went.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.outbox.lock().unwrap().deliveries.clone()
    }

    /// What `setWebhook` set, if anything.
    pub fn webhook(&self) -> Option<Webhook> {
        self.state.outbox.lock().unwrap().webhook.clone()
    }

    /// Waits until update `update_id` was taken by the webhook (a 2xx).
    pub async fn wait_delivered(&self, update_id: i64, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let delivered = self
                .deliveries()
                .iter()
                .any(|d| d.update_id == update_id && d.delivered);
            if delivered {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Join requests waiting for a decision.
    pub fn pending_requests(&self) -> Vec<PendingRequest> {
        self.state
            .shared
            .lock()
            .unwrap()
            .telegram
            .pending_requests
            .clone()
    }

    /// Every approval or decline, in order.
    pub fn join_decisions(&self) -> Vec<JoinDecision> {
        self.state.shared.lock().unwrap().telegram.decisions.clone()
    }

    /// The buttons of the last delivered message to `chat_id` that had some: each as
    /// (text, callback data or URL).
    pub fn last_buttons(&self, chat_id: i64) -> Vec<(String, String)> {
        // Read under the lock, newest first, copying nothing else: hundreds of buyers
        // may look at once.
        let shared = self.state.shared.lock().unwrap();
        shared
            .calls
            .iter()
            .rev()
            .filter(|c| c.method == "sendMessage" && c.delivered)
            .filter(|c| c.chat_id() == Some(chat_id))
            .map(|c| buttons_of(&c.params))
            .find(|buttons| !buttons.is_empty())
            .unwrap_or_default()
    }

    /// Makes `user_id` a member of `chat_id` (joined some other way).
    pub fn add_member(&self, chat_id: i64, user_id: i64) {
        self.state
            .shared
            .lock()
            .unwrap()
            .telegram
            .add_member(chat_id, user_id);
    }

    /// The channel's owner bans `user_id` by hand: out, and no link admits them until
    /// the ban is lifted (`unbanChatMember`).
    pub fn ban(&self, chat_id: i64, user_id: i64) {
        self.state
            .shared
            .lock()
            .unwrap()
            .telegram
            .ban(chat_id, user_id);
    }

    pub fn is_banned(&self, chat_id: i64, user_id: i64) -> bool {
        self.state
            .shared
            .lock()
            .unwrap()
            .telegram
            .is_banned(chat_id, user_id)
    }

    pub fn is_member(&self, chat_id: i64, user_id: i64) -> bool {
        self.state
            .shared
            .lock()
            .unwrap()
            .telegram
            .is_member(chat_id, user_id)
    }

    /// Every join through a link, in order.
    pub fn joins(&self) -> Vec<Join> {
        self.state.shared.lock().unwrap().telegram.joins.clone()
    }

    /// Makes `user_id` an administrator of `chat_id`: `unbanChatMember` is refused.
    /// The bot's own standing in `chat_id` (elsewhere an administrator with both rights).
    pub fn set_bot_standing(&self, chat_id: i64, standing: crate::telegram::BotStanding) {
        let mut shared = self.state.shared.lock().unwrap();
        shared.telegram.bot_standing.insert(chat_id, standing);
    }

    pub fn add_admin(&self, chat_id: i64, user_id: i64) {
        let mut shared = self.state.shared.lock().unwrap();
        shared.telegram.add_admin(chat_id, user_id);
    }

    /// Links that still admit at `now` (Unix seconds): not revoked, not expired.
    pub fn open_links(&self, now: i64) -> Vec<OpenLink> {
        self.state.shared.lock().unwrap().telegram.open_links(now)
    }

    /// Every delivered `unbanChatMember`, in order.
    pub fn removals(&self) -> Vec<Removal> {
        self.state.shared.lock().unwrap().telegram.removals.clone()
    }

    /// From now on, messages beyond Telegram's pace (30/s overall, 1/s per chat) get
    /// 429 with `retry_after`, as from Telegram.
    pub fn enforce_pace(&self) {
        *self.state.pace.lock().unwrap() = Some(Pace::default());
    }

    /// Messages refused for pace so far.
    pub fn paced_refusals(&self) -> u64 {
        let pace = self.state.pace.lock().unwrap();
        pace.as_ref().map_or(0, |pace| pace.refused)
    }

    /// Waits until `count` calls of `method` were received (delivered or not).
    pub async fn wait_for_calls(&self, method: &str, count: usize, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let seen = self.calls().iter().filter(|c| c.method == method).count();
            if seen >= count {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
