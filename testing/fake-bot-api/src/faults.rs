//! What the fake records of each call, and the faults it answers with: queued for the
//! next calls of a method (and chat), or decided by a seeded policy (the chaos run).

use std::time::Duration;

use serde_json::Value;

use crate::params::chat_id;

/// How long a hung call waits: longer than any caller's timeout.
pub(crate) const HANG: Duration = Duration::from_secs(3600);

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
