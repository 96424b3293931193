//! payment-processor cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use lambda_runtime::{Error, service_fn};
use payment_processor::handle;
use telepay_core::processor::PaymentProcessor;
use telepay_shared::aws::{consumer_timeouts, lambda_sdk_config};
use telepay_shared::config::{ProcessEnvironment, ProcessorConfig};
use telepay_shared::secrets::read_secrets;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyPaymentStore;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let metrics = telemetry::init_metrics("payment-processor")?;
    let sdk = lambda_sdk_config(&ProcessEnvironment, consumer_timeouts())?;
    // Secrets from Secrets Manager where the template names them, else plain variables.
    let env = read_secrets(ProcessEnvironment, &sdk).await?;
    let config = ProcessorConfig::from_env(&env)?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let store = AnyPaymentStore::connect(&config.store, &sdk).await?;
    let processor = PaymentProcessor::new(
        store,
        SqsQueue::new(sqs.clone(), config.payout_queue_url),
        SqsQueue::new(sqs, config.invite_queue_url),
    )
    .with_lifecycle(config.lifecycle);
    tracing::info!("payment-processor cold start");
    telemetry::run(metrics, service_fn(|event| handle(&processor, event))).await
}
