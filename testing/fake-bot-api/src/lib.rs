//! A fake Telegram Bot API server for tests and the local run.
//!
//! Serves `POST /bot<token>/<method>` for `getMe`, `createChatInviteLink`,
//! `revokeChatInviteLink`, `getChatMember`, `unbanChatMember` and `sendMessage` with Bot
//! API-shaped JSON,
//! records every call, and answers with injected faults (429 + retry_after, 500, delays,
//! hangs, 403, 400) for chosen methods and chats. A wrong token gets 401, as from Telegram.
//!
//! It keeps Telegram's state, not a switch: the links it created (their `member_limit`,
//! `expire_date` and revocation) and each chat's members. A simulated user joins through
//! a link with [`FakeBotApi::join`], which enforces all three as Telegram does, and
//! `getChatMember` answers from that state; `unbanChatMember` removes a member (and
//! refuses an administrator, as Telegram does).
//!
//! With [`FakeBotApi::enforce_pace`], it also keeps Telegram's pace for messages: about
//! 30 per second overall and one per second per chat, answering 429 with `retry_after`
//! beyond it, in real seconds.

mod control;
mod telegram;
mod updates;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use telegram::Telegram;
pub use telegram::{Join, JoinDecision, JoinOutcome, OpenLink, PendingRequest, Removal};
use updates::Outbox;
pub use updates::{Delivery, Webhook};

/// One call as the fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: String,
    pub params: Value,
    /// Whether Telegram would have acted on it (false for faults and hung calls).
    pub delivered: bool,
    /// What Telegram's action produced (the link, the message), for delivered calls.
    pub result: Option<Value>,
    /// When it arrived, Unix milliseconds.
    pub at_ms: i64,
}

impl Call {
    pub fn chat_id(&self) -> Option<i64> {
        chat_id(&self.params)
    }
    pub fn text(&self) -> Option<&str> {
        self.params["text"].as_str()
    }
    /// The link a delivered `createChatInviteLink` created, or a revoke named.
    pub fn invite_link(&self) -> Option<&str> {
        match self.method.as_str() {
            "createChatInviteLink" => self.result.as_ref()?["invite_link"].as_str(),
            _ => self.params["invite_link"].as_str(),
        }
    }
}

/// Decides a fault for a call no queued [`Fault`] matched: `(method, params)` to the
/// fault, if any. For seeded schedules (the chaos run).
pub type FaultPolicy = Box<dyn Fn(&str, &Value) -> Option<FaultKind> + Send + Sync>;

/// What an injected fault answers.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// 429 Too Many Requests with `parameters.retry_after`.
    RetryAfter(u32),
    /// HTTP 500 with Telegram's error JSON.
    ServerError,
    /// Acts on the call, but answers only after this long.
    Delay(Duration),
    /// Never answers and never acts (a request lost in flight).
    Hang,
    /// Acts on the call, then never answers (a response lost in flight).
    DeliverThenHang,
    /// 403 with this description, e.g. "Forbidden: bot was blocked by the user".
    Forbidden(String),
    /// 400 with this description, e.g. "Bad Request: chat not found".
    BadRequest(String),
}

/// A fault for the next `times` calls of `method` (to `chat_id`, if set).
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub method: String,
    pub chat_id: Option<i64>,
    pub times: usize,
    pub kind: FaultKind,
}

impl Fault {
    pub fn new(method: &str, kind: FaultKind) -> Self {
        Self {
            method: method.to_owned(),
            chat_id: None,
            times: 1,
            kind,
        }
    }
    pub fn times(mut self, times: usize) -> Self {
        self.times = times;
        self
    }
    pub fn for_chat(mut self, chat_id: i64) -> Self {
        self.chat_id = Some(chat_id);
        self
    }
}

#[derive(Debug, Default)]
struct Shared {
    calls: Vec<Call>,
    faults: VecDeque<Fault>,
    telegram: Telegram,
}

struct AppState {
    addr: SocketAddr,
    token: String,
    print_invites: bool,
    shared: Mutex<Shared>,
    policy: Mutex<Option<FaultPolicy>>,
    pace: Mutex<Option<Pace>>,
    outbox: Mutex<Outbox>,
    /// Wakes the delivery loop when an update or a webhook arrives.
    wake: tokio::sync::Notify,
}

/// Telegram's pace for messages, in real time: about 30 per second overall, one per
/// second per chat.
#[derive(Debug, Default)]
struct Pace {
    overall: VecDeque<std::time::Instant>,
    last_per_chat: std::collections::HashMap<i64, std::time::Instant>,
    refused: u64,
}

const MESSAGES_PER_SECOND: usize = 30;
const PACE_WINDOW: Duration = Duration::from_secs(1);

impl Pace {
    /// Whether one more message to `chat` may go now; counts it if so.
    fn admit(&mut self, chat: i64) -> bool {
        let now = std::time::Instant::now();
        while self
            .overall
            .front()
            .is_some_and(|t| now.duration_since(*t) >= PACE_WINDOW)
        {
            self.overall.pop_front();
        }
        let chat_busy = self
            .last_per_chat
            .get(&chat)
            .is_some_and(|t| now.duration_since(*t) < PACE_WINDOW);
        if self.overall.len() >= MESSAGES_PER_SECOND || chat_busy {
            self.refused += 1;
            return false;
        }
        self.overall.push_back(now);
        self.last_per_chat.insert(chat, now);
        true
    }
}

/// What a test or the control routes act through: the fake's state (a running
/// [`FakeBotApi`] derefs to it).
#[derive(Clone)]
pub struct FakeBotApiHandle {
    state: Arc<AppState>,
}

/// A running fake. Dropping it stops the server.
pub struct FakeBotApi {
    handle: FakeBotApiHandle,
    server: tokio::task::JoinHandle<()>,
    deliverer: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for FakeBotApi {
    type Target = FakeBotApiHandle;
    fn deref(&self) -> &FakeBotApiHandle {
        &self.handle
    }
}

impl Drop for FakeBotApi {
    fn drop(&mut self) {
        self.server.abort();
        self.deliverer.abort();
    }
}

const HANG: Duration = Duration::from_secs(3600);

impl FakeBotApi {
    /// Starts on a free loopback port.
    pub async fn start(token: &str) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), token, false)
            .await
            .expect("bind a loopback port")
    }

    /// Starts on `addr`; with `print_invites`, every delivered sendMessage is printed.
    pub async fn start_on(
        addr: SocketAddr,
        token: &str,
        print_invites: bool,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState {
            addr,
            token: token.to_owned(),
            print_invites,
            shared: Mutex::new(Shared::default()),
            policy: Mutex::new(None),
            pace: Mutex::new(None),
            outbox: Mutex::new(Outbox::default()),
            wake: tokio::sync::Notify::new(),
        });
        let app = Router::new()
            .route("/{bot}/{method}", post(handle))
            .merge(control::routes())
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        let deliverer = tokio::spawn(deliver_updates(state.clone()));
        Ok(Self {
            handle: FakeBotApiHandle { state },
            server,
            deliverer,
        })
    }
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
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.delivered)
            .collect()
    }

    /// A user clicks `link` at `now` (Unix seconds): Telegram admits them if the link is
    /// known, not revoked, not expired and not used up, and counts the use. Through a
    /// link that creates join requests, the user waits instead, and the bot gets a
    /// `chat_join_request` update (once per pending request).
    pub fn join(&self, link: &str, user_id: i64, now: i64) -> JoinOutcome {
        let (outcome, request) = {
            let mut shared = self.state.shared.lock().unwrap();
            let after_calls = shared.calls.len();
            let pending_before = shared.telegram.pending_requests.len();
            let outcome = shared.telegram.join(link, user_id, now, after_calls);
            let request = (shared.telegram.pending_requests.len() > pending_before)
                .then(|| shared.telegram.pending_requests.last().cloned())
                .flatten();
            (outcome, request)
        };
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
        self.delivered("sendMessage")
            .iter()
            .rev()
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

pub(crate) fn chat_id(params: &Value) -> Option<i64> {
    match &params["chat_id"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn telegram_error(status: StatusCode, description: &str, retry_after: Option<u32>) -> Response {
    let mut body = json!({"ok": false, "error_code": status.as_u16(), "description": description});
    if let Some(seconds) = retry_after {
        body["parameters"] = json!({"retry_after": seconds});
    }
    (status, axum::Json(body)).into_response()
}

async fn handle(
    State(state): State<Arc<AppState>>,
    Path((bot, method)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    if bot != format!("bot{}", state.token) {
        return telegram_error(StatusCode::UNAUTHORIZED, "Unauthorized", None);
    }
    // Bot API method names are case-insensitive (teloxide sends "SendMessage").
    let method = canonical_method(&method);
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // teloxide sends some methods (setWebhook) as multipart forms.
    let params: Value = match multipart_boundary(content_type) {
        Some(boundary) => form_fields(&body, &boundary),
        None => serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let paced = method == "sendMessage"
        && state
            .pace
            .lock()
            .unwrap()
            .as_mut()
            .is_some_and(|pace| !pace.admit(chat_id(&params).unwrap_or_default()));
    let refusal = state
        .shared
        .lock()
        .unwrap()
        .telegram
        .refusal(&method, &params);
    let fault = if paced {
        Some(FaultKind::RetryAfter(1))
    } else if let Some(text) = refusal {
        Some(FaultKind::BadRequest(text))
    } else {
        take_fault(&state, &method, chat_id(&params)).or_else(|| {
            let policy = state.policy.lock().unwrap();
            policy.as_ref().and_then(|decide| decide(&method, &params))
        })
    };
    let delivered = matches!(
        fault,
        None | Some(FaultKind::Delay(_)) | Some(FaultKind::DeliverThenHang)
    );
    let webhook_method = matches!(
        method.as_str(),
        "setWebhook" | "deleteWebhook" | "getWebhookInfo"
    );
    if webhook_method && fault.is_none() {
        let result = state.outbox.lock().unwrap().act(&method, &params);
        state.wake.notify_one();
        state.shared.lock().unwrap().calls.push(Call {
            method: method.clone(),
            params: params.clone(),
            delivered: true,
            result: result.clone(),
            at_ms: unix_ms(),
        });
        return match result {
            Some(result) => axum::Json(json!({"ok": true, "result": result})).into_response(),
            None => telegram_error(StatusCode::NOT_FOUND, "Not Found", None),
        };
    }
    let result = {
        let mut shared = state.shared.lock().unwrap();
        shared.telegram.calls_seen = shared.calls.len();
        let result = delivered.then(|| shared.telegram.act(&method, &params));
        shared.calls.push(Call {
            method: method.clone(),
            params: params.clone(),
            delivered,
            result: result.clone().flatten(),
            at_ms: unix_ms(),
        });
        result
    };
    if let (true, Some(Some(_)), "sendMessage") = (state.print_invites, &result, method.as_str()) {
        let buttons: String = buttons_of(&params)
            .iter()
            .map(|(text, target)| format!("  [{text}] -> {target}\n"))
            .collect();
        println!(
            "[fake Telegram] message to user {}:\n{}\n{buttons}",
            chat_id(&params).unwrap_or_default(),
            params["text"].as_str().unwrap_or_default()
        );
    }
    if let (true, Some(Some(_)), "approveChatJoinRequest" | "declineChatJoinRequest") =
        (state.print_invites, &result, method.as_str())
    {
        let verb = if method == "approveChatJoinRequest" {
            "approved"
        } else {
            "declined"
        };
        println!(
            "[fake Telegram] join request of user {} to chat {} {verb}\n",
            params["user_id"],
            chat_id(&params).unwrap_or_default(),
        );
    }
    if let (true, Some(Some(_)), "unbanChatMember") =
        (state.print_invites, &result, method.as_str())
    {
        println!(
            "[fake Telegram] removed user {} from chat {} (they may rejoin with a new link)\n",
            params["user_id"],
            chat_id(&params).unwrap_or_default(),
        );
    }
    match fault {
        Some(FaultKind::RetryAfter(seconds)) => {
            let text = format!("Too Many Requests: retry after {seconds}");
            return telegram_error(StatusCode::TOO_MANY_REQUESTS, &text, Some(seconds));
        }
        Some(FaultKind::ServerError) => {
            return telegram_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                None,
            );
        }
        Some(FaultKind::Forbidden(text)) => {
            return telegram_error(StatusCode::FORBIDDEN, &text, None);
        }
        Some(FaultKind::BadRequest(text)) => {
            return telegram_error(StatusCode::BAD_REQUEST, &text, None);
        }
        Some(FaultKind::Hang) | Some(FaultKind::DeliverThenHang) => tokio::time::sleep(HANG).await,
        Some(FaultKind::Delay(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }
    match result.flatten() {
        Some(result) => axum::Json(json!({"ok": true, "result": result})).into_response(),
        None => telegram_error(StatusCode::NOT_FOUND, "Not Found", None),
    }
}

const METHODS: [&str; 13] = [
    "getMe",
    "createChatInviteLink",
    "revokeChatInviteLink",
    "getChatMember",
    "unbanChatMember",
    "sendMessage",
    "answerCallbackQuery",
    "approveChatJoinRequest",
    "declineChatJoinRequest",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "getUpdates",
];

fn telegram_bot_user() -> Value {
    json!({"id": 1, "is_bot": true, "first_name": "TelePay Fake", "username": "telepay_fake_bot"})
}

fn fastish_id() -> i64 {
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Delivers queued updates to the webhook as Telegram does: several at once (up to the
/// webhook's `max_connections`, 40 by default) but one at a time per chat, in order;
/// every non-2xx answer retried after a growing pause (per chat).
async fn deliver_updates(state: Arc<AppState>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    loop {
        let next = state.outbox.lock().unwrap().take_next();
        let Some((update, webhook, chat, failures)) = next else {
            tokio::select! {
                () = state.wake.notified() => {}
                _ = done_rx.recv() => {}
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
            continue;
        };
        let (state, client, done) = (state.clone(), client.clone(), done_tx.clone());
        tokio::spawn(async move {
            if failures > 0 {
                tokio::time::sleep(updates::backoff(failures - 1)).await;
            }
            let mut request = client
                .post(&webhook.url)
                .header("content-type", "application/json")
                .body(update.to_string());
            if let Some(secret) = &webhook.secret_token {
                request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
            }
            let (status, error) = match request.send().await {
                Ok(response) => (response.status().as_u16(), None),
                Err(e) => (0, Some(format!("Connection failed: {}", e.without_url()))),
            };
            state
                .outbox
                .lock()
                .unwrap()
                .attempted(update, chat, status, error);
            let _ = done.send(());
        });
    }
}

fn canonical_method(method: &str) -> String {
    METHODS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(method))
        .map_or_else(|| method.to_owned(), |known| (*known).to_owned())
}

fn take_fault(state: &AppState, method: &str, chat: Option<i64>) -> Option<FaultKind> {
    let mut shared = state.shared.lock().unwrap();
    let index = shared
        .faults
        .iter()
        .position(|f| f.method == method && f.chat_id.is_none_or(|id| Some(id) == chat))?;
    let fault = &mut shared.faults[index];
    let kind = fault.kind.clone();
    fault.times -= 1;
    if fault.times == 0 {
        shared.faults.remove(index);
    }
    Some(kind)
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

fn multipart_boundary(content_type: &str) -> Option<String> {
    let rest = content_type.strip_prefix("multipart/form-data")?;
    rest.split(';')
        .find_map(|part| part.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
}

/// A multipart form's text fields as a JSON object; a field that is JSON (an array, an
/// object, a number) is kept as that JSON, as the Bot API reads it.
fn form_fields(body: &[u8], boundary: &str) -> Value {
    let text = String::from_utf8_lossy(body);
    let mut fields = serde_json::Map::new();
    for part in text.split(&format!("--{boundary}")) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let Some(name) = head
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))
            .map(|n| {
                n.split(['\r', '\n'])
                    .next()
                    .unwrap_or(n)
                    .trim_matches('"')
                    .to_owned()
            })
        else {
            continue;
        };
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let parsed = match serde_json::from_str::<Value>(value) {
            Ok(json @ (Value::Array(_) | Value::Object(_) | Value::Number(_) | Value::Bool(_))) => {
                json
            }
            _ => Value::String(value.to_owned()),
        };
        fields.insert(name, parsed);
    }
    Value::Object(fields)
}

/// The inline buttons of a sendMessage's parameters, each as (text, callback data or
/// URL). teloxide sends `reply_markup` as an object, a form as a JSON string.
pub(crate) fn buttons_of(params: &Value) -> Vec<(String, String)> {
    let markup = match params.get("reply_markup") {
        Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
        Some(other) => other.clone(),
        None => Value::Null,
    };
    markup["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .map(|button| {
            let target = button["callback_data"]
                .as_str()
                .or_else(|| button["url"].as_str())
                .unwrap_or_default();
            let text = button["text"].as_str().unwrap_or_default();
            (text.to_owned(), target.to_owned())
        })
        .collect()
}
