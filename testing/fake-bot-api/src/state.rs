//! The fake's state behind its routes: the calls it received, the queued faults and
//! Telegram's own state, the fault policy, the message pace, and the webhook outbox.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::faults::{Call, Fault, FaultKind, FaultPolicy};
use crate::telegram::Telegram;
use crate::updates::Outbox;

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) calls: Vec<Call>,
    pub(crate) faults: VecDeque<Fault>,
    pub(crate) telegram: Telegram,
}

pub(crate) struct AppState {
    pub(crate) addr: SocketAddr,
    pub(crate) token: String,
    pub(crate) print_invites: bool,
    pub(crate) shared: Mutex<Shared>,
    pub(crate) policy: Mutex<Option<FaultPolicy>>,
    pub(crate) pace: Mutex<Option<Pace>>,
    pub(crate) outbox: Mutex<Outbox>,
    /// Wakes the delivery loop when an update or a webhook arrives.
    pub(crate) wake: tokio::sync::Notify,
}

/// Telegram's pace for messages, in real time: about 30 per second overall, one per
/// second per chat.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    pub(crate) overall: VecDeque<std::time::Instant>,
    pub(crate) last_per_chat: std::collections::HashMap<i64, std::time::Instant>,
    pub(crate) refused: u64,
}

pub(crate) const MESSAGES_PER_SECOND: usize = 30;
pub(crate) const PACE_WINDOW: Duration = Duration::from_secs(1);

impl Pace {
    /// Whether one more message to `chat` may go now; counts it if so.
    pub(crate) fn admit(&mut self, chat: i64) -> bool {
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

impl AppState {
    /// The queued fault the next call of `method` (to `chat`) meets, if any, used up once.
    pub(crate) fn take_fault(&self, method: &str, chat: Option<i64>) -> Option<FaultKind> {
        let mut shared = self.shared.lock().unwrap();
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
}
