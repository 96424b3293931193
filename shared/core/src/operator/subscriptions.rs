//! The operator's subscription workflows: show, list, extend (an operator grant, in the
//! fold like a payment), and end (the time bought so far stops now: removal now, and the
//! retry of a `removal_failed`). Each change is a versioned write, recorded with the
//! operator's reason in the subscription's history.
//!
//! Tests: `super::tests`, `cli/tests/operator.rs`.

use chrono::TimeDelta;
use tracing::info;

use super::{Operator, OperatorError};
use crate::access::LifecycleMessage;
use crate::access::ledger::{Step, change};
use crate::queue::TaskQueue;
use crate::store::{ListedSubscription, SubscriptionFilter, SubscriptionStore};
use crate::subscription::{
    AccessDuration, GrantSource, LifecycleSettings, Subscription, SubscriptionKey, Task, TimeGrant,
    check_reason,
};

impl<S: SubscriptionStore> Operator<'_, S> {
    pub async fn subscription(&self, key: SubscriptionKey) -> Result<Subscription, OperatorError> {
        self.store
            .get_subscription(key)
            .await?
            .ok_or(OperatorError::SubscriptionNotFound(key))
    }

    pub async fn subscriptions(
        &self,
        filter: SubscriptionFilter,
        limit: usize,
    ) -> Result<Vec<ListedSubscription>, OperatorError> {
        Ok(self.store.list_subscriptions(filter, limit).await?)
    }

    /// Adds `days` of access from now (or from the current end, if later), as a payment
    /// would; creates the subscription if the buyer has none. The buyer is marked for
    /// the lifecycle's invite (nothing is sent if they are in).
    pub async fn extend(
        &self,
        key: SubscriptionKey,
        days: u32,
        reason: &str,
        settings: &LifecycleSettings,
    ) -> Result<Subscription, OperatorError> {
        let access = AccessDuration::from_days(days).map_err(|_| OperatorError::BadLength(days))?;
        check_reason(reason)?;
        let now = self.clock.now();
        let grant = TimeGrant::new(
            GrantSource::Operator(uuid::Uuid::new_v4().to_string()),
            now,
            access,
        );
        let extended = change(self.store, key, |stored| {
            let next = match stored {
                None => Subscription::first(key, grant.clone(), now, settings),
                Some(current) => match current.grant(grant.clone(), now, settings) {
                    Ok(next) => next,
                    // A fresh id is never granted twice.
                    Err(_) => return Step::Keep(None),
                },
            };
            let mut next = next.with_reason(reason);
            // The buyer may be out (removed, or never joined: a comp): the lifecycle
            // invites them, or finds them in and sends nothing.
            if next.is_active(now, settings) {
                next.mark_needs_invite(now);
            }
            Step::Write(Box::new(next.clone()), Some(next))
        })
        .await
        .map_err(ledger)?;
        let extended = extended.ok_or(OperatorError::SubscriptionNotFound(key))?;
        info!(%key, days, expires_at = %extended.expires_at, "extended by an operator");
        Ok(extended)
    }

    /// Ends the subscription now: the time bought so far stops, the removal is due at once
    /// (a `removal_failed` is retried), and it is queued now rather than at the next sweep.
    pub async fn end<Q: TaskQueue>(
        &self,
        key: SubscriptionKey,
        reason: &str,
        settings: &LifecycleSettings,
        lifecycle_queue: &Q,
    ) -> Result<Subscription, OperatorError> {
        check_reason(reason)?;
        let now = self.clock.now();
        let ended = change(self.store, key, |stored| match stored {
            None => Step::Keep(None),
            Some(current) => {
                let next = current.end_now(reason, now, settings);
                Step::Write(Box::new(next.clone()), Some(next))
            }
        })
        .await
        .map_err(ledger)?
        .ok_or(OperatorError::SubscriptionNotFound(key))?;
        if ended.due_task(now, settings) == Some(Task::Removal) {
            let message = LifecycleMessage::new(key, Task::Removal, ended.expires_at);
            lifecycle_queue.send_task(key, &message.to_json()).await?;
        }
        info!(%key, "ended by an operator");
        Ok(ended)
    }
}

fn ledger(error: crate::access::LedgerError) -> OperatorError {
    match error {
        crate::access::LedgerError::Store(store) => OperatorError::Store(store),
        crate::access::LedgerError::Contended(key) => OperatorError::SubscriptionBusy(key),
    }
}

/// `3d`, `12h`: the CLI's `--expiring-within`.
pub fn within(text: &str) -> Result<TimeDelta, crate::subscription::DurationError> {
    text.parse::<AccessDuration>().map(AccessDuration::as_delta)
}
