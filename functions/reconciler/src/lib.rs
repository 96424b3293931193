//! reconciler: run on a schedule (EventBridge), re-queues every payment stuck at a stage, and every held payment not yet told.
//! A store failure fails the invocation (visible in the function's Errors metric); the
//! next run tries again.

use lambda_runtime::LambdaEvent;
use telepay_core::queue::MessageQueue;
use telepay_core::reconcile::{ReconcileReport, Reconciler};
use telepay_core::store::{HeldNoticeStore, ReconcilerStore};

pub async fn handle<S: ReconcilerStore + HeldNoticeStore, P: MessageQueue, I: MessageQueue>(
    reconciler: &Reconciler<S, P, I>,
    _schedule: LambdaEvent<serde_json::Value>,
) -> Result<ReconcileReport, lambda_runtime::Error> {
    Ok(reconciler.reconcile().await?)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{TimeDelta, Utc};
    use telepay_core::fixtures::sample_record;
    use telepay_core::queue::memory::MemoryQueue;
    use telepay_core::store::memory::MemoryStore;

    use super::*;

    fn reconciler() -> Reconciler<MemoryStore, MemoryQueue, MemoryQueue> {
        Reconciler::new(
            MemoryStore::new(),
            MemoryQueue::new(),
            MemoryQueue::new(),
            Duration::from_secs(900),
            100,
        )
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
        let reconciler = reconciler();
        let mut stuck = sample_record(1);
        stuck.created_at = Utc::now() - TimeDelta::hours(2);
        stuck.updated_at = stuck.created_at;
        reconciler.store.put_payment(stuck);
        let report = handle(&reconciler, scheduled_event()).await.unwrap();
        assert_eq!((report.backlog, report.requeued_processing), (1, 1));
        assert_eq!(reconciler.processor_queue.bodies().len(), 1);
    }

    #[tokio::test]
    async fn an_unavailable_store_fails_the_invocation() {
        let reconciler = reconciler();
        reconciler.store.set_unavailable(true);
        assert!(handle(&reconciler, scheduled_event()).await.is_err());
    }
}
