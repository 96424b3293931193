//! subscription-lifecycle cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use lambda_runtime::{Error, service_fn};
use subscription_lifecycle::handle;
use telepay_core::subscription::{LifecycleWorker, Pacer};
use telepay_shared::aws::{consumer_timeouts, lambda_sdk_config};
use telepay_shared::config::{LifecycleConfig, ProcessEnvironment};
use telepay_shared::secrets::read_secrets;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyPaymentStore;
use telepay_shared::telegram::BotApiInviter;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let metrics = telemetry::init_metrics("subscription-lifecycle")?;
    let sdk = lambda_sdk_config(&ProcessEnvironment, consumer_timeouts())?;
    // Secrets from Secrets Manager where the template names them, else plain variables.
    let env = read_secrets(ProcessEnvironment, &sdk).await?;
    let config = LifecycleConfig::from_env(&env)?;
    let store = AnyPaymentStore::connect(&config.store, &sdk).await?;
    let lifecycle_queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.lifecycle_queue_url);
    let telegram = BotApiInviter::new(config.bot_token, config.api_url.as_deref())?;
    let worker = LifecycleWorker::new(
        store,
        telegram,
        config.directory,
        config.settings,
        config.texts,
    );
    let pacer = Pacer::per_second(config.tasks_per_second);
    tracing::info!("subscription-lifecycle cold start");
    telemetry::run(
        metrics,
        service_fn(|event| handle(&worker, &pacer, &lifecycle_queue, event)),
    )
    .await
}
