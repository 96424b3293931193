//! reconciler: run on a schedule (EventBridge). Re-queues every payment stuck at a stage
//! and every held payment not yet told; then the recovery pass asks NOWPayments about
//! every payment under way whose finish is overdue, and admits the paid ones.
//! A store failure fails the invocation (visible in the function's Errors metric) after
//! both jobs ran; the next run tries again.

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use telepay_core::queue::MessageQueue;
use telepay_core::reconcile::{ReconcileReport, Reconciler};
use telepay_core::recovery::{PaymentRecovery, PaymentStatusApi, RecoveryReport};
use telepay_core::store::{
    HeldNoticeStore, IngressStore, OperatorStore, PaymentWatchStore, PurchasePartsStore,
    ReconcilerStore, SubscriptionStore,
};

/// The scheduled jobs, built once at cold start.
pub struct ScheduledJobs<S, P, I, A> {
    pub reconciler: Reconciler<S, P, I>,
    /// `None` without the NOWPayments API key: logged at cold start.
    pub recovery: Option<PaymentRecovery<S, P, A>>,
}

/// What one run found and did.
#[derive(Debug, Serialize)]
pub struct RunReport {
    #[serde(flatten)]
    pub reconciled: ReconcileReport,
    pub recovery: Option<RecoveryReport>,
}

pub async fn handle<S, P, I, A>(
    jobs: &ScheduledJobs<S, P, I, A>,
    _schedule: LambdaEvent<serde_json::Value>,
) -> Result<RunReport, lambda_runtime::Error>
where
    S: ReconcilerStore
        + HeldNoticeStore
        + IngressStore
        + SubscriptionStore
        + PaymentWatchStore
        + PurchasePartsStore
        + OperatorStore,
    P: MessageQueue,
    I: MessageQueue,
    A: PaymentStatusApi,
{
    let reconciled = jobs.reconciler.reconcile().await;
    let recovery = match &jobs.recovery {
        Some(recovery) => Some(recovery.run().await),
        None => None,
    };
    Ok(RunReport {
        reconciled: reconciled?,
        recovery: recovery.transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{TimeDelta, Utc};
    use telepay_core::directory::ChannelDirectory;
    use telepay_core::fixtures::{SAMPLE_DIRECTORY, sample_record};
    use telepay_core::ipn::PaymentId;
    use telepay_core::queue::memory::MemoryQueue;
    use telepay_core::recovery::{RecoverySettings, StatusError};
    use telepay_core::store::memory::MemoryStore;
    use telepay_core::webhook::PaymentIngress;

    use super::*;

    /// NOWPayments answering that it cannot be reached: the pass runs, recovers nothing.
    struct Unreachable;

    impl PaymentStatusApi for Unreachable {
        async fn payment_status(&self, _: PaymentId) -> Result<String, StatusError> {
            Err(StatusError::Unavailable("connection refused".into()))
        }
    }

    type Jobs = ScheduledJobs<MemoryStore, MemoryQueue, MemoryQueue, Unreachable>;

    fn jobs(with_recovery: bool) -> Jobs {
        let recovery = with_recovery.then(|| {
            let ingress = PaymentIngress::new(
                ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
                MemoryStore::new(),
                MemoryQueue::new(),
            );
            PaymentRecovery::new(ingress, Unreachable, RecoverySettings::default())
        });
        ScheduledJobs {
            reconciler: Reconciler::new(
                MemoryStore::new(),
                MemoryQueue::new(),
                MemoryQueue::new(),
                Duration::from_secs(900),
                100,
            ),
            recovery,
        }
    }

    fn scheduled_event() -> LambdaEvent<serde_json::Value> {
        let event = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/reconciler-schedule.json"
        ))
        .unwrap();
        LambdaEvent::new(
            serde_json::from_str(&event).unwrap(),
            lambda_runtime::Context::default(),
        )
    }

    #[tokio::test]
    async fn the_scheduled_event_requeues_a_stuck_payment_and_reports_the_backlog() {
        let jobs = jobs(false);
        let mut stuck = sample_record(1);
        stuck.created_at = Utc::now() - TimeDelta::hours(2);
        stuck.updated_at = stuck.created_at;
        jobs.reconciler.store.put_payment(stuck);
        let report = handle(&jobs, scheduled_event()).await.unwrap();
        assert_eq!(
            (
                report.reconciled.backlog,
                report.reconciled.requeued_processing
            ),
            (1, 1)
        );
        assert_eq!(jobs.reconciler.processor_queue.bodies().len(), 1);
        assert_eq!(report.recovery, None, "no API key, no recovery pass");
    }

    #[tokio::test]
    async fn the_recovery_pass_runs_with_the_reconciler_and_its_report_is_returned() {
        let jobs = jobs(true);
        let report = handle(&jobs, scheduled_event()).await.unwrap();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["recovery"]["due"], 0);
        assert_eq!(
            json["backlog"], 0,
            "the reconciler's figures stay at the top level"
        );
    }

    #[tokio::test]
    async fn an_unavailable_store_fails_the_invocation_after_both_jobs_ran() {
        let jobs = jobs(true);
        jobs.reconciler.store.set_unavailable(true);
        assert!(handle(&jobs, scheduled_event()).await.is_err());
        let recovery = jobs.recovery.as_ref().unwrap();
        recovery.ingress.store.set_unavailable(true);
        jobs.reconciler.store.set_unavailable(false);
        assert!(
            handle(&jobs, scheduled_event()).await.is_err(),
            "a recovery pass that cannot list its watches fails the run too"
        );
    }
}
