//! A store write after a Bot API call whose effect would be lost (an orphan link) or
//! repeated (a second message) if the write failed and the whole attempt were retried:
//! a failed write is retried in place a few times first (50 ms, growing 4×), never past
//! `give_up_at`. The invite sender and the lifecycle worker both write this way; their
//! writes are fenced and idempotent under their lease token.
//!
//! Tests: through its callers (`functions/invite-sender/src/tests/protocol.rs`, the
//! lifecycle worker's).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::warn;

use crate::clock::Clock;

/// Runs `write` until it succeeds, fails with an error `retryable` refuses, has been
/// retried 3 times, or the next pause would end past `give_up_at`.
pub async fn retry_write_after_call<R, E, F>(
    clock: &dyn Clock,
    give_up_at: DateTime<Utc>,
    what: &'static str,
    retryable: impl Fn(&E) -> bool,
    mut write: impl FnMut() -> F,
) -> Result<R, E>
where
    E: std::fmt::Display,
    F: Future<Output = Result<R, E>>,
{
    let mut pause = Duration::from_millis(50);
    let mut retries_left = 3;
    loop {
        match write().await {
            Err(err) if retries_left > 0 && retryable(&err) && clock.now() + pause < give_up_at => {
                warn!(error = %err, what, "store write failed after a Bot API call; retrying it");
                retries_left -= 1;
                tokio::time::sleep(pause).await;
                pause *= 4;
            }
            result => return result,
        }
    }
}
