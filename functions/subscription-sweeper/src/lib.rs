//! subscription-sweeper: run on a schedule (EventBridge, every 5 minutes), queues the
//! reminders, removals and end notices that are due on the lifecycle queue. A store
//! failure fails the invocation (the function's Errors metric); the next run tries again.

use lambda_runtime::LambdaEvent;
use telepay_core::access::{SubscriptionSweeper, SweepReport};
use telepay_core::metrics::{self, signal};
use telepay_core::queue::TaskQueue;
use telepay_core::store::SubscriptionStore;

/// How long one run keeps reading full due-index pages: well inside the function's
/// 120 s timeout in template.yaml, so the last page's sends and marks finish.
pub const RUN_BUDGET: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

pub async fn handle<S: SubscriptionStore, Q: TaskQueue>(
    sweeper: &SubscriptionSweeper<S, Q>,
    _schedule: LambdaEvent<serde_json::Value>,
) -> Result<SweepReport, lambda_runtime::Error> {
    let report = sweeper
        .sweep_until(sweeper.clock.now() + RUN_BUDGET)
        .await?;
    metrics::reading(signal::SUBSCRIPTIONS_DUE, report.due as f64);
    metrics::reading(signal::SUBSCRIPTIONS_UNREADABLE, report.unreadable as f64);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, Utc};
    use telepay_core::access::{LifecycleMessage, grant_time};
    use telepay_core::order::UserId;
    use telepay_core::queue::memory::MemoryQueue;
    use telepay_core::store::memory::MemoryStore;
    use telepay_core::subscription::{
        AccessDuration, GrantSource, LifecycleSettings, SubscriptionKey, Task, TimeGrant,
    };

    use super::*;

    fn sweeper() -> SubscriptionSweeper<MemoryStore, MemoryQueue> {
        SubscriptionSweeper::new(
            MemoryStore::new(),
            MemoryQueue::new(),
            LifecycleSettings::default(),
            100,
        )
    }

    fn scheduled_event() -> LambdaEvent<serde_json::Value> {
        let event = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/subscription-sweeper-schedule.json"
        ))
        .unwrap();
        LambdaEvent::new(
            serde_json::from_str(&event).unwrap(),
            lambda_runtime::Context::default(),
        )
    }

    async fn bought(
        sweeper: &SubscriptionSweeper<MemoryStore, MemoryQueue>,
        user: i64,
        days_ago: i64,
    ) {
        let key = SubscriptionKey::new(UserId::new(user).unwrap(), -1002222222222);
        let grant = TimeGrant::new(
            GrantSource::Payment(user),
            Utc::now() - TimeDelta::days(days_ago),
            AccessDuration::from_days(30).unwrap(),
        );
        let at = grant.accepted_at;
        grant_time(&sweeper.store, key, &grant, at, &sweeper.settings)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_schedule_queues_each_due_task_once_per_quiet_period() {
        // GIVEN one buyer whose 30 days ended, one 2 days from the end, one just started
        let sweeper = sweeper();
        bought(&sweeper, 1, 31).await;
        bought(&sweeper, 2, 28).await;
        bought(&sweeper, 3, 1).await;
        // WHEN the sweeper runs twice in a row
        let report = handle(&sweeper, scheduled_event()).await.unwrap();
        let again = handle(&sweeper, scheduled_event()).await.unwrap();
        // THEN the removal and the 3-day reminder were queued once
        assert_eq!((report.removals_queued, report.reminders_queued), (1, 1));
        assert_eq!(again.due, 0, "queued tasks wait out their quiet period");
        let tasks: Vec<LifecycleMessage> = sweeper
            .lifecycle_queue
            .task_bodies()
            .iter()
            .map(|body| serde_json::from_str(body).unwrap())
            .collect();
        let by_user = |user: i64| {
            tasks
                .iter()
                .find(|t| t.user_id.get() == user)
                .map(|t| t.task)
        };
        assert_eq!(by_user(1), Some(Task::Removal));
        assert_eq!(
            by_user(2),
            Some(Task::Reminder {
                before_seconds: 3 * 86_400
            })
        );
        assert_eq!(by_user(3), None);
    }

    #[tokio::test]
    async fn a_burst_bigger_than_a_page_is_queued_in_one_run() {
        // GIVEN 250 buyers whose time ended together, and pages of 100
        let sweeper = sweeper();
        for user in 1..=250 {
            bought(&sweeper, user, 31).await;
        }
        // WHEN the schedule runs once
        let report = handle(&sweeper, scheduled_event()).await.unwrap();
        // THEN every removal is queued now, not one page per five-minute tick
        assert_eq!((report.removals_queued, report.pages), (250, 3));
        assert_eq!(sweeper.lifecycle_queue.task_bodies().len(), 250);
    }

    #[tokio::test]
    async fn a_queue_outage_leaves_the_task_due_for_the_next_run() {
        let sweeper = sweeper();
        bought(&sweeper, 1, 31).await;
        sweeper.lifecycle_queue.set_unavailable(true);
        let report = handle(&sweeper, scheduled_event()).await.unwrap();
        assert_eq!((report.queue_failures, report.removals_queued), (1, 0));
        sweeper.lifecycle_queue.set_unavailable(false);
        let report = handle(&sweeper, scheduled_event()).await.unwrap();
        assert_eq!(report.removals_queued, 1);
    }

    #[tokio::test]
    async fn an_unavailable_store_fails_the_invocation() {
        let sweeper = sweeper();
        sweeper.store.set_unavailable(true);
        assert!(handle(&sweeper, scheduled_event()).await.is_err());
    }

    #[test]
    fn a_queued_task_is_not_queued_again_while_it_waits_in_the_lifecycle_queue() {
        // GIVEN the lifecycle queue's visibility timeout as deployed
        let template = include_str!("../../../template.yaml");
        let queue = template
            .split("\n  LifecycleQueue:")
            .nth(1)
            .expect("the lifecycle queue");
        let visibility: i64 = queue
            .lines()
            .find_map(|l| l.trim().strip_prefix("VisibilityTimeout:"))
            .expect("its VisibilityTimeout")
            .trim()
            .parse()
            .unwrap();
        // THEN the sweeper's quiet period after queueing a task outlasts it: a task a
        // consumer holds invisibly is not queued a second time meanwhile
        let quiet = LifecycleSettings::default().requeue_quiet;
        assert!(
            quiet > TimeDelta::seconds(visibility),
            "quiet period {quiet} must outlast the visibility timeout of {visibility} s"
        );
    }
}
