//! bot-webhook cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use bot_webhook::handle;
use lambda_http::{Error, service_fn};
use telepay_core::bot::BotFrontDoor;
use telepay_core::rotation::REREAD_PAUSE;
use telepay_shared::aws::webhook_timeouts;
use telepay_shared::cold_start::{self, ColdStart};
use telepay_shared::config::BotWebhookConfig;
use telepay_shared::config::{self, Environment};
use telepay_shared::nowpayments::NowPaymentsInvoices;
use telepay_shared::secrets::SecretsManagerSource;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyStore;
use telepay_shared::telegram::TelegramBotApi;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let ColdStart { metrics, sdk, env } =
        cold_start::begin("bot-webhook", webhook_timeouts()).await?;
    let config = BotWebhookConfig::from_env(&env)?;
    let store = AnyStore::connect(&config.store, &sdk).await?;
    let catalog = store
        .live_catalog(config.catalog.refresh, config.catalog.seed.clone())
        .await?;
    let setup = config.bot_setup(catalog);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let telegram = TelegramBotApi::new(config.bot_token, config.api_url.as_deref())?;
    // A token rotated in BotFather and in its secret reaches this warm function.
    let telegram = telepay_shared::secrets::renewing_bot(telegram, &env, &sdk)?;
    let invoices =
        NowPaymentsInvoices::new(config.nowpayments_key, config.nowpayments_url.as_deref())?;
    // A key rotated in the dashboard and in its secret reaches this warm function: read
    // again when NOWPayments refuses the one held.
    let invoices = match env.optional(config::NOWPAYMENTS_API_KEY_ARN) {
        Some(arn) => invoices.with_key_source(
            std::sync::Arc::new(SecretsManagerSource::new(&sdk, arn)),
            REREAD_PAUSE,
            config::secret_max_age(&env)?,
        ),
        None => invoices,
    };
    let bot = BotFrontDoor::new(
        setup,
        store,
        telegram,
        invoices,
        SqsQueue::new(sqs.clone(), config.admission_queue_url),
        SqsQueue::new(sqs.clone(), config.invite_queue_url),
    )
    .with_processor_queue(SqsQueue::new(sqs, config.processor_queue_url));
    // A webhook secret rotated in Secrets Manager (and given to Telegram with `telepay bot
    // set-webhook`) reaches this warm function: read again when a header does not match.
    let bot = match env.optional(config::BOT_WEBHOOK_SECRET_ARN) {
        Some(arn) => bot.with_secret_source(
            std::sync::Arc::new(SecretsManagerSource::new(&sdk, arn)),
            REREAD_PAUSE,
            config::secret_max_age(&env)?,
        ),
        None => bot,
    };
    tracing::info!("bot-webhook cold start");
    telemetry::run_http(metrics, service_fn(|request| handle(&bot, request))).await
}
