//! admission-recheck cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use admission_recheck::handle;
use lambda_runtime::{Error, service_fn};
use telepay_core::bot::BotTiming;
use telepay_core::bot::admission::Admission;
use telepay_core::clock::system_clock;
use telepay_shared::aws::{consumer_timeouts, lambda_sdk_config};
use telepay_shared::config::{AdmissionRecheckConfig, ProcessEnvironment};
use telepay_shared::secrets::read_secrets;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyPaymentStore;
use telepay_shared::telegram::BotApiInviter;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let metrics = telemetry::init_metrics("admission-recheck")?;
    let sdk = lambda_sdk_config(&ProcessEnvironment, consumer_timeouts())?;
    let env = read_secrets(ProcessEnvironment, &sdk).await?;
    let config = AdmissionRecheckConfig::from_env(&env)?;
    let store = AnyPaymentStore::connect(&config.store, &sdk).await?;
    let telegram = BotApiInviter::new(config.bot_token, config.api_url.as_deref())?;
    let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.admission_queue_url);
    let admission = Admission {
        store: &store,
        telegram: &telegram,
        rechecks: &queue,
        directory: &config.directory,
        texts: &config.texts,
        settings: &config.lifecycle,
        timing: BotTiming::default(),
    };
    let clock = system_clock();
    tracing::info!("admission-recheck cold start");
    telemetry::run(
        metrics,
        service_fn(|event| handle(&admission, &clock, event)),
    )
    .await
}
