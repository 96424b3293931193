//! One Bot API call, cut off before the lease could lapse under it, and the store write
//! after a call, retried in place while the invocation has time left.
//!
//! Tests: `functions/invite-sender/src/tests/call.rs`.

use chrono::{DateTime, TimeDelta, Utc};

use super::InviteSender;
use crate::store::after_call::retry_write_after_call;
use crate::store::{InviteStore, StoreError, SubscriptionStore};
use crate::telegram::{TelegramError, TelegramInviter};

impl<S: InviteStore + SubscriptionStore, T: TelegramInviter> InviteSender<S, T> {
    /// A write after a Bot API call ([`retry_write_after_call`]), retried in place while
    /// the invocation has time left.
    pub(super) async fn write_after_call<R, F>(
        &self,
        lease_until: DateTime<Utc>,
        what: &'static str,
        write: impl FnMut() -> F,
    ) -> Result<R, StoreError>
    where
        F: Future<Output = Result<R, StoreError>>,
    {
        // Never past the invocation's deadline (the lease outlives it by the grace).
        let give_up_at = lease_until - self.settings.lease_grace - TimeDelta::seconds(1);
        retry_write_after_call(&*self.clock, give_up_at, what, |_| true, write).await
    }

    /// One Bot API call, cut off before the lease could lapse under it.
    pub(super) async fn call<R>(
        &self,
        lease_until: DateTime<Utc>,
        call: impl Future<Output = Result<R, TelegramError>>,
    ) -> Result<R, TelegramError> {
        let safety = TimeDelta::seconds(1);
        let lease_left = (lease_until - self.clock.now() - safety)
            .to_std()
            .unwrap_or_default();
        let budget = self.settings.call_timeout.min(lease_left);
        if budget.is_zero() {
            return Err(TelegramError::Transient(
                "no lease time left for the call".into(),
            ));
        }
        tokio::time::timeout(budget, call)
            .await
            .unwrap_or_else(|_| {
                Err(TelegramError::Transient(format!(
                    "no answer within {budget:?}"
                )))
            })
    }
}
