//! Where the local run keeps its payments and queues: one SQLite file by default (a
//! restart loses no payment and no queued message), or DynamoDB and SQS with `--aws`
//! (the normal SDK configuration; `AWS_ENDPOINT_URL` for moto).

use std::path::PathBuf;

use anyhow::Context;
use telepay_core::chain::StageQueues;
use telepay_shared::aws::{consumer_timeouts, load_sdk_config};
use telepay_shared::config::{self, Environment, ProcessEnvironment, StoreConfig};
use telepay_shared::local_queue::{LocalQueue, create_local_queues};
use telepay_shared::sql::SqliteStore;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyStore;

/// A store, the chain's queues and the bot's re-check queue, and how to name them.
pub struct Backend<S, Q> {
    pub store: S,
    pub queues: StageQueues<Q>,
    pub admission: Q,
    pub described: String,
}

/// DynamoDB and SQS, from the same variables as the functions.
pub async fn aws(env: &ProcessEnvironment) -> anyhow::Result<Backend<AnyStore, SqsQueue>> {
    let store_config = StoreConfig::for_bot_from_env(env)?.watching()?;
    let sdk = load_sdk_config(consumer_timeouts()).await;
    let store = AnyStore::connect(&store_config, &sdk).await?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = |variable: &'static str| {
        env.required(variable)
            .map(|url| SqsQueue::new(sqs.clone(), url))
    };
    Ok(Backend {
        store,
        queues: StageQueues {
            processor: queue(config::PROCESSOR_QUEUE_URL)?,
            invite: queue(config::INVITE_QUEUE_URL)?,
            payout: queue(config::PAYOUT_QUEUE_URL)?,
            lifecycle: queue(config::LIFECYCLE_QUEUE_URL)?,
        },
        admission: queue(config::ADMISSION_QUEUE_URL)?,
        described: "DynamoDB + SQS (--aws)".into(),
    })
}

/// The SQLite file `TELEPAY_LOCAL_DB` (default `.telepay/local.sqlite`), brought up to
/// date at start: a local file of our own, so that is what a user wants.
pub async fn sqlite(env: &ProcessEnvironment) -> anyhow::Result<Backend<SqliteStore, LocalQueue>> {
    let path = PathBuf::from(
        env.get("TELEPAY_LOCAL_DB")
            .unwrap_or_else(|| ".telepay/local.sqlite".into()),
    );
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let store = SqliteStore::open(&path).await?;
    store.migrate().await?;
    create_local_queues(store.pool()).await?;
    let queue = |name| LocalQueue::named(store.pool().clone(), name).expect("a local queue");
    let queues = StageQueues {
        processor: queue("processor"),
        invite: queue("invite"),
        payout: queue("payout"),
        lifecycle: queue("lifecycle"),
    };
    let admission = queue("admission");
    Ok(Backend {
        store,
        queues,
        admission,
        described: format!("SQLite file {}", path.display()),
    })
}
