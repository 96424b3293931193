//! subscription-sweeper cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use lambda_runtime::{Error, service_fn};
use subscription_sweeper::handle;
use telepay_core::subscription::SubscriptionSweeper;
use telepay_shared::aws::{consumer_timeouts, lambda_sdk_config};
use telepay_shared::config::{ProcessEnvironment, SweeperConfig};
use telepay_shared::secrets::read_secrets;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyPaymentStore;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let metrics = telemetry::init_metrics("subscription-sweeper")?;
    let sdk = lambda_sdk_config(&ProcessEnvironment, consumer_timeouts())?;
    // Secrets from Secrets Manager where the template names them, else plain variables.
    let env = read_secrets(ProcessEnvironment, &sdk).await?;
    let config = SweeperConfig::from_env(&env)?;
    let sweeper = SubscriptionSweeper::new(
        AnyPaymentStore::connect(&config.store, &sdk).await?,
        SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.lifecycle_queue_url),
        config.settings,
        config.batch,
    );
    tracing::info!("subscription-sweeper cold start");
    telemetry::run(metrics, service_fn(|event| handle(&sweeper, event))).await
}
