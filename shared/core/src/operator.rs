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

/// The private channel a payment admits to. The stored purchase first (what was bought,
/// even if the directory changed since); the directory only for seed rows without one.
pub fn private_channel(
    record: &ProcessedPayment,
    directory: Option<&ChannelDirectory>,
) -> Option<i64> {
    record
        .purchase
        .as_ref()
        .map(|p| p.private_channel_id)
        .or_else(|| {
            directory?
                .channel(record.channel_id)
                .map(|entry| entry.private_channel_id)
        })
}

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
            let chat = private_channel(&record, directory)
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
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::fixtures::{SAMPLE_DIRECTORY, SAMPLE_IPN, sample_record};
    use crate::payment::{HoldReason, PaymentReview};
    use crate::queue::memory::MemoryQueue;
    use crate::store::memory::MemoryPaymentStore;
    use crate::telegram::InviteLink;

    fn at() -> DateTime<Utc> {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn operator() -> Operator<MemoryPaymentStore> {
        Operator::new(MemoryPaymentStore::new(), ManualClock::frozen_at(at()))
    }

    fn directory() -> ChannelDirectory {
        ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap()
    }

    fn id(n: i64) -> PaymentId {
        PaymentId::new(n).unwrap()
    }

    /// Records the links it was asked to revoke.
    #[derive(Default)]
    struct Revocations(std::sync::Mutex<Vec<(i64, String)>>);

    impl TelegramInviter for Revocations {
        async fn create_invite_link(
            &self,
            _: i64,
            _: &str,
            _: DateTime<Utc>,
        ) -> Result<InviteLink, TelegramError> {
            unreachable!("operators never create links")
        }
        async fn revoke_invite_link(&self, chat_id: i64, link: &str) -> Result<(), TelegramError> {
            self.0.lock().unwrap().push((chat_id, link.to_owned()));
            Ok(())
        }
        async fn send_message(&self, _: i64, _: &str) -> Result<(), TelegramError> {
            unreachable!("operators never message buyers")
        }
    }

    #[tokio::test]
    async fn attention_lists_each_stage_once_with_its_age() {
        let op = operator();
        let old = |n: i64| {
            let mut record = sample_record(n);
            record.created_at = at() - TimeDelta::minutes(90);
            record
        };
        op.store.put_payment(old(1));
        let mut processed = old(2);
        processed.gcwebhook1_processed = true;
        processed.invite_lease_until = Some(at() + TimeDelta::seconds(30));
        op.store.put_payment(processed);
        let mut failed = old(3);
        failed.state = RecordState::InviteFailed;
        failed.invite_failure_reason = Some("blocked".into());
        op.store.put_payment(failed);
        let mut done = old(4);
        done.gcwebhook1_processed = true;
        done.telegram_invite_sent = true;
        op.store.put_payment(done);

        let lines = op.attention(Duration::ZERO, 10).await.unwrap();
        let stages: Vec<_> = lines.iter().map(|l| (l.payment_id, l.stage)).collect();
        assert_eq!(
            stages,
            [
                (1, "not_processed"),
                (2, "invite_not_sent"),
                (3, "invite_failed")
            ]
        );
        assert_eq!(lines[1].leased, Some(true));
        assert_eq!(lines[0].age_minutes, 90);
    }

    #[tokio::test]
    async fn replay_reopens_a_failed_invite_and_refuses_a_sent_one() {
        let op = operator();
        let queue = MemoryQueue::new();
        let mut failed = sample_record(3);
        failed.state = RecordState::InviteFailed;
        op.store.put_payment(failed);
        op.replay(id(3), &queue).await.unwrap();
        assert_eq!(op.store.payment(3).unwrap().state, RecordState::Accepted);
        let request: InviteRequest = serde_json::from_str(&queue.bodies()[0]).unwrap();
        assert_eq!(request.payment_id, id(3));

        let mut sent = sample_record(4);
        sent.telegram_invite_sent = true;
        op.store.put_payment(sent);
        assert!(matches!(
            op.replay(id(4), &queue).await,
            Err(OperatorError::AlreadySent(4))
        ));
        assert!(matches!(
            op.replay(id(5), &queue).await,
            Err(OperatorError::PaymentNotFound(5))
        ));
    }

    #[tokio::test]
    async fn reissue_revokes_in_the_purchased_channel_and_queues_a_new_invite() {
        let op = operator();
        let queue = MemoryQueue::new();
        let mut sent = sample_record(5);
        sent.telegram_invite_sent = true;
        sent.telegram_invite_link = Some("https://t.me/+lost".into());
        sent.purchase.as_mut().unwrap().private_channel_id = -1007777;
        op.store.put_payment(sent);

        assert!(matches!(
            op.reissue::<Revocations>(id(5), None, Some(&directory()), &queue)
                .await,
            Err(OperatorError::NoBot(5))
        ));
        let bot = Revocations::default();
        let revoked = op
            .reissue(id(5), Some(&bot), Some(&directory()), &queue)
            .await
            .unwrap();
        assert_eq!(revoked.as_deref(), Some("https://t.me/+lost"));
        assert_eq!(
            *bot.0.lock().unwrap(),
            [(-1007777, "https://t.me/+lost".to_owned())],
            "the channel the buyer paid for, not the directory's current one"
        );
        let record = op.store.payment(5).unwrap();
        assert!(!record.telegram_invite_sent && record.telegram_invite_link.is_none());
        assert_eq!(queue.bodies().len(), 1);
    }

    #[tokio::test]
    async fn approve_records_queues_and_decides_once_and_reject_is_then_refused() {
        let op = operator();
        let queue = MemoryQueue::new();
        op.store
            .hold_for_review(&PaymentReview {
                payment_id: id(4492847470),
                reason: HoldReason::PriceMismatch,
                ipn: SAMPLE_IPN.replace("\"price_amount\":3.21", "\"price_amount\":1.5"),
                received_at: at(),
                decision: None,
                decided_at: None,
            })
            .await
            .unwrap();
        op.approve(id(4492847470), &directory(), &queue)
            .await
            .unwrap();
        assert_eq!(
            op.store.payment(4492847470).unwrap().state,
            RecordState::Accepted
        );
        assert_eq!(queue.bodies().len(), 1);
        let again = op.approve(id(4492847470), &directory(), &queue).await;
        assert_eq!(
            again.unwrap_err().to_string(),
            "payment 4492847470 was already approved"
        );
        assert_eq!(
            op.reject(id(4492847470)).await.unwrap_err().to_string(),
            "payment 4492847470 was already approved"
        );
        assert!(matches!(
            op.reject(id(9)).await,
            Err(OperatorError::ReviewNotFound(9))
        ));
    }

    #[test]
    fn the_stored_purchase_decides_the_channel_and_the_directory_serves_seed_rows() {
        let directory = directory();
        let mut bought = sample_record(1);
        bought.purchase.as_mut().unwrap().private_channel_id = -1007777;
        assert_eq!(private_channel(&bought, Some(&directory)), Some(-1007777));
        let mut seed = sample_record(2);
        seed.purchase = None;
        let from_directory = directory
            .channel(seed.channel_id)
            .map(|e| e.private_channel_id);
        assert!(from_directory.is_some());
        assert_eq!(private_channel(&seed, Some(&directory)), from_directory);
        assert_eq!(private_channel(&seed, None), None);
    }
}
