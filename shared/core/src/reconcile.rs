//! The reconciler: nothing stays stuck. NOWPayments stops retrying and SQS messages can
//! expire or dead-letter, so on a schedule every accepted payment whose processing or
//! invite is overdue is queued again, and so is every held payment not yet told to its
//! buyer and owner. Idempotent: the processor, the invite protocol and the hold notice
//! make a repeat harmless.
//!
//! Tests: below, `functions/reconciler/src/lib.rs`, `tests/tests/reconciler_index.rs`.

use std::time::Duration;

use chrono::TimeDelta;
use serde::Serialize;
use tracing::{error, info, warn};

use crate::clock::{SharedClock, system_clock};
use crate::held::HoldNoticeRequest;
use crate::metrics::{self, signal, stage};
use crate::payment::PendingStage;
use crate::queue::{InviteRequest, MessageQueue, ProcessorMessage};
use crate::store::{HeldNoticeStore, PurchasePartsStore, ReconcilerStore, StoreError};
use crate::topup::PurchaseWaitNotice;

/// What one reconciliation found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// Overdue payments found (the backlog).
    pub backlog: usize,
    /// Age of the oldest overdue payment, in seconds.
    pub oldest_age_secs: Option<u64>,
    pub requeued_processing: usize,
    pub requeued_invites: usize,
    /// Overdue but left alone: an invite lease is live (a worker is on it), or it was
    /// re-queued or touched within the last `stuck_after` (its message is on its way).
    pub in_flight: usize,
    /// Rows only an operator can move (seed rows never processed, without a stored
    /// purchase), up to the batch size: shown by `telepay payments pending`, settled by
    /// `telepay payments resolve`. Not part of the backlog.
    pub needs_operator: usize,
    /// Sends that failed this time; the next run tries again.
    pub failed: usize,
    /// Rows this version cannot read (logged with why): an operator must look.
    pub unreadable: usize,
    /// Held payments still untold after the quiet period, their notices queued again.
    pub requeued_hold_notices: usize,
    /// Short payments' purchases not completed within the top-up wait, their owners'
    /// notices queued ([`crate::topup::PurchaseWaitNotice`]).
    pub queued_wait_notices: usize,
}

impl ReconcileReport {
    /// The readings the alarms and the dashboard use, and this run's actions.
    fn record(&self) {
        metrics::reading(signal::RECONCILER_BACKLOG, self.backlog as f64);
        metrics::reading(signal::RECONCILER_UNREADABLE, self.unreadable as f64);
        metrics::reading(
            signal::RECONCILER_NEEDS_OPERATOR,
            self.needs_operator as f64,
        );
        let oldest = self.oldest_age_secs.unwrap_or(0) as f64;
        metrics::reading(signal::RECONCILER_OLDEST_AGE, oldest);
        let actions = [
            ("requeued_processing", self.requeued_processing),
            ("requeued_invite", self.requeued_invites),
            ("requeued_hold_notice", self.requeued_hold_notices),
            ("queued_wait_notice", self.queued_wait_notices),
            ("in_flight", self.in_flight),
            ("failed", self.failed),
        ];
        for (action, n) in actions {
            metrics::outcomes(stage::RECONCILER, action, n as u64);
        }
    }
}

pub struct Reconciler<S, P, I> {
    pub store: S,
    pub processor_queue: P,
    pub invite_queue: I,
    /// How long a stage may take before its payment counts as stuck.
    pub stuck_after: Duration,
    /// At most this many payments per run.
    pub batch: usize,
    /// A short payment's purchase not completed this long after it opened is told to
    /// its owner ([`crate::topup`]).
    pub topup_wait: TimeDelta,
    pub clock: SharedClock,
}

/// How long a buyer has to pay the rest before the owner is told, by default.
pub const TOPUP_WAIT: TimeDelta = TimeDelta::hours(24);

impl<S: ReconcilerStore + HeldNoticeStore + PurchasePartsStore, P: MessageQueue, I: MessageQueue>
    Reconciler<S, P, I>
{
    pub fn new(
        store: S,
        processor_queue: P,
        invite_queue: I,
        stuck_after: Duration,
        batch: usize,
    ) -> Self {
        Self {
            store,
            processor_queue,
            invite_queue,
            stuck_after,
            batch,
            topup_wait: TOPUP_WAIT,
            clock: system_clock(),
        }
    }

    pub fn with_topup_wait(mut self, wait: TimeDelta) -> Self {
        self.topup_wait = wait;
        self
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    pub async fn reconcile(&self) -> Result<ReconcileReport, StoreError> {
        let now = self.clock.now();
        let stuck_after = TimeDelta::from_std(self.stuck_after).unwrap_or(TimeDelta::minutes(15));
        let overdue = self
            .store
            .pending_payments(now - stuck_after, self.batch)
            .await?;
        // Counted apart: the store never lists them among the overdue, so however many
        // there are, they never take the batch from payments it can move.
        let needs_operator = self.store.needs_operator(self.batch).await?.len();
        let mut report = ReconcileReport {
            backlog: overdue.len(),
            needs_operator,
            ..ReconcileReport::default()
        };
        for listed in &overdue {
            let record = match listed {
                Ok(record) => record,
                Err(row) => {
                    error!(
                        payment_id = row.payment_id,
                        why = %row.why,
                        "a pending payment this version cannot read: an operator must look"
                    );
                    report.unreadable += 1;
                    continue;
                }
            };
            let payment_id = record.payment_id.get();
            let live_lease = record.invite_lease_until.is_some_and(|until| until >= now);
            if live_lease {
                report.in_flight += 1;
                continue;
            }
            // The message that moves it on from where it is stuck: the processor message
            // (none for a seed row without a stored purchase), or the invite request.
            let Some(stage) = record.stuck_stage() else {
                continue;
            };
            let to_processor = stage == PendingStage::NotProcessed;
            let body = if to_processor {
                let Some(purchase) = &record.purchase else {
                    warn!(
                        payment_id,
                        "stuck before processing and has no stored purchase: needs an operator"
                    );
                    report.needs_operator += 1;
                    continue;
                };
                ProcessorMessage::from_record(record, purchase).to_json()
            } else {
                InviteRequest::from(record).to_json()
            };
            // One re-queue per quiet period: a message re-queued by an earlier run may
            // still be waiting behind a backlog, and runs may overlap.
            match self
                .store
                .mark_requeued(record.payment_id, now - stuck_after, now)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    report.in_flight += 1;
                    continue;
                }
                Err(err) => {
                    error!(payment_id, error = %err, "could not mark a stuck payment re-queued");
                    report.failed += 1;
                    continue;
                }
            }
            let sent = if to_processor {
                let sent = self.processor_queue.send(record.payment_id, &body).await;
                sent.map(|()| report.requeued_processing += 1)
            } else {
                let sent = self.invite_queue.send(record.payment_id, &body).await;
                sent.map(|()| report.requeued_invites += 1)
            };
            if let Err(err) = sent {
                error!(payment_id, error = %err, "could not re-queue a stuck payment");
                report.failed += 1;
            }
        }
        // The oldest payment it can act on: rows that wait for an operator or cannot be
        // read are counted apart, so they never pin the age alarm.
        let oldest_actionable = overdue
            .iter()
            .filter_map(|listed| listed.as_ref().ok())
            .filter(|record| !record.needs_operator())
            .map(|record| record.created_at)
            .min();
        report.oldest_age_secs = oldest_actionable
            .and_then(|created_at| (now - created_at).to_std().ok())
            .map(|age| age.as_secs());
        self.requeue_hold_notices(now - stuck_after, &mut report)
            .await?;
        self.queue_wait_notices(now - self.topup_wait, &mut report)
            .await?;
        report.record();
        info!(?report, "reconciliation done");
        Ok(report)
    }
}

impl<S: ReconcilerStore + HeldNoticeStore + PurchasePartsStore, P: MessageQueue, I: MessageQueue>
    Reconciler<S, P, I>
{
    /// Purchases opened before `opened_before`, not completed and their owner not told:
    /// each owner's notice queued to the invite sender, which tells it once (a later run
    /// queues again only while it is untold).
    async fn queue_wait_notices(
        &self,
        opened_before: chrono::DateTime<chrono::Utc>,
        report: &mut ReconcileReport,
    ) -> Result<(), StoreError> {
        for purchase in self
            .store
            .stale_purchases(opened_before, self.batch)
            .await?
        {
            let body = PurchaseWaitNotice::new(purchase.purchase_id).to_json();
            match self.invite_queue.send(purchase.purchase_id, &body).await {
                Ok(()) => report.queued_wait_notices += 1,
                Err(err) => {
                    error!(purchase_id = purchase.purchase_id.get(), error = %err, "could not queue a purchase's wait notice");
                    report.failed += 1;
                }
            }
        }
        Ok(())
    }

    /// Held payments not told within the quiet period (their notice lost with a crash,
    /// or failing): queued again to the invite sender, which tells each once.
    async fn requeue_hold_notices(
        &self,
        held_before: chrono::DateTime<chrono::Utc>,
        report: &mut ReconcileReport,
    ) -> Result<(), StoreError> {
        for payment_id in self.store.untold_holds(held_before, self.batch).await? {
            let body = HoldNoticeRequest::new(payment_id).to_json();
            match self.invite_queue.send(payment_id, &body).await {
                Ok(()) => report.requeued_hold_notices += 1,
                Err(err) => {
                    error!(payment_id = payment_id.get(), error = %err, "could not re-queue a held payment's notice");
                    report.failed += 1;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use chrono::{DateTime, Utc};

    use crate::clock::{Clock, ManualClock};
    use crate::fixtures::sample_record;
    use crate::queue::memory::MemoryQueue;
    use crate::store::memory::MemoryStore;

    fn start() -> DateTime<Utc> {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    fn reconciler() -> (
        Reconciler<MemoryStore, MemoryQueue, MemoryQueue>,
        Arc<ManualClock>,
    ) {
        let clock = ManualClock::frozen_at(start());
        let reconciler = Reconciler {
            store: MemoryStore::new(),
            processor_queue: MemoryQueue::new(),
            invite_queue: MemoryQueue::new(),
            stuck_after: Duration::from_secs(15 * 60),
            batch: 100,
            topup_wait: TOPUP_WAIT,
            clock: clock.clone(),
        };
        (reconciler, clock)
    }

    #[tokio::test]
    async fn overdue_payments_are_requeued_to_the_stage_they_are_stuck_at() {
        let (r, clock) = reconciler();
        let now = clock.now();
        let old = |id: i64, minutes: i64| {
            let mut record = sample_record(id);
            record.created_at = now - TimeDelta::minutes(minutes);
            record.updated_at = record.created_at;
            record
        };
        r.store.put_payment(old(1, 60)); // never processed
        let mut stuck_invite = old(2, 30);
        stuck_invite.processed = true;
        r.store.put_payment(stuck_invite);
        let mut leased = old(3, 30);
        leased.processed = true;
        leased.invite_lease_until = Some(now + TimeDelta::seconds(20));
        r.store.put_payment(leased);
        let mut seed = old(4, 45);
        seed.purchase = None;
        r.store.put_payment(seed);
        r.store.put_payment(old(5, 2)); // recent: not stuck yet
        let mut done = old(6, 90);
        done.processed = true;
        done.telegram_invite_sent = true;
        r.store.put_payment(done);

        let report = r.reconcile().await.unwrap();
        assert_eq!(
            report,
            ReconcileReport {
                backlog: 3,
                oldest_age_secs: Some(3600),
                requeued_processing: 1,
                requeued_invites: 1,
                in_flight: 1,
                needs_operator: 1,
                failed: 0,
                unreadable: 0,
                requeued_hold_notices: 0,
                queued_wait_notices: 0,
            }
        );
        let processing: ProcessorMessage =
            serde_json::from_str(&r.processor_queue.bodies()[0]).unwrap();
        assert_eq!(processing.payment_id.get(), 1);
        let invite: InviteRequest = serde_json::from_str(&r.invite_queue.bodies()[0]).unwrap();
        assert_eq!(invite.payment_id.get(), 2);
    }

    #[tokio::test]
    async fn a_failed_send_is_counted_and_the_rest_still_go_out() {
        let (r, clock) = reconciler();
        let now = clock.now();
        for id in [1, 2] {
            let mut record = sample_record(id);
            record.created_at = now - TimeDelta::hours(1);
            record.updated_at = record.created_at;
            record.processed = id == 2;
            r.store.put_payment(record);
        }
        r.processor_queue.set_unavailable(true);
        let report = r.reconcile().await.unwrap();
        assert_eq!((report.failed, report.requeued_invites), (1, 1));
    }

    #[tokio::test]
    async fn a_payment_is_requeued_once_per_quiet_period_not_once_per_run() {
        let (r, clock) = reconciler();
        let now = clock.now();
        let mut stuck = sample_record(1);
        stuck.created_at = now - TimeDelta::hours(1);
        stuck.updated_at = stuck.created_at;
        stuck.processed = true;
        r.store.put_payment(stuck);
        let mut busy = sample_record(2);
        busy.created_at = now - TimeDelta::hours(1);
        busy.updated_at = now - TimeDelta::minutes(1); // a worker touched it a minute ago
        busy.processed = true;
        r.store.put_payment(busy);

        let first = r.reconcile().await.unwrap();
        assert_eq!((first.requeued_invites, first.in_flight), (1, 1));
        clock.advance(TimeDelta::minutes(5));
        let second = r.reconcile().await.unwrap();
        assert_eq!(
            second.requeued_invites, 0,
            "its message may still be queued"
        );
        clock.advance(TimeDelta::minutes(15));
        let third = r.reconcile().await.unwrap();
        assert_eq!(
            third.requeued_invites, 2,
            "quiet for longer than stuck_after: again"
        );
        assert_eq!(r.invite_queue.bodies().len(), 3);
    }

    #[tokio::test]
    async fn rows_only_an_operator_can_move_never_starve_newer_stuck_payments() {
        // GIVEN more seed rows needing an operator than a run takes, all older than a
        // payment that is really stuck
        let (mut r, clock) = reconciler();
        r.batch = 10;
        let now = clock.now();
        for id in 1..=25 {
            let mut seed = sample_record(id);
            seed.purchase = None;
            seed.created_at = now - TimeDelta::days(30);
            seed.updated_at = seed.created_at;
            r.store.put_payment(seed);
        }
        let mut stuck = sample_record(100);
        stuck.created_at = now - TimeDelta::hours(1);
        stuck.updated_at = stuck.created_at;
        r.store.put_payment(stuck);

        // WHEN the reconciler runs once
        let report = r.reconcile().await.unwrap();

        // THEN the stuck payment is re-queued, the seed rows are counted apart, and the
        // age alarm sees the payment it can act on, not month-old seed rows
        assert_eq!(report.requeued_processing, 1, "{report:?}");
        assert_eq!(report.needs_operator, 10, "counted up to the batch");
        assert_eq!(report.oldest_age_secs, Some(3600));
    }

    fn held(payment_id: i64, received_at: DateTime<Utc>) -> crate::payment::PaymentReview {
        crate::payment::PaymentReview {
            payment_id: crate::ipn::PaymentId::new(payment_id).unwrap(),
            reason: crate::payment::HoldReason::PriceMismatch,
            ipn: crate::fixtures::SAMPLE_IPN.into(),
            received_at,
            decision: None,
            decided_at: None,
        }
    }

    #[tokio::test]
    async fn a_held_payment_untold_after_the_quiet_period_has_its_notice_queued_again() {
        use crate::payment::ReviewDecision;
        use crate::store::{
            HeldNoticeStore, IngressStore, NoticeClaim, NoticeFound, OperatorStore,
        };
        let (r, _clock) = reconciler();
        let old = start() - TimeDelta::hours(1);
        // Untold and old: its notice was lost (a crash, NOWPayments gave up retrying).
        r.store.hold_for_review(&held(11, old)).await.unwrap();
        // Told already.
        r.store.hold_for_review(&held(12, old)).await.unwrap();
        let claim = NoticeClaim {
            payment_id: crate::ipn::PaymentId::new(12).unwrap(),
            token: "t".into(),
            lease_until: start(),
            now: old,
        };
        assert!(matches!(
            r.store.claim_notice(&claim).await.unwrap(),
            NoticeFound::Claimed(_)
        ));
        let finished = r
            .store
            .finish_notice(claim.payment_id, "t", "buyer:sent owner:sent", old);
        assert_eq!(finished.await.unwrap(), crate::store::Fenced::Done);
        // Decided by an operator before it was told.
        r.store.hold_for_review(&held(13, old)).await.unwrap();
        r.store
            .decide_review(
                crate::ipn::PaymentId::new(13).unwrap(),
                ReviewDecision::Rejected,
                old,
            )
            .await
            .unwrap();
        // Just held: its first notice is on its way.
        r.store
            .hold_for_review(&held(14, start() - TimeDelta::minutes(1)))
            .await
            .unwrap();

        let report = r.reconcile().await.unwrap();
        assert_eq!(report.requeued_hold_notices, 1);
        assert_eq!(
            r.invite_queue.bodies(),
            vec![HoldNoticeRequest::new(crate::ipn::PaymentId::new(11).unwrap()).to_json()]
        );
    }

    #[tokio::test]
    async fn a_purchase_never_completed_within_the_wait_has_its_owners_notice_queued_until_told() {
        use crate::payment::{HoldReason, PaymentReview};
        use crate::store::{IngressStore, OpenPurchase, PurchasePartsStore};
        let (r, clock) = reconciler();
        let opened = clock.now();
        let id = crate::ipn::PaymentId::new(31).unwrap();
        let review = PaymentReview {
            payment_id: id,
            reason: HoldReason::Underpaid,
            ipn: crate::fixtures::SAMPLE_IPN.to_owned(),
            received_at: opened,
            decision: None,
            decided_at: None,
        };
        r.store.hold_for_review(&review).await.unwrap();
        let open = OpenPurchase {
            purchase_id: id,
            user_id: 7,
            channel_id: -100,
            price_amount: 10.0,
            price_currency: "usd".into(),
            first_paid: 6.0,
            first_outcome: None,
            opened_at: opened,
        };
        r.store.open_purchase(&open).await.unwrap();
        let wait_notices = |r: &Reconciler<MemoryStore, MemoryQueue, MemoryQueue>| {
            r.invite_queue
                .bodies()
                .iter()
                .filter(|body| PurchaseWaitNotice::recognise(body).is_some())
                .count()
        };
        // Within the wait: nothing.
        clock.advance(TimeDelta::hours(23));
        assert_eq!(r.reconcile().await.unwrap().queued_wait_notices, 0);
        // Past it: queued, and again on each run until the owner is told.
        clock.advance(TimeDelta::hours(2));
        assert_eq!(r.reconcile().await.unwrap().queued_wait_notices, 1);
        assert_eq!(r.reconcile().await.unwrap().queued_wait_notices, 1);
        assert_eq!(wait_notices(&r), 2);
        assert!(r.store.mark_owner_told(id, clock.now()).await.unwrap());
        assert_eq!(r.reconcile().await.unwrap().queued_wait_notices, 0);
        // The notices name the purchase (beside the untold hold's own notice).
        let named: Vec<_> = r
            .invite_queue
            .bodies()
            .iter()
            .filter_map(|body| PurchaseWaitNotice::recognise(body))
            .collect();
        assert_eq!(named, vec![PurchaseWaitNotice::new(id); 2]);
    }
}
