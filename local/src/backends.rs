//! Where the server keeps its payments and queues: one SQLite file (the default: a
//! restart loses no payment and no queued message), a Postgres database
//! (`TELEPAY_STORE_BACKEND=postgres`, `DATABASE_URL`: the store and the queues in it), or
//! DynamoDB and SQS with `--aws` (the normal SDK configuration; `AWS_ENDPOINT_URL` for
//! moto).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use telepay_core::chain::StageQueues;
use telepay_core::queue::{DelayedQueue, MessageQueue, RetryDelay, TaskQueue};
use telepay_core::store::{BotStore, PaymentStore, UpdateOffsetStore};

use crate::consumer::BatchSource;
use telepay_shared::aws::{consumer_timeouts, load_sdk_config};
use telepay_shared::config::{self, Environment, ProcessEnvironment, StoreConfig};
use telepay_shared::sql::{PostgresStore, SqlDialect, SqlStore, SqliteStore};
use telepay_shared::sql_queue::{
    DEMO_QUEUES, QueueDialect, SERVER_QUEUES, SqlQueue, adopt_local_queue_messages,
};
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyStore;

/// What the server's store must be: every port of the chain and the bot, shared by the stages.
pub trait LocalStore: PaymentStore + BotStore + UpdateOffsetStore + Clone + 'static {}
impl<S: PaymentStore + BotStore + UpdateOffsetStore + Clone + 'static> LocalStore for S {}

/// What the server's queues must be: what SQS gives the Lambda chain, and a batch source.
pub trait LocalQueues:
    MessageQueue + TaskQueue + RetryDelay + DelayedQueue + BatchSource + Clone + 'static
{
}
impl<Q> LocalQueues for Q where
    Q: MessageQueue + TaskQueue + RetryDelay + DelayedQueue + BatchSource + Clone + 'static
{
}

/// A store, the chain's queues and the bot's re-check queue, and how to name them.
pub struct Backend<S, Q> {
    pub store: S,
    pub queues: StageQueues<Q>,
    pub admission: Q,
    pub described: String,
}

/// Which backend the environment names: `TELEPAY_STORE_BACKEND` (default sqlite).
pub enum Chosen {
    Sqlite,
    Postgres,
}

pub fn chosen(env: &ProcessEnvironment) -> anyhow::Result<Chosen> {
    match env.get(config::STORE_BACKEND).unwrap_or_default().trim() {
        "" | "sqlite" => Ok(Chosen::Sqlite),
        "postgres" => Ok(Chosen::Postgres),
        "dynamodb" => {
            anyhow::bail!("TELEPAY_STORE_BACKEND=dynamodb: pass --aws (DynamoDB and SQS) instead")
        }
        other => anyhow::bail!(
            "TELEPAY_STORE_BACKEND: {other:?} is not one of sqlite, postgres (or --aws)"
        ),
    }
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

/// The SQLite file `TELEPAY_SQLITE_PATH` (or `TELEPAY_LOCAL_DB`; default
/// `.telepay/local.sqlite`), brought up to date at start: a file of the server's own.
pub async fn sqlite(
    env: &ProcessEnvironment,
    demo: bool,
) -> anyhow::Result<Backend<SqliteStore, SqlQueue<sqlx::Sqlite>>> {
    let path = PathBuf::from(
        env.get(config::SQLITE_PATH)
            .or_else(|| env.get("TELEPAY_LOCAL_DB"))
            .unwrap_or_else(|| ".telepay/local.sqlite".into()),
    );
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let store = SqliteStore::open(&path).await?;
    store.migrate().await?;
    adopt_local_queue_messages(store.pool()).await?;
    Ok(in_database(
        store,
        demo,
        format!("SQLite file {}", path.display()),
    ))
}

/// How many connections the server's Postgres pool holds: the consumers, the webhooks
/// and the scheduled jobs share it (`TELEPAY_DATABASE_CONNECTIONS`, default 16).
const DEFAULT_CONNECTIONS: u32 = 16;

/// The Postgres database `DATABASE_URL`, store and queues. Its migrations run at start
/// (`TELEPAY_MIGRATE_ON_START=false` leaves them to `telepay migrate`).
pub async fn postgres(
    env: &ProcessEnvironment,
    demo: bool,
) -> anyhow::Result<Backend<PostgresStore, SqlQueue<sqlx::Postgres>>> {
    let url = config::DatabaseUrl::new(env.required(config::DATABASE_URL)?);
    let connections = match env.get("TELEPAY_DATABASE_CONNECTIONS") {
        Some(n) => n
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .context("TELEPAY_DATABASE_CONNECTIONS: a number of connections, 1 or more")?,
        None => DEFAULT_CONNECTIONS,
    };
    let store = PostgresStore::connect_pool(&url, Duration::from_secs(10), connections).await?;
    let migrate = env
        .get("TELEPAY_MIGRATE_ON_START")
        .is_none_or(|v| !v.trim().eq_ignore_ascii_case("false"));
    if migrate {
        store.migrate().await?;
    }
    Ok(in_database(store, demo, "Postgres (DATABASE_URL)".into()))
}

/// The five queues in the store's own database.
fn in_database<DB: SqlDialect + QueueDialect>(
    store: SqlStore<DB>,
    demo: bool,
    described: String,
) -> Backend<SqlStore<DB>, SqlQueue<DB>> {
    let settings = if demo { &DEMO_QUEUES } else { &SERVER_QUEUES };
    let queue = |name| {
        SqlQueue::named(store.pool().clone(), name, settings).expect("one of the five queues")
    };
    let queues = StageQueues {
        processor: queue("processor"),
        invite: queue("invite"),
        payout: queue("payout"),
        lifecycle: queue("lifecycle"),
    };
    let admission = queue("admission");
    Backend {
        store,
        queues,
        admission,
        described,
    }
}
