//! A burst of expiries: thousands of members whose paid time ends at the same moment,
//! removed by the deployed shape of the lifecycle — the scheduled sweeper, then
//! `MaximumConcurrency` consumers of batches of five, each paced at its
//! tasks-per-second — against a fake Bot API that enforces Telegram's pace in real time
//! (30 messages a second overall, one a second per chat; beyond it, 429 with
//! `retry_after`). No other faults: this leg measures pace, not recovery.
//!
//! Figures: the time until every member is out and told, the 429s Telegram answered,
//! and, from Telegram's state, members removed more than once, members still in, and end
//! notices per buyer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use fake_bot_api::FakeBotApi;
use telepay_core::access::{LifecycleWorker, Pacer, SubscriptionSweeper, grant_time};
use telepay_core::directory::ChannelDirectory;
use telepay_core::order::UserId;
use telepay_core::queue::{QueueError, TaskQueue};
use telepay_core::store::ports::*;
use telepay_core::subscription::{
    AccessDuration, GrantSource, LifecycleSettings, LifecycleTexts, SubscriptionKey, TimeGrant,
};
use telepay_shared::telegram::{BotToken, TelegramBotApi};

use super::dice::Dice;
use super::sim_sqs::SimQueue;

const BOT_TOKEN: &str = "4242:burst-of-expiries";
const CHANNEL: i64 = -1002222222222;
const USER_BASE: i64 = 8_000_000_000;
const DIRECTORY: &str = r#"{"channels":[{"channel_id":-1003111266231,"private_channel_id":-1002222222222,
    "title":"Burst channel","tiers":[{"price_amount":3.21,"price_currency":"usd","subscription_days":30}]}]}"#;

/// The deployed shape, from template.yaml, unless a test asks for less.
#[derive(Debug, Clone)]
pub struct BurstConfig {
    pub expiries: usize,
    /// The lifecycle function's `MaximumConcurrency`.
    pub consumers: usize,
    pub batch: usize,
    /// `TELEPAY_LIFECYCLE_TASKS_PER_SECOND`, per consumer.
    pub tasks_per_second: u32,
    /// `TELEPAY_SWEEP_BATCH`: one due-index page.
    pub sweep_page: usize,
}

impl BurstConfig {
    pub fn deployed(expiries: usize) -> Self {
        Self {
            expiries,
            consumers: 2,
            batch: 5,
            tasks_per_second: telepay_core::access::DEFAULT_TASKS_PER_SECOND,
            sweep_page: 1000,
        }
    }
}

/// What the burst did.
#[derive(Debug, Clone, Default)]
pub struct BurstReport {
    pub backend: String,
    pub expiries: usize,
    pub consumers: usize,
    pub tasks_per_second: u32,
    /// From the sweep until the last member was out and told.
    pub time_to_finish: Duration,
    /// What the pace alone allows: expiries ÷ (consumers × tasks per second).
    pub paced_minimum: Duration,
    pub sweep_pages: usize,
    /// 429s Telegram answered for going too fast.
    pub rate_limited: u64,
    pub removed: usize,
    /// Members removed more than once: must be 0.
    pub removed_twice: Vec<i64>,
    /// Members still in the channel at the end: must be 0.
    pub still_in: Vec<i64>,
    /// Buyers told more than once / never that it ended: must be 0.
    pub notices_twice: Vec<i64>,
    pub never_told: Vec<i64>,
    pub dead_lettered: u64,
}

impl BurstReport {
    pub fn violations(&self) -> Vec<String> {
        let mut broken = Vec::new();
        for (ids, what) in [
            (&self.removed_twice, "members removed twice"),
            (&self.still_in, "expired members still in the channel"),
            (&self.notices_twice, "buyers told twice that it ended"),
            (&self.never_told, "buyers never told that it ended"),
        ] {
            if !ids.is_empty() {
                broken.push(format!(
                    "{} {what}: {:?}",
                    ids.len(),
                    &ids[..ids.len().min(10)]
                ));
            }
        }
        if self.dead_lettered > 0 {
            broken.push(format!("{} tasks dead-lettered", self.dead_lettered));
        }
        broken
    }
}

impl std::fmt::Display for BurstReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "== burst of {} expiries on {} ({} consumers × {} tasks/s, batches of 5) ==",
            self.expiries, self.backend, self.consumers, self.tasks_per_second
        )?;
        writeln!(
            f,
            "  time to finish                {:.1} s (the pace alone allows {:.1} s); {} due-index page(s) in one sweep",
            self.time_to_finish.as_secs_f64(),
            self.paced_minimum.as_secs_f64(),
            self.sweep_pages
        )?;
        writeln!(f, "  Telegram 429s                 {}", self.rate_limited)?;
        writeln!(
            f,
            "  removed                       {} (twice: {}; still in: {})",
            self.removed,
            self.removed_twice.len(),
            self.still_in.len()
        )?;
        writeln!(
            f,
            "  end notices                   told twice: {}; never told: {}; dead-lettered tasks: {}",
            self.notices_twice.len(),
            self.never_told.len(),
            self.dead_lettered
        )
    }
}

/// The lifecycle queue as the sweeper sends to it: no injected faults in this leg.
struct Lifecycle(Arc<SimQueue>);

impl TaskQueue for Lifecycle {
    async fn send_task(&self, subscription: SubscriptionKey, body: &str) -> Result<(), QueueError> {
        self.0.send(subscription.user_id.get(), body);
        Ok(())
    }
}

/// Runs the burst against `store` and reports.
pub async fn run<S: PaymentStore + 'static>(
    backend: &str,
    store: S,
    config: BurstConfig,
) -> BurstReport {
    let store = Arc::new(store);
    let fake = FakeBotApi::start(BOT_TOKEN).await;
    let settings = LifecycleSettings::default();
    // Everyone's 30 days ended a minute ago.
    let bought_at = Utc::now() - TimeDelta::days(30) - TimeDelta::minutes(1);
    let users: Vec<i64> = (0..config.expiries as i64).map(|i| USER_BASE + i).collect();
    for &user in &users {
        let key = SubscriptionKey::new(UserId::new(user).unwrap(), CHANNEL);
        let grant = TimeGrant::new(
            GrantSource::Payment(user),
            bought_at,
            AccessDuration::from_days(30).unwrap(),
        );
        grant_time(&*store, key, &grant, bought_at, &settings)
            .await
            .expect("seed a subscription");
        fake.add_member(CHANNEL, user);
    }
    fake.enforce_pace();

    // SQS as deployed: at-least-once, a long visibility timeout, five receives.
    let queue = Arc::new(SimQueue::new(
        "lifecycle",
        Duration::from_secs(900),
        5,
        0.0,
        Dice::new(0),
    ));
    let sweeper = SubscriptionSweeper::new(
        store.clone(),
        Lifecycle(queue.clone()),
        settings.clone(),
        config.sweep_page,
    );
    let telegram = TelegramBotApi::new(BotToken::new(BOT_TOKEN).unwrap(), Some(&fake.url()))
        .expect("the fake's URL");
    let worker = Arc::new(LifecycleWorker::new(
        store.clone(),
        telegram,
        ChannelDirectory::from_json(DIRECTORY).unwrap(),
        settings,
        LifecycleTexts::default(),
    ));

    let started = Instant::now();
    let sweep = sweeper
        .sweep_until(Utc::now() + TimeDelta::seconds(60))
        .await
        .expect("the sweep");
    let done = Arc::new(AtomicBool::new(false));
    let consumers: Vec<_> = (0..config.consumers)
        .map(|_| {
            let (queue, worker, done) = (queue.clone(), worker.clone(), done.clone());
            let pacer = Pacer::per_second(config.tasks_per_second);
            let batch_size = config.batch;
            tokio::spawn(async move {
                while !done.load(Ordering::Relaxed) {
                    let batch = queue.receive(batch_size);
                    if batch.is_empty() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                    let event = telepay_shared::sqs_event::sqs_batch(
                        batch.clone(),
                        Duration::from_secs(150),
                    );
                    let Ok(response) =
                        subscription_lifecycle::handle(&*worker, &pacer, &*queue, event).await;
                    queue.settle(&batch, &response);
                }
            })
        })
        .collect();
    // Finished when every task is settled (a 429'd task waits out its retry_after).
    while queue.outstanding() > 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let time_to_finish = started.elapsed();
    done.store(true, Ordering::Relaxed);
    for consumer in consumers {
        consumer.await.expect("a consumer");
    }

    let mut removals: HashMap<i64, usize> = HashMap::new();
    for removal in fake.removals().iter().filter(|r| r.was_member) {
        *removals.entry(removal.user_id).or_default() += 1;
    }
    let mut notices: HashMap<i64, usize> = HashMap::new();
    for call in fake.delivered("sendMessage") {
        if let Some(user) = call.chat_id() {
            *notices.entry(user).or_default() += 1;
        }
    }
    let paced_per_second = f64::from(config.tasks_per_second) * config.consumers as f64;
    BurstReport {
        backend: backend.to_owned(),
        expiries: config.expiries,
        consumers: config.consumers,
        tasks_per_second: config.tasks_per_second,
        time_to_finish,
        paced_minimum: Duration::from_secs_f64(config.expiries as f64 / paced_per_second),
        sweep_pages: sweep.pages,
        rate_limited: fake.paced_refusals(),
        removed: removals.len(),
        removed_twice: users
            .iter()
            .copied()
            .filter(|u| removals.get(u).copied().unwrap_or_default() > 1)
            .collect(),
        still_in: users
            .iter()
            .copied()
            .filter(|u| fake.is_member(CHANNEL, *u))
            .collect(),
        notices_twice: users
            .iter()
            .copied()
            .filter(|u| notices.get(u).copied().unwrap_or_default() > 1)
            .collect(),
        never_told: users
            .iter()
            .copied()
            .filter(|u| !notices.contains_key(u))
            .collect(),
        dead_lettered: queue.figures().dead_lettered,
    }
}
