//! np-webhook cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use lambda_http::{Error, service_fn};
use np_webhook::handle;
use telepay_core::webhook::PaymentWebhook;
use telepay_shared::aws::{lambda_sdk_config, webhook_timeouts};
use telepay_shared::config::{ProcessEnvironment, WebhookConfig};
use telepay_shared::secrets::read_secrets;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyPaymentStore;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let metrics = telemetry::init_metrics("np-webhook")?;
    let sdk = lambda_sdk_config(&ProcessEnvironment, webhook_timeouts())?;
    // Secrets from Secrets Manager where the template names them, else plain variables.
    let env = read_secrets(ProcessEnvironment, &sdk).await?;
    let config = WebhookConfig::from_env(&env)?;
    let store = AnyPaymentStore::connect(&config.store, &sdk).await?;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.processor_queue_url);
    let webhook = PaymentWebhook::new(config.ipn_secret, config.directory, store, queue)
        .with_lifecycle(config.lifecycle);
    tracing::info!("np-webhook cold start");
    telemetry::run_http(metrics, service_fn(|request| handle(&webhook, request))).await
}
