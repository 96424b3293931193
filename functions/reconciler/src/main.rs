//! reconciler cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use lambda_runtime::{Error, service_fn};
use reconciler::handle;
use telepay_core::reconcile::Reconciler;
use telepay_shared::aws::consumer_timeouts;
use telepay_shared::cold_start::{self, ColdStart};
use telepay_shared::config::ReconcilerConfig;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyStore;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let ColdStart { metrics, sdk, env } =
        cold_start::begin("reconciler", consumer_timeouts()).await?;
    let config = ReconcilerConfig::from_env(&env)?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let reconciler = Reconciler::new(
        AnyStore::connect(&config.store, &sdk).await?,
        SqsQueue::new(sqs.clone(), config.processor_queue_url),
        SqsQueue::new(sqs, config.invite_queue_url),
        config.stuck_after,
        config.batch,
    );
    tracing::info!("reconciler cold start");
    telemetry::run(metrics, service_fn(|event| handle(&reconciler, event))).await
}
