//! subscription-lifecycle cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use lambda_runtime::{Error, service_fn};
use subscription_lifecycle::handle;
use telepay_core::access::{LifecycleWorker, Pacer};
use telepay_shared::aws::consumer_timeouts;
use telepay_shared::cold_start::{self, ColdStart};
use telepay_shared::config::LifecycleConfig;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyStore;
use telepay_shared::telegram::TelegramBotApi;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let ColdStart { metrics, sdk, env } =
        cold_start::begin("subscription-lifecycle", consumer_timeouts()).await?;
    let config = LifecycleConfig::from_env(&env)?;
    let store = AnyStore::connect(&config.store, &sdk).await?;
    let catalog = store
        .live_catalog(config.catalog.refresh, config.catalog.seed.clone())
        .await?;
    let lifecycle_queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.lifecycle_queue_url);
    let telegram = TelegramBotApi::new(config.bot_token, config.api_url.as_deref())?;
    // A token rotated in BotFather and in its secret reaches this warm function.
    let telegram = telepay_shared::secrets::renewing_bot(telegram, &env, &sdk)?;
    let worker = LifecycleWorker::new(store, telegram, catalog, config.settings, config.texts);
    let pacer = Pacer::per_second(config.tasks_per_second);
    tracing::info!("subscription-lifecycle cold start");
    telemetry::run(
        metrics,
        service_fn(|event| handle(&worker, &pacer, &lifecycle_queue, event)),
    )
    .await
}
