//! invite-sender cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use invite_sender::handle;
use lambda_runtime::{Error, service_fn};
use telepay_core::invite::InviteSender;
use telepay_shared::aws::{consumer_timeouts, lambda_sdk_config};
use telepay_shared::config::{InviteSenderConfig, ProcessEnvironment};
use telepay_shared::secrets::read_secrets;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyPaymentStore;
use telepay_shared::telegram::BotApiInviter;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let metrics = telemetry::init_metrics("invite-sender")?;
    let sdk = lambda_sdk_config(&ProcessEnvironment, consumer_timeouts())?;
    // Secrets from Secrets Manager where the template names them, else plain variables.
    let env = read_secrets(ProcessEnvironment, &sdk).await?;
    let config = InviteSenderConfig::from_env(&env)?;
    let store = AnyPaymentStore::connect(&config.store, &sdk).await?;
    let invite_queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.invite_queue_url);
    let telegram = BotApiInviter::new(config.bot_token, config.api_url.as_deref())?;
    let sender = InviteSender::new(store, telegram, config.directory, config.settings)
        .with_lifecycle(config.lifecycle);
    tracing::info!("invite-sender cold start");
    telemetry::run(
        metrics,
        service_fn(|event| handle(&sender, &invite_queue, event)),
    )
    .await
}
