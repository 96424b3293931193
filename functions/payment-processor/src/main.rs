//! payment-processor cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use lambda_runtime::{Error, service_fn};
use payment_processor::handle;
use telepay_core::processor::PaymentProcessor;
use telepay_shared::aws::consumer_timeouts;
use telepay_shared::cold_start::{self, ColdStart};
use telepay_shared::config::ProcessorConfig;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyStore;
use telepay_shared::telegram::TelegramBotApi;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let ColdStart { metrics, sdk, env } =
        cold_start::begin("payment-processor", consumer_timeouts()).await?;
    let config = ProcessorConfig::from_env(&env)?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let store = AnyStore::connect(&config.store, &sdk).await?;
    // The bot's Stars ledger vouches for a Stars payment before it is recorded.
    let stars_ledger = TelegramBotApi::new(config.bot_token, config.api_url.as_deref())?;
    let stars_ledger = telepay_shared::secrets::renewing_bot(stars_ledger, &env, &sdk)?;
    let processor = PaymentProcessor::new(
        store,
        SqsQueue::new(sqs.clone(), config.payout_queue_url),
        SqsQueue::new(sqs, config.invite_queue_url),
    )
    .with_ipn_secret(config.ipn_secret)
    .with_lifecycle(config.lifecycle)
    .with_stars_ledger(stars_ledger);
    tracing::info!("payment-processor cold start");
    telemetry::run(metrics, service_fn(|event| handle(&processor, event))).await
}
