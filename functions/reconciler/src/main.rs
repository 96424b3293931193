//! reconciler cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use lambda_runtime::{Error, service_fn};
use reconciler::handle;
use telepay_core::reconcile::Reconciler;
use telepay_shared::aws::{consumer_timeouts, lambda_sdk_config};
use telepay_shared::config::{ProcessEnvironment, ReconcilerConfig};
use telepay_shared::secrets::read_secrets;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyPaymentStore;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let metrics = telemetry::init_metrics("reconciler")?;
    let sdk = lambda_sdk_config(&ProcessEnvironment, consumer_timeouts())?;
    // Secrets from Secrets Manager where the template names them, else plain variables.
    let env = read_secrets(ProcessEnvironment, &sdk).await?;
    let config = ReconcilerConfig::from_env(&env)?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let reconciler = Reconciler::new(
        AnyPaymentStore::connect(&config.store, &sdk).await?,
        SqsQueue::new(sqs.clone(), config.processor_queue_url),
        SqsQueue::new(sqs, config.invite_queue_url),
        config.stuck_after,
        config.batch,
    );
    tracing::info!("reconciler cold start");
    telemetry::run(metrics, service_fn(|event| handle(&reconciler, event))).await
}
