//! The bot's clocks: how long a worker holds an update and keeps its record, how long a
//! Bot API call may take, and how a join request waits for its payment.
//!
//! Tests: through the front door and the re-check (`functions/bot-webhook/src/tests/`).

use std::time::Duration;

use chrono::TimeDelta;

use crate::telegram::TelegramError;

/// How long a worker holds an update (longer than the function's timeout).
pub const UPDATE_LEASE: TimeDelta = TimeDelta::seconds(60);
/// How long an update's record is kept: Telegram stops redelivering long before.
pub const KEEP_RECORDS: TimeDelta = TimeDelta::hours(48);

/// How long a request from a buyer with a purchase in progress waits for its grant.
pub const WAIT_FOR_GRANT: TimeDelta = TimeDelta::minutes(4);
/// How often it is looked at again meanwhile.
pub const RECHECK_EVERY: Duration = Duration::from_secs(30);
/// A Bot API call of the bot gets this long: three fit in its answer bound.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// One Bot API call, cut off after `timeout` (then transient: the update is redelivered).
pub async fn bounded<T>(
    timeout: Duration,
    call: impl std::future::Future<Output = Result<T, TelegramError>>,
) -> Result<T, TelegramError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or_else(|_| {
            Err(TelegramError::Transient(
                "the Bot API call timed out".into(),
            ))
        })
}

/// The bot's clocks: how long a worker holds an update, and how a join request waits
/// for its payment. The defaults are production's; the chaos run scales them down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BotTiming {
    pub update_lease: TimeDelta,
    /// Cap on one Bot API call (teloxide alone would sleep 10 s on a 5xx).
    pub call_timeout: Duration,
    pub recheck_every: Duration,
    pub wait_for_grant: TimeDelta,
}

impl Default for BotTiming {
    fn default() -> Self {
        Self {
            update_lease: UPDATE_LEASE,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            recheck_every: RECHECK_EVERY,
            wait_for_grant: WAIT_FOR_GRANT,
        }
    }
}
