//! admission-recheck cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use admission_recheck::handle;
use lambda_runtime::{Error, service_fn};
use telepay_core::bot::AdmissionStage;
use telepay_shared::aws::consumer_timeouts;
use telepay_shared::cold_start::{self, ColdStart};
use telepay_shared::config::AdmissionRecheckConfig;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyStore;
use telepay_shared::telegram::TelegramBotApi;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let ColdStart { metrics, sdk, env } =
        cold_start::begin("admission-recheck", consumer_timeouts()).await?;
    let config = AdmissionRecheckConfig::from_env(&env)?;
    let store = AnyStore::connect(&config.store, &sdk).await?;
    let catalog = store
        .live_catalog(config.catalog.refresh, config.catalog.seed.clone())
        .await?;
    let telegram = TelegramBotApi::new(config.bot_token, config.api_url.as_deref())?;
    // A token rotated in BotFather and in its secret reaches this warm function.
    let telegram = telepay_shared::secrets::renewing_bot(telegram, &env, &sdk)?;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.admission_queue_url);
    let stage = AdmissionStage::new(store, telegram, queue, catalog, config.lifecycle);
    tracing::info!("admission-recheck cold start");
    let admission = stage.admission();
    telemetry::run(
        metrics,
        service_fn(|event| handle(&admission, &stage.clock, event)),
    )
    .await
}
