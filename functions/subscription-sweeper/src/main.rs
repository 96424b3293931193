//! subscription-sweeper cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use lambda_runtime::{Error, service_fn};
use subscription_sweeper::handle;
use telepay_core::access::SubscriptionSweeper;
use telepay_shared::aws::consumer_timeouts;
use telepay_shared::cold_start::{self, ColdStart};
use telepay_shared::config::SweeperConfig;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyStore;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let ColdStart { metrics, sdk, env } =
        cold_start::begin("subscription-sweeper", consumer_timeouts()).await?;
    let config = SweeperConfig::from_env(&env)?;
    let sweeper = SubscriptionSweeper::new(
        AnyStore::connect(&config.store, &sdk).await?,
        SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.lifecycle_queue_url),
        config.settings,
        config.batch,
    );
    tracing::info!("subscription-sweeper cold start");
    telemetry::run(metrics, service_fn(|event| handle(&sweeper, event))).await
}
