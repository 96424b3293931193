//! /status: the buyer's subscriptions, and their invite again when they are not in
//! the channel (once per buyer and channel in a window, through the operator's re-issue);
//! then each of their payments held for a person, with why.
//!
//! Tests: `functions/bot-webhook/src/tests/status.rs`.

use chrono::{DateTime, TimeDelta, Utc};
use tracing::{info, warn};

use super::outcome::BotError;
use super::{BotFrontDoor, FrontDoorStore};
use crate::access::LedgerError;
use crate::access::ledger::{Step, change};
use crate::bot::invoice::InvoiceApi;
use crate::bot::menu::channel_title;
use crate::bot::texts::{fill, format_time};
use crate::bot::timing::bounded;
use crate::bot::update::PrivateMessage;
use crate::directory::{ChannelDirectory, ChannelEntry};
use crate::held::buyer_message;
use crate::ipn::PaymentId;
use crate::metrics::{self, signal};
use crate::operator::{LinkRevoker, Operator, OperatorError};
use crate::order::{ChannelId, UserId};
use crate::queue::{DelayedQueue, MessageQueue};
use crate::store::{OnceFound, OnceKey, StoreError};
use crate::subscription::{GrantSource, MAX_REISSUES_PER_PERIOD, Subscription, SubscriptionKey};
use crate::telegram::{BotConversation, MemberRemover, StarsPayments, TelegramInviter};

/// A link /status sends must admit for at least this long yet.
const LINK_STILL_GOOD_FOR: TimeDelta = TimeDelta::minutes(10);
/// At most this many held payments are shown by one /status.
const HELD_SHOWN: usize = 5;
/// One re-issued invite per buyer and channel in this window.
const REINVITE_WINDOW_SECONDS: i64 = 600;

impl<S, T, I, Q, V> BotFrontDoor<S, T, I, Q, V>
where
    S: FrontDoorStore,
    T: BotConversation + TelegramInviter + MemberRemover + StarsPayments,
    I: InvoiceApi,
    Q: DelayedQueue,
    V: MessageQueue,
{
    pub(super) async fn on_status(&self, message: &PrivateMessage) -> Result<(), BotError> {
        let catalog = self.setup.catalog.now();
        let texts = &catalog.texts;
        let Ok(user) = UserId::new(message.user_id) else {
            return self.say(message.chat_id, &texts.status_none).await;
        };
        let now = self.clock.now();
        let mut lines = Vec::new();
        let mut follow_ups = Vec::new();
        for (entry, subscription) in self.subscriptions_of(user, &catalog.directory).await? {
            let status = subscription.status(now, &self.setup.settings);
            let title = channel_title(entry);
            lines.push(fill(
                &texts.status_line,
                &[
                    ("channel", &title),
                    ("status", status.as_str()),
                    ("expires_at", &format_time(subscription.expires_at)),
                    ("paid_with", &paid_with(&subscription)),
                ],
            ));
            if subscription.is_active(now, &self.setup.settings)
                && !bounded(
                    self.setup.timing.call_timeout,
                    self.telegram
                        .is_member(entry.private_channel_id, message.user_id),
                )
                .await?
            {
                follow_ups.push(self.invite_again(&subscription, &title, now).await?);
            }
        }
        // Payments held for a person: the buyer sees each again, with why.
        let holds = self.store.undecided_holds_of(user, HELD_SHOWN).await?;
        // Payments still under way at NOWPayments: paid, not confirmed yet.
        let under_way = self.store.under_way_of(user.get(), HELD_SHOWN).await?;
        if lines.is_empty() && holds.is_empty() && under_way.is_empty() {
            return self.say(message.chat_id, &texts.status_none).await;
        }
        if !lines.is_empty() {
            self.say(message.chat_id, &lines.join("\n")).await?;
        }
        for review in &holds {
            let text = buyer_message(texts, &catalog.directory, review);
            self.say(message.chat_id, &text).await?;
        }
        for watch in &under_way {
            let channel = ChannelId::new(watch.channel_id)
                .ok()
                .and_then(|id| catalog.directory.channel(id))
                .map_or_else(|| "the channel".to_owned(), channel_title);
            let text = fill(
                &texts.status_under_way,
                &[
                    ("payment_id", &watch.payment_id.to_string()),
                    ("channel", &channel),
                    ("status", &watch.last_status),
                ],
            );
            self.say(message.chat_id, &text).await?;
        }
        for text in follow_ups {
            self.say(message.chat_id, &text).await?;
        }
        Ok(())
    }

    /// The buyer's subscription in each private channel `directory` sells (once per
    /// private channel, under its first entry), for /status and /cancel.
    pub(super) async fn subscriptions_of<'d>(
        &self,
        user: UserId,
        directory: &'d ChannelDirectory,
    ) -> Result<Vec<(&'d ChannelEntry, Subscription)>, BotError> {
        let mut found = Vec::new();
        let mut seen = Vec::new();
        for entry in directory.channels() {
            if seen.contains(&entry.private_channel_id) {
                continue;
            }
            seen.push(entry.private_channel_id);
            let key = SubscriptionKey::new(user, entry.private_channel_id);
            if let Some(subscription) = self.store.get_subscription(key).await? {
                found.push((entry, subscription));
            }
        }
        Ok(found)
    }

    /// An active buyer who is not in the channel: the subscription's live link while it
    /// admits, else one re-issued invite (per 10 minutes, at most
    /// [`MAX_REISSUES_PER_PERIOD`] per paid period, counted by the subscription's own
    /// versioned write) through the invite sender, which sends the live link or replaces
    /// it: never a second link.
    pub(super) async fn invite_again(
        &self,
        subscription: &Subscription,
        title: &str,
        now: DateTime<Utc>,
    ) -> Result<String, BotError> {
        let catalog = self.setup.catalog.now();
        let texts = &catalog.texts;
        if let Some(link) = subscription.sendable_link(&self.setup.settings, |link| {
            link.expires_at > now + LINK_STILL_GOOD_FOR
        }) {
            return Ok(fill(
                &texts.status_link,
                &[("channel", title), ("link", &link.url)],
            ));
        }
        let payment = subscription
            .live_link
            .as_ref()
            .map(|link| link.made_for)
            .or_else(|| {
                subscription
                    .grants
                    .iter()
                    .rev()
                    .find_map(|grant| match grant.source {
                        GrantSource::Payment(id) => Some(id),
                        GrantSource::Operator(_) => None,
                    })
            })
            .and_then(|id| PaymentId::new(id).ok());
        let key = OnceKey::Reinvite {
            user_id: subscription.key.user_id.get(),
            channel_id: subscription.key.channel_id,
            window: now.timestamp().div_euclid(REINVITE_WINDOW_SECONDS),
        };
        let Some(payment) = payment else {
            // Time given by an operator only: nothing to re-issue, so the lifecycle's
            // invite is asked for (it sends a fresh link, or nothing if they are in).
            let settings = &self.setup.settings;
            let asked = change(&self.store, subscription.key, |stored| {
                let Some(marked) = stored.and_then(|current| current.invite_now(now, settings))
                else {
                    // Already asked for: nothing new, nothing counted.
                    return Step::Keep(true);
                };
                match marked.with_reissue_counted() {
                    Some(next) => Step::Write(Box::new(next), true),
                    None => Step::Keep(false),
                }
            })
            .await
            .map_err(ledger_error)?;
            if !asked {
                return Ok(self.reissues_used_up(title));
            }
            info!("invite asked of the lifecycle for /status");
            return Ok(fill(&texts.status_link_coming, &[("channel", title)]));
        };
        let claim = self.once_claim(now, TimeDelta::seconds(REINVITE_WINDOW_SECONDS));
        let token = &claim.token;
        if let OnceFound::Claimed = self.store.claim_once(key, &claim).await? {
            let settings = &self.setup.settings;
            let counted = change(&self.store, subscription.key, |stored| {
                match stored.and_then(|current| current.count_reissue(now, settings)) {
                    Some(next) => Step::Write(Box::new(next), true),
                    None => Step::Keep(false),
                }
            })
            .await;
            let counted = match counted {
                Ok(counted) => counted,
                Err(err) => {
                    let _ = self.store.release_once(key, token).await;
                    return Err(ledger_error(err));
                }
            };
            if !counted {
                let _ = self.store.finish_once(key, token, None, now).await?;
                return Ok(self.reissues_used_up(title));
            }
            let operator = Operator::new(&self.store, self.clock.clone());
            let bot = LinkRevoker {
                telegram: Some(&self.telegram),
                directory: Some(&catalog.directory),
            };
            match operator.reissue(payment, bot, &self.invites).await {
                Ok(_) | Err(OperatorError::RevokeFailed { .. }) => {}
                Err(e) => {
                    let _ = self.store.release_once(key, token).await;
                    return Err(e.into());
                }
            }
            // A lapsed lease means another worker finishes it: either way it is noted.
            let _ = self.store.finish_once(key, token, None, now).await?;
            info!(%payment, "invite re-issued for /status");
        }
        Ok(fill(&texts.status_link_coming, &[("channel", title)]))
    }

    /// The answer once this paid period's re-issues are used up: counted, for the owner.
    fn reissues_used_up(&self, title: &str) -> String {
        warn!(
            cap = MAX_REISSUES_PER_PERIOD,
            "/status asked for another new invite past the period's cap; none sent"
        );
        metrics::count(signal::STATUS_REISSUE_CAPPED);
        let catalog = self.setup.catalog.now();
        fill(&catalog.texts.status_reissue_limit, &[("channel", title)])
    }
}

/// Which rails paid the time a subscription holds: "crypto", "Telegram Stars", both.
fn paid_with(subscription: &Subscription) -> String {
    let (mut crypto, mut stars) = (0, 0);
    for grant in subscription
        .grants
        .iter()
        .filter(|g| g.refunded_at.is_none())
    {
        if let GrantSource::Payment(id) = grant.source {
            match PaymentId::new(id) {
                Ok(id) if crate::stars::is_stars_payment(id) => stars += 1,
                _ => crypto += 1,
            }
        }
    }
    let count = |n: usize, rail: &str| match n {
        1 => rail.to_owned(),
        n => format!("{n}× {rail}"),
    };
    match (crypto, stars) {
        (0, 0) => "a grant".into(),
        (c, 0) => count(c, "crypto"),
        (0, s) => count(s, "Telegram Stars"),
        (c, s) => format!("{} and {}", count(c, "crypto"), count(s, "Telegram Stars")),
    }
}

pub(super) fn ledger_error(err: LedgerError) -> BotError {
    match err {
        LedgerError::Store(err) => BotError::from(err),
        contended => BotError::from(StoreError::Unavailable(contended.to_string())),
    }
}
