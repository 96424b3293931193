//! np-webhook cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use lambda_http::{Error, service_fn};
use np_webhook::handle;
use telepay_core::rotation::REREAD_PAUSE;
use telepay_core::webhook::PaymentWebhook;
use telepay_shared::aws::webhook_timeouts;
use telepay_shared::cold_start::{self, ColdStart};
use telepay_shared::config::{self, Environment, WebhookConfig};
use telepay_shared::secrets::SecretsManagerSource;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyStore;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let ColdStart { metrics, sdk, env } =
        cold_start::begin("np-webhook", webhook_timeouts()).await?;
    let config = WebhookConfig::from_env(&env)?;
    let store = AnyStore::connect(&config.store, &sdk).await?;
    let catalog = store
        .live_catalog(config.catalog.refresh, config.catalog.seed.clone())
        .await?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = SqsQueue::new(sqs.clone(), config.processor_queue_url);
    let notices = SqsQueue::new(sqs, config.invite_queue_url);
    let webhook = PaymentWebhook::new(config.ipn_secret, catalog, store, queue)
        .with_lifecycle(config.lifecycle)
        .with_notice_queue(notices);
    // A rotated IPN secret reaches this warm function: read again on a refused signature.
    let webhook = match env.optional(config::IPN_SECRET_ARN) {
        Some(arn) => webhook
            .with_secret_source(
                std::sync::Arc::new(SecretsManagerSource::new(&sdk, arn)),
                REREAD_PAUSE,
            )
            .with_secret_max_age(config::secret_max_age(&env)?),
        None => webhook,
    };
    tracing::info!("np-webhook cold start");
    telemetry::run_http(metrics, service_fn(|request| handle(&webhook, request))).await
}
