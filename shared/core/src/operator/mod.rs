//! The operator's workflows, generic over the ports: list what needs attention, replay a
//! stuck invite, re-issue a link, approve or reject a held payment. The `telepay` CLI
//! parses arguments and prints; every decision is made here, tested on the memory store.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::clock::SharedClock;
use crate::directory::ChannelDirectory;
use crate::ipn::PaymentId;
use crate::payment::{ProcessedPayment, RecordState, ReviewDecision};
use crate::queue::{InviteRequest, MessageQueue, ProcessorMessage, QueueError};
use crate::review::{ApproveError, approved_record};
use crate::store::{
    Decided, IngressStore, OperatorStore, ReconcilerStore, Recorded, Reopened, StoreError,
};
use crate::telegram::{TelegramError, TelegramInviter};

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("payment {0} not found")]
    PaymentNotFound(i64),
    #[error("no review entry for payment {0}")]
    ReviewNotFound(i64),
    #[error("payment {0}: the invite was sent; use `telepay payments reissue` to send a new link")]
    AlreadySent(i64),
    #[error("payment {0}: a worker holds it right now; try again shortly")]
    Leased(i64),
    #[error("payment {payment_id} was already {decision}")]
    AlreadyDecided {
        payment_id: i64,
        decision: &'static str,
    },
    #[error("payment {0}: its private channel is unknown; set the channel directory")]
    UnknownPrivateChannel(i64),
    #[error("payment {0} has a link to revoke: set TELEGRAM_BOT_TOKEN")]
    NoBot(i64),
    #[error(transparent)]
    Approve(#[from] ApproveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("revoking the old link: {0}")]
    Telegram(#[from] TelegramError),
}

/// One line of "what needs attention".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attention {
    pub payment_id: i64,
    /// `not_processed`, `invite_not_sent`, `invite_failed` or `held_for_review`.
    pub stage: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leased: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub age_minutes: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
}

pub struct Operator<S> {
    pub store: S,
    pub clock: SharedClock,
}

impl<S: OperatorStore + IngressStore + ReconcilerStore> Operator<S> {
    pub fn new(store: S, clock: SharedClock) -> Self {
        Self { store, clock }
    }

    pub async fn payment(&self, payment_id: PaymentId) -> Result<ProcessedPayment, OperatorError> {
        self.store
            .get_payment(payment_id)
            .await?
            .ok_or(OperatorError::PaymentNotFound(payment_id.get()))
    }

    /// Pending payments older than `older_than` (by stage), failed invites, and undecided
    /// reviews, at most `limit` of each.
    pub async fn attention(
        &self,
        older_than: Duration,
        limit: usize,
    ) -> Result<Vec<Attention>, OperatorError> {
        let now = self.clock.now();
        let age = |t: DateTime<Utc>| (now - t).num_minutes();
        let cutoff = now - TimeDelta::from_std(older_than).unwrap_or(TimeDelta::MAX);
        let mut lines = Vec::new();
        for record in self.store.pending_payments(cutoff, limit).await? {
            let Some(stage) = record.stuck_stage() else {
                continue;
            };
            lines.push(Attention {
                payment_id: record.payment_id.get(),
                stage: stage.as_str(),
                leased: Some(record.invite_lease_until.is_some_and(|until| until >= now)),
                reason: None,
                age_minutes: age(record.created_at),
                user_id: Some(record.user_id.get()),
            });
        }
        for record in self.store.failed_invites(limit).await? {
            lines.push(Attention {
                payment_id: record.payment_id.get(),
                stage: "invite_failed",
                leased: None,
                reason: record.invite_failure_reason.clone(),
                age_minutes: age(record.created_at),
                user_id: Some(record.user_id.get()),
            });
        }
        for review in self.store.list_reviews(limit).await? {
            if review.decision.is_none() && review.received_at <= cutoff {
                lines.push(Attention {
                    payment_id: review.payment_id.get(),
                    stage: "held_for_review",
                    leased: None,
                    reason: Some(review.reason.as_str().to_owned()),
                    age_minutes: age(review.received_at),
                    user_id: None,
                });
            }
        }
        Ok(lines)
    }

    /// Queues a stuck or failed invite again; a failed one is made due first (the buyer
    /// may have started the bot since). A sent invite is refused: that is a re-issue.
    pub async fn replay(
        &self,
        payment_id: PaymentId,
        invite_queue: &impl MessageQueue,
    ) -> Result<(), OperatorError> {
        let record = self.payment(payment_id).await?;
        if record.telegram_invite_sent {
            return Err(OperatorError::AlreadySent(payment_id.get()));
        }
        if record.state == RecordState::InviteFailed {
            self.reopen(payment_id).await?;
        }
        let request = InviteRequest::from(&record);
        invite_queue.send(payment_id, &request.to_json()).await?;
        Ok(())
    }

    /// Revokes the stored link (so it admits nobody), makes the invite due again and
    /// queues it; answers the revoked link. Needs the bot only when there is a link.
    pub async fn reissue<T: TelegramInviter>(
        &self,
        payment_id: PaymentId,
        telegram: Option<&T>,
        directory: Option<&ChannelDirectory>,
        invite_queue: &impl MessageQueue,
    ) -> Result<Option<String>, OperatorError> {
        let record = self.payment(payment_id).await?;
        if let Some(link) = &record.telegram_invite_link {
            let telegram = telegram.ok_or(OperatorError::NoBot(payment_id.get()))?;
            let chat = record
                .private_channel(directory)
                .ok_or(OperatorError::UnknownPrivateChannel(payment_id.get()))?;
            telegram.revoke_invite_link(chat, link).await?;
        }
        self.reopen(payment_id).await?;
        let request = InviteRequest::from(&record);
        invite_queue.send(payment_id, &request.to_json()).await?;
        Ok(record.telegram_invite_link)
    }

    /// Grants a held payment: it becomes an accepted record (recorded first, so the
    /// reconciler finds it if the send fails), the decision is recorded, and it is queued.
    pub async fn approve(
        &self,
        payment_id: PaymentId,
        directory: &ChannelDirectory,
        processor_queue: &impl MessageQueue,
    ) -> Result<(), OperatorError> {
        let review = self
            .store
            .get_review(payment_id)
            .await?
            .ok_or(OperatorError::ReviewNotFound(payment_id.get()))?;
        if let Some(decision) = review.decision {
            return Err(OperatorError::AlreadyDecided {
                payment_id: payment_id.get(),
                decision: decision.as_str(),
            });
        }
        let approved = approved_record(&review, directory, self.clock.now())?;
        let purchase = approved.purchase.clone();
        let record = match self.store.record_accepted(&approved).await? {
            Recorded::New => approved,
            Recorded::Existing(stored) => *stored,
        };
        self.decide(payment_id, ReviewDecision::Approved).await?;
        let purchase = purchase.expect("an approved record carries its purchase");
        let message = ProcessorMessage::from_record(&record, &purchase);
        processor_queue.send(payment_id, &message.to_json()).await?;
        Ok(())
    }

    /// Records that a held payment is not granted.
    pub async fn reject(&self, payment_id: PaymentId) -> Result<(), OperatorError> {
        self.decide(payment_id, ReviewDecision::Rejected).await
    }

    async fn decide(
        &self,
        payment_id: PaymentId,
        decision: ReviewDecision,
    ) -> Result<(), OperatorError> {
        match self
            .store
            .decide_review(payment_id, decision, self.clock.now())
            .await?
        {
            Decided::Done => Ok(()),
            Decided::AlreadyDecided(Some(earlier)) if earlier == decision => Ok(()),
            Decided::AlreadyDecided(earlier) => Err(OperatorError::AlreadyDecided {
                payment_id: payment_id.get(),
                decision: earlier.map_or("decided", |d| d.as_str()),
            }),
            Decided::NotFound => Err(OperatorError::ReviewNotFound(payment_id.get())),
        }
    }

    async fn reopen(&self, payment_id: PaymentId) -> Result<(), OperatorError> {
        match self
            .store
            .reopen_invite(payment_id, self.clock.now())
            .await?
        {
            Reopened::Done => Ok(()),
            Reopened::Leased => Err(OperatorError::Leased(payment_id.get())),
            Reopened::NotFound => Err(OperatorError::PaymentNotFound(payment_id.get())),
        }
    }
}

#[cfg(test)]
mod tests;
