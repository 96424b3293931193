//! The lifecycle consumer: one task message (a reminder, a removal, an end notice, an
//! invite for a paid buyer who may be out) at a time, under a fenced lease on the subscription, the same protocol as the invite:
//! 1. claim the subscription for the task (due now, no live lease) with a fresh token;
//! 2. make the one Bot API call (a removal also revokes the subscription's live link);
//! 3. complete under the token, for the expiry the claim decided on. A renewal that
//!    landed in between wins: nothing is recorded for the old expiry, and a crossed
//!    removal marks the subscription `needs_invite`.
//!
//! A send whose outcome is unknown (a crash after it, before step 3) is sent again by
//! the retry: at most one reminder per point per expiry, except for those, counted.
//!
//! Tests: `functions/subscription-lifecycle/src/tests.rs`; under faults, `tests/src/chaos/lifecycle.rs`.

use crate::owner::{OwnerNotice, tell_owner};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use super::ledger::{LedgerError, Step, change};
use crate::catalog::LiveCatalog;
use crate::clock::{SharedClock, system_clock};
use crate::metrics::{self, signal, stage};
use crate::order::UserId;
use crate::queue::{MessageOutcome, parse_message};
use crate::store::SubscriptionStore;
use crate::store::after_call::retry_write_after_call;
use crate::subscription::{
    Completion, LifecycleSettings, LifecycleTexts, LiveLink, Refused, Subscription,
    SubscriptionKey, Task, TaskDone,
};
use crate::telegram::{MemberRemover, TelegramError, TelegramInviter};

pub const LIFECYCLE_MESSAGE_VERSION: u32 = 1;
/// Well inside [`super::settings::DEFAULT_TASK_LEASE`].
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// A fresh link's lifetime for a buyer invited back (never past the paid end).
pub const INVITE_LINK_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// subscription-sweeper → the lifecycle consumer: which subscription, which task, for
/// which expiry (a task for an expiry that has moved is stale and done).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleMessage {
    pub v: u32,
    pub user_id: UserId,
    pub channel_id: i64,
    #[serde(flatten)]
    pub task: Task,
    pub for_expiry: DateTime<Utc>,
}

impl LifecycleMessage {
    pub fn new(key: SubscriptionKey, task: Task, for_expiry: DateTime<Utc>) -> Self {
        Self {
            v: LIFECYCLE_MESSAGE_VERSION,
            user_id: key.user_id,
            channel_id: key.channel_id,
            task,
            for_expiry,
        }
    }

    pub fn key(&self) -> SubscriptionKey {
        SubscriptionKey::new(self.user_id, self.channel_id)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a lifecycle message always serializes")
    }
}

pub struct LifecycleWorker<S, T> {
    pub store: S,
    pub telegram: T,
    /// Channel names, admission and owners (read again as they change).
    pub catalog: LiveCatalog,
    pub settings: LifecycleSettings,
    pub texts: LifecycleTexts,
    /// One Bot API call's limit, well inside the task lease.
    pub call_timeout: Duration,
    pub clock: SharedClock,
}

/// What claiming found.
enum Claim {
    Ours(Box<Subscription>),
    /// Not due any more (renewed, done by another delivery): nothing to do.
    NotDue,
    Leased,
    Missing,
}

/// Why a claimed task stopped before its completion was recorded.
enum Stopped {
    Telegram(TelegramError),
    Ledger(LedgerError),
    LeaseLost,
}

impl<S: SubscriptionStore, T: TelegramInviter + MemberRemover> LifecycleWorker<S, T> {
    pub fn new(
        store: S,
        telegram: T,
        catalog: impl Into<LiveCatalog>,
        settings: LifecycleSettings,
        texts: LifecycleTexts,
    ) -> Self {
        Self {
            store,
            telegram,
            catalog: catalog.into(),
            settings,
            texts,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            clock: system_clock(),
        }
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Handles one lifecycle message body.
    pub async fn handle(&self, body: &str) -> MessageOutcome {
        // A catalog applied since is read here, at most once per refresh period.
        self.catalog.current().await;
        let outcome = self.handle_once(body).await;
        outcome.count_retry(stage::LIFECYCLE);
        outcome
    }

    async fn handle_once(&self, body: &str) -> MessageOutcome {
        let message: LifecycleMessage = match parse_message(body, LIFECYCLE_MESSAGE_VERSION) {
            Ok(message) => message,
            Err(reason) => {
                error!(%reason, "malformed lifecycle message");
                return MessageOutcome::Retry;
            }
        };
        let mut task = message.task;
        // A removal goes on to its end notice in the same invocation.
        loop {
            let outcome = self.run(message.key(), task).await;
            match (task, outcome) {
                (Task::Removal, Ok(Completion::Recorded)) => task = Task::EndNotice,
                (_, Ok(_)) => return MessageOutcome::Done,
                (_, Err(outcome)) => return outcome,
            }
        }
    }

    /// One task: claim, call, complete. `Err` carries what SQS should do with the message.
    async fn run(&self, key: SubscriptionKey, task: Task) -> Result<Completion, MessageOutcome> {
        let token = uuid::Uuid::new_v4().to_string();
        let subscription = match self.claim(key, task, &token).await {
            Ok(Claim::Ours(subscription)) => subscription,
            Ok(Claim::NotDue) => {
                info!(task = task.as_str(), "not due any more; nothing to do");
                metrics::outcome(stage::LIFECYCLE, "not_due");
                return Ok(Completion::ExpiryMoved);
            }
            Ok(Claim::Leased) => return Err(MessageOutcome::Retry),
            Ok(Claim::Missing) => {
                error!(%key, "no subscription for this lifecycle task");
                return Err(MessageOutcome::Retry);
            }
            Err(err) => {
                warn!(error = %err, "could not claim the subscription; will retry");
                return Err(MessageOutcome::Retry);
            }
        };
        match self.perform(&subscription, task, &token).await {
            Ok(completion) => Ok(completion),
            Err(Stopped::LeaseLost) => {
                warn!("lifecycle lease lost to another worker; it finishes the job");
                Err(MessageOutcome::Retry)
            }
            Err(stopped) => {
                // No answer (a timeout, a 5xx): Telegram may have acted. A 429 or a
                // store failure says nothing of the sort.
                let outcome_unknown =
                    matches!(&stopped, Stopped::Telegram(TelegramError::Transient(_)));
                let outcome = match &stopped {
                    Stopped::Telegram(TelegramError::RetryAfter(delay)) => {
                        warn!(?delay, "Telegram rate limit; retrying after its delay");
                        MessageOutcome::RetryAfter(*delay)
                    }
                    Stopped::Telegram(err) => {
                        warn!(error = %err, task = task.as_str(), "Telegram call failed; will retry");
                        MessageOutcome::Retry
                    }
                    Stopped::Ledger(err) => {
                        warn!(error = %err, "store failed mid-task; will retry");
                        MessageOutcome::Retry
                    }
                    Stopped::LeaseLost => MessageOutcome::Retry,
                };
                self.release(key, &token, outcome_unknown).await;
                Err(outcome)
            }
        }
    }

    async fn claim(
        &self,
        key: SubscriptionKey,
        task: Task,
        token: &str,
    ) -> Result<Claim, LedgerError> {
        let now = self.clock.now();
        change(&self.store, key, |stored| match stored {
            None => Step::Keep(Claim::Missing),
            Some(current) => match current.claim(task, token, now, &self.settings) {
                Ok(next) => {
                    let claimed = Box::new(next.clone());
                    Step::Write(Box::new(next), Claim::Ours(claimed))
                }
                Err(Refused::Leased { until }) => {
                    info!(%until, "another worker holds the subscription; retry later");
                    Step::Keep(Claim::Leased)
                }
                Err(_) => Step::Keep(Claim::NotDue),
            },
        })
        .await
    }

    async fn perform(
        &self,
        subscription: &Subscription,
        task: Task,
        token: &str,
    ) -> Result<Completion, Stopped> {
        let key = subscription.key;
        let user = key.user_id.get();
        let channel = self
            .catalog
            .now()
            .directory
            .private_channel_name(key.channel_id);
        let mut revoked = None;
        let done = match task {
            Task::Reminder { before_seconds } => {
                let text = self
                    .texts
                    .reminder(&channel, key.channel_id, subscription.expires_at);
                self.message(user, &text, "reminder").await?;
                info!(before_seconds, "reminder sent");
                TaskDone::ReminderSent
            }
            Task::Removal => match self
                .call(self.telegram.remove_member(key.channel_id, user))
                .await
            {
                Ok(()) => {
                    // The buyer's live link would let them (or whoever holds it) back in.
                    if let Some(live) = &subscription.live_link {
                        match self
                            .call(self.telegram.revoke_invite_link(key.channel_id, &live.url))
                            .await
                        {
                            Ok(()) => revoked = Some(live.url.clone()),
                            Err(err) => {
                                warn!(error = %err, "could not revoke the live link; it expires on its own");
                            }
                        }
                    }
                    TaskDone::Removed
                }
                Err(TelegramError::Misconfigured(reason)) => {
                    error!(%reason, "Telegram refuses this removal for good: removal_failed, an operator must act");
                    TaskDone::RemovalFailed { reason }
                }
                Err(err) => return Err(Stopped::Telegram(err)),
            },
            Task::EndNotice => {
                let text = self
                    .texts
                    .ended(&channel, key.channel_id, subscription.expires_at);
                self.message(user, &text, "end notice").await?;
                TaskDone::NoticeSent
            }
            Task::Invite => {
                if self
                    .call(self.telegram.is_member(key.channel_id, user))
                    .await
                    .map_err(Stopped::Telegram)?
                {
                    info!("marked for an invite, but already in: nothing to send");
                } else {
                    self.invite_back(subscription, token, &channel).await?;
                }
                TaskDone::Invited
            }
        };
        let word = match &done {
            TaskDone::ReminderSent => "reminder_sent",
            TaskDone::Removed => "removed",
            TaskDone::RemovalFailed { .. } => "removal_failed",
            TaskDone::NoticeSent => "end_notice_sent",
            TaskDone::Invited => "invited",
        };
        let failed_removal = match &done {
            TaskDone::RemovalFailed { reason } => Some(reason.clone()),
            _ => None,
        };
        let completion = self.complete(key, token, done, revoked.as_deref()).await?;
        match completion {
            Completion::Recorded => {
                metrics::outcome(stage::LIFECYCLE, word);
                if failed_removal.is_some() {
                    metrics::count(signal::SUBSCRIPTION_REMOVAL_FAILED);
                }
                if let Some(reason) = failed_removal {
                    let notice = OwnerNotice::RemovalFailed {
                        user_id: user,
                        reason,
                    };
                    let (channel, timeout) = (key.channel_id, self.call_timeout);
                    tell_owner(
                        &self.telegram,
                        &self.catalog.now().directory,
                        channel,
                        notice,
                        timeout,
                    )
                    .await;
                }
            }
            Completion::ExpiryMoved => {
                warn!(
                    task = task.as_str(),
                    "the expiry moved while the task ran: a renewal crossed it"
                );
                metrics::count(signal::SUBSCRIPTION_TASK_CROSSED_RENEWAL);
            }
        }
        Ok(completion)
    }

    /// A paid buyer found outside: the live link may be used up (they joined with it and
    /// a crossing removal took them out) or revoked by that removal, so it is revoked and
    /// replaced by a fresh one, capped at the paid end and persisted under the lease
    /// before it is sent (a crash leaves it known, and the retry replaces it).
    async fn invite_back(
        &self,
        subscription: &Subscription,
        token: &str,
        channel: &str,
    ) -> Result<(), Stopped> {
        let key = subscription.key;
        let user = key.user_id.get();
        if let Some(live) = &subscription.live_link
            && let Err(err) = self
                .call(self.telegram.revoke_invite_link(key.channel_id, &live.url))
                .await
        {
            warn!(error = %err, "could not revoke the old live link; it expires on its own");
        }
        let now = self.clock.now();
        let paid_until = subscription.paid_until(&self.settings);
        let expires_at = (now + INVITE_LINK_LIFETIME).min(paid_until);
        let admission = self.catalog.now().directory.admission_of(key.channel_id);
        let created = self
            .call(self.telegram.create_invite_link(
                key.channel_id,
                &format!("buyer {user}"),
                expires_at,
                admission,
            ))
            .await
            .map_err(Stopped::Telegram)?;
        let live = LiveLink {
            url: created.url.clone(),
            expires_at: created.expires_at,
            made_for: 0,
            made_at: now,
        };
        let persisted = change(&self.store, key, |stored| {
            match stored.map(|current| current.with_live_link_leased(token, live.clone(), now)) {
                Some(Ok(next)) => Step::Write(Box::new(next), true),
                _ => Step::Keep(false),
            }
        })
        .await
        .map_err(Stopped::Ledger)?;
        if !persisted {
            // Nobody will send it: make it useless.
            let _ = self
                .call(
                    self.telegram
                        .revoke_invite_link(key.channel_id, &created.url),
                )
                .await;
            return Err(Stopped::LeaseLost);
        }
        let text = self.texts.invite_again(
            channel,
            key.channel_id,
            subscription.expires_at,
            &created.url,
        );
        self.message(user, &text, "invite").await?;
        info!("a paid buyer found outside was sent a fresh link");
        Ok(())
    }

    /// A message to the buyer. One who cannot be messaged (blocked the bot) is done:
    /// retrying cannot reach them.
    async fn message(&self, user: i64, text: &str, what: &'static str) -> Result<(), Stopped> {
        match self.call(self.telegram.send_message(user, text)).await {
            Ok(()) => Ok(()),
            Err(TelegramError::UserUnreachable(reason)) => {
                warn!(%reason, what, "the buyer cannot be messaged; counted as done");
                metrics::count(signal::SUBSCRIPTION_MESSAGE_UNDELIVERABLE);
                Ok(())
            }
            Err(err) => Err(Stopped::Telegram(err)),
        }
    }

    /// One Bot API call, cut off after `call_timeout` (then retried: the claim fences it).
    async fn call<R>(
        &self,
        call: impl Future<Output = Result<R, TelegramError>>,
    ) -> Result<R, TelegramError> {
        tokio::time::timeout(self.call_timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(TelegramError::Transient(format!(
                    "no answer within {:?}",
                    self.call_timeout
                )))
            })
    }

    async fn complete(
        &self,
        key: SubscriptionKey,
        token: &str,
        done: TaskDone,
        revoked: Option<&str>,
    ) -> Result<Completion, Stopped> {
        // The Bot API call is done: a store hiccup here must not make the retry call it
        // again (a second message), so the write is retried in place a few times first,
        // well inside the lease.
        let give_up_at = self.clock.now() + self.settings.lease;
        let write = || async {
            let now = self.clock.now();
            change(&self.store, key, |stored| {
                match stored
                    .map(|current| current.complete(token, done.clone(), now, &self.settings))
                {
                    Some(Ok((mut next, completion))) => {
                        // In the same write: the link revoked is live no more.
                        if next.live_link.as_ref().map(|live| live.url.as_str()) == revoked {
                            next.live_link = None;
                        }
                        Step::Write(Box::new(next), Some(completion))
                    }
                    _ => Step::Keep(None),
                }
            })
            .await
        };
        let retryable = |err: &LedgerError| matches!(err, LedgerError::Store(_));
        let completed = retry_write_after_call(
            &*self.clock,
            give_up_at,
            "record the task done",
            retryable,
            write,
        )
        .await
        .map_err(Stopped::Ledger)?;
        completed.ok_or(Stopped::LeaseLost)
    }

    /// Frees the subscription for the retry at once rather than after the lease lapses.
    async fn release(&self, key: SubscriptionKey, token: &str, outcome_unknown: bool) {
        let now = self.clock.now();
        let released = change(&self.store, key, |stored| {
            match stored.map(|current| current.release(token, outcome_unknown, now, &self.settings))
            {
                Some(Ok(next)) => Step::Write(Box::new(next), ()),
                _ => Step::Keep(()),
            }
        })
        .await;
        if let Err(err) = released {
            warn!(error = %err, "could not release the lease; it lapses on its own");
        }
    }
}
