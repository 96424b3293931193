//! The operator's workflows, generic over the ports: list what needs attention, replay a
//! stuck invite, re-issue a link, approve or reject a held payment. The `telepay` CLI
//! parses arguments and prints; every decision is made here, tested on the memory store.

mod subscriptions;

pub use subscriptions::within;

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
    Decided, IngressStore, OperatorStore, ReconcilerStore, Recorded, Reopened, Resolution,
    Resolved, StoreError, UnreadableRow,
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
    #[error(
        "payment {0} does not need an operator (it was processed, or has its purchase): nothing to resolve"
    )]
    NoOperatorNeeded(i64),
    #[error("payment {0} is already granted: it cannot be rejected")]
    AlreadyGranted(i64),
    #[error("payment {0}: its private channel is unknown; set the channel directory")]
    UnknownPrivateChannel(i64),
    #[error("payment {0} has a link to revoke: set TELEGRAM_BOT_TOKEN")]
    NoBot(i64),
    #[error("no subscription for {0}")]
    SubscriptionNotFound(crate::subscription::SubscriptionKey),
    #[error("the subscription of {0} kept changing under this write; try again")]
    SubscriptionBusy(crate::subscription::SubscriptionKey),
    #[error("{0} days is not a length of access (1 to 3660)")]
    BadLength(u32),
    #[error(transparent)]
    Approve(#[from] ApproveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(
        "payment {payment_id} was re-opened and its new invite queued, but revoking its old link {link} failed ({reason}): revoke it in Telegram"
    )]
    RevokeFailed {
        payment_id: i64,
        link: String,
        reason: TelegramError,
    },
}

/// One line of "what needs attention".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attention {
    pub payment_id: i64,
    /// `not_processed`, `invite_not_sent`, `needs_operator`, `invite_failed`,
    /// `held_for_review`, or `unreadable` (a row this version cannot read; `reason` says
    /// why).
    pub stage: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leased: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Unknown for a row that cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_minutes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
}

/// The bot and the directory, for workflows that may revoke a link: the bot is needed
/// only when there is a link, the directory only for seed rows without a purchase.
pub struct Bot<'a, T> {
    pub telegram: Option<&'a T>,
    pub directory: Option<&'a ChannelDirectory>,
}

impl<T> Clone for Bot<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Bot<'_, T> {}

impl Attention {
    /// A line about `record` at `stage`; the caller adds what the stage knows.
    fn of(record: &ProcessedPayment, stage: &'static str, now: DateTime<Utc>) -> Self {
        Self {
            payment_id: record.payment_id.get(),
            stage,
            leased: None,
            reason: None,
            age_minutes: Some((now - record.created_at).num_minutes()),
            user_id: Some(record.user_id.get()),
        }
    }

    fn unreadable(row: UnreadableRow) -> Self {
        Self {
            payment_id: row.payment_id,
            stage: "unreadable",
            leased: None,
            reason: Some(row.why),
            age_minutes: None,
            user_id: None,
        }
    }
}

/// The workflows over a store they borrow (so concurrent operators can share one).
pub struct Operator<'s, S> {
    pub store: &'s S,
    pub clock: SharedClock,
}

impl<'s, S> Operator<'s, S> {
    pub fn new(store: &'s S, clock: SharedClock) -> Self {
        Self { store, clock }
    }
}

impl<'s, S: OperatorStore + IngressStore + ReconcilerStore> Operator<'s, S> {
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
        let cutoff = now - TimeDelta::from_std(older_than).unwrap_or(TimeDelta::MAX);
        let mut lines = Vec::new();
        for listed in self.store.pending_payments(cutoff, limit).await? {
            let record = match listed {
                Ok(record) => record,
                Err(row) => {
                    lines.push(Attention::unreadable(row));
                    continue;
                }
            };
            let Some(stage) = record.stuck_stage() else {
                continue;
            };
            lines.push(Attention {
                leased: Some(record.invite_lease_until.is_some_and(|until| until >= now)),
                ..Attention::of(&record, stage.as_str(), now)
            });
        }
        for listed in self.store.needs_operator(limit).await? {
            lines.push(match listed {
                Ok(record) if record.created_at <= cutoff => Attention {
                    reason: Some(
                        "never processed and no stored purchase: `telepay payments resolve`".into(),
                    ),
                    ..Attention::of(&record, "needs_operator", now)
                },
                Ok(_) => continue,
                Err(row) => Attention::unreadable(row),
            });
        }
        for listed in self.store.failed_invites(limit).await? {
            lines.push(match listed {
                Ok(record) => Attention {
                    reason: record.invite_failure_reason.clone(),
                    ..Attention::of(&record, "invite_failed", now)
                },
                Err(row) => Attention::unreadable(row),
            });
        }
        for review in self.store.list_reviews(limit).await? {
            if review.decision.is_none() && review.received_at <= cutoff {
                lines.push(Attention {
                    payment_id: review.payment_id.get(),
                    stage: "held_for_review",
                    leased: None,
                    reason: Some(review.reason.as_str().to_owned()),
                    age_minutes: Some((now - review.received_at).num_minutes()),
                    user_id: None,
                });
            }
        }
        Ok(lines)
    }

    /// Queues a stuck or failed invite again. A failed one is made due first (the buyer
    /// may have started the bot since), and the link it carried, which may have reached
    /// someone, is revoked. A sent invite is refused: that is a re-issue.
    pub async fn replay<T: TelegramInviter>(
        &self,
        payment_id: PaymentId,
        bot: Bot<'_, T>,
        invite_queue: &impl MessageQueue,
    ) -> Result<Option<String>, OperatorError> {
        let record = self.payment(payment_id).await?;
        if record.telegram_invite_sent {
            return Err(OperatorError::AlreadySent(payment_id.get()));
        }
        if record.state != RecordState::InviteFailed {
            // Still in the protocol: the claim reuses or replaces its link.
            invite_queue
                .send(payment_id, &InviteRequest::from(&record).to_json())
                .await?;
            return Ok(None);
        }
        self.reopen_revoke_and_queue(&record, bot, invite_queue)
            .await
    }

    /// Makes the invite due again, revokes the link it carried (so it admits nobody) and
    /// queues a new invite; answers the revoked link. Needs the bot only when there is a
    /// link.
    pub async fn reissue<T: TelegramInviter>(
        &self,
        payment_id: PaymentId,
        bot: Bot<'_, T>,
        invite_queue: &impl MessageQueue,
    ) -> Result<Option<String>, OperatorError> {
        let record = self.payment(payment_id).await?;
        self.reopen_revoke_and_queue(&record, bot, invite_queue)
            .await
    }

    /// Reopen first, conditioned on the link as read, so exactly the link it cleared is
    /// revoked: revoking first would let a live worker send a dead link, and a link sent
    /// between a read and an unconditional reopen would be cleared without being revoked.
    async fn reopen_revoke_and_queue<T: TelegramInviter>(
        &self,
        record: &ProcessedPayment,
        bot: Bot<'_, T>,
        invite_queue: &impl MessageQueue,
    ) -> Result<Option<String>, OperatorError> {
        let payment_id = record.payment_id;
        // Everything a revoke needs is checked before anything changes.
        let revoker = bot
            .telegram
            .map(|telegram| (telegram, record.private_channel(bot.directory)));
        let mut seen = record.clone();
        let mut attempts = 0;
        let cleared = loop {
            attempts += 1;
            if seen.telegram_invite_link.is_some() {
                match revoker {
                    None => return Err(OperatorError::NoBot(payment_id.get())),
                    Some((_, None)) => {
                        return Err(OperatorError::UnknownPrivateChannel(payment_id.get()));
                    }
                    Some(_) => {}
                }
            }
            let link = seen.telegram_invite_link.clone();
            match self
                .store
                .reopen_invite(payment_id, link.as_deref(), self.clock.now())
                .await?
            {
                Reopened::Done => break link,
                Reopened::Leased => return Err(OperatorError::Leased(payment_id.get())),
                Reopened::NotFound => {
                    return Err(OperatorError::PaymentNotFound(payment_id.get()));
                }
                // A worker stored or sent a link since: decide again on what is there,
                // a few times; a payment this busy is worked on, so try later.
                Reopened::LinkChanged if attempts < 3 => seen = self.payment(payment_id).await?,
                Reopened::LinkChanged => return Err(OperatorError::Leased(payment_id.get())),
            }
        };
        let revoked = match (&cleared, revoker) {
            (Some(link), Some((telegram, Some(chat)))) => {
                Some(telegram.revoke_invite_link(chat, link).await)
            }
            _ => None,
        };
        // Queued whatever the revoke did: the buyer is owed a working link.
        invite_queue
            .send(payment_id, &InviteRequest::from(record).to_json())
            .await?;
        match revoked {
            Some(Err(reason)) => Err(OperatorError::RevokeFailed {
                payment_id: payment_id.get(),
                link: cleared.unwrap_or_default(),
                reason,
            }),
            _ => Ok(cleared),
        }
    }

    /// Grants a held payment. The decision comes first, with one conditional write, so
    /// a concurrent reject either wins (nothing is granted) or loses; then the accepted
    /// record (the reconciler finds it if the send fails), then the processor message.
    /// A retry of an approval that stopped half-way completes it.
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
        // What it would become, checked before anything is decided.
        let approved = approved_record(&review, directory, self.clock.now())?;
        match review.decision {
            None => self.decide(payment_id, ReviewDecision::Approved).await?,
            Some(ReviewDecision::Approved) => {
                if self.store.get_payment(payment_id).await?.is_some() {
                    return Err(OperatorError::AlreadyDecided {
                        payment_id: payment_id.get(),
                        decision: ReviewDecision::Approved.as_str(),
                    });
                }
                // Decided, never recorded: finish what the earlier approval started.
            }
            Some(decision) => {
                return Err(OperatorError::AlreadyDecided {
                    payment_id: payment_id.get(),
                    decision: decision.as_str(),
                });
            }
        }
        let purchase = approved
            .purchase
            .clone()
            .expect("an approved record carries its purchase");
        let record = match self.store.record_accepted(&approved).await? {
            Recorded::New => approved,
            Recorded::Existing(stored) => *stored,
        };
        let message = ProcessorMessage::from_record(&record, &purchase);
        processor_queue.send(payment_id, &message.to_json()).await?;
        Ok(())
    }

    /// Settles a row only an operator can move: with the purchase it lacks (then queued
    /// for processing like any payment), or as handled outside this system.
    pub async fn resolve(
        &self,
        payment_id: PaymentId,
        resolution: &Resolution,
        processor_queue: &impl MessageQueue,
    ) -> Result<(), OperatorError> {
        match self
            .store
            .resolve_needs_operator(payment_id, resolution, self.clock.now())
            .await?
        {
            Resolved::Done => {}
            Resolved::NotNeeded => return Err(OperatorError::NoOperatorNeeded(payment_id.get())),
            Resolved::NotFound => return Err(OperatorError::PaymentNotFound(payment_id.get())),
        }
        if let Resolution::SupplyPurchase(purchase) = resolution {
            let record = self.payment(payment_id).await?;
            let message = ProcessorMessage::from_record(&record, purchase);
            processor_queue.send(payment_id, &message.to_json()).await?;
        }
        Ok(())
    }

    /// Records that a held payment is not granted; refused once it is granted.
    pub async fn reject(&self, payment_id: PaymentId) -> Result<(), OperatorError> {
        if self.store.get_payment(payment_id).await?.is_some() {
            return Err(OperatorError::AlreadyGranted(payment_id.get()));
        }
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
}

#[cfg(test)]
mod tests;
