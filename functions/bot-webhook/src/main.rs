//! bot-webhook cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use bot_webhook::handle;
use lambda_http::{Error, service_fn};
use telepay_core::bot::{BotFrontDoor, BotSetup, BotTiming};
use telepay_shared::aws::{lambda_sdk_config, webhook_timeouts};
use telepay_shared::config::{BotWebhookConfig, ProcessEnvironment};
use telepay_shared::nowpayments::NowPaymentsInvoices;
use telepay_shared::secrets::read_secrets;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyPaymentStore;
use telepay_shared::telegram::BotApiInviter;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let metrics = telemetry::init_metrics("bot-webhook")?;
    let sdk = lambda_sdk_config(&ProcessEnvironment, webhook_timeouts())?;
    // Secrets from Secrets Manager where the template names them, else plain variables.
    let env = read_secrets(ProcessEnvironment, &sdk).await?;
    let config = BotWebhookConfig::from_env(&env)?;
    let store = AnyPaymentStore::connect(&config.store, &sdk).await?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let telegram = BotApiInviter::new(config.bot_token, config.api_url.as_deref())?;
    let invoices =
        NowPaymentsInvoices::new(config.nowpayments_key, config.nowpayments_url.as_deref())?;
    let setup = BotSetup {
        secret: config.secret,
        directory: config.directory,
        texts: config.texts,
        settings: config.lifecycle,
        urls: config.urls,
        timing: BotTiming::default(),
    };
    let bot = BotFrontDoor::new(
        setup,
        store,
        telegram,
        invoices,
        SqsQueue::new(sqs.clone(), config.admission_queue_url),
        SqsQueue::new(sqs, config.invite_queue_url),
    );
    tracing::info!("bot-webhook cold start");
    telemetry::run_http(metrics, service_fn(|request| handle(&bot, request))).await
}
