//! reconciler cold start: telemetry, configuration, clients, then the runtime loop.
// The runtime loop with its metrics layer around the handler nests deep futures.
#![recursion_limit = "256"]

use lambda_runtime::{Error, service_fn};
use reconciler::{ScheduledJobs, handle};
use telepay_core::reconcile::{Reconciler, TOPUP_WAIT};
use telepay_core::recovery::PaymentRecovery;
use telepay_core::rotation::REREAD_PAUSE;
use telepay_core::webhook::PaymentIngress;
use telepay_shared::aws::consumer_timeouts;
use telepay_shared::cold_start::{self, ColdStart};
use telepay_shared::config::{self, Environment, ReconcilerConfig};
use telepay_shared::nowpayments::NowPaymentsPayments;
use telepay_shared::secrets::SecretsManagerSource;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyStore;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let ColdStart { metrics, sdk, env } =
        cold_start::begin("reconciler", consumer_timeouts()).await?;
    let config = ReconcilerConfig::from_env(&env)?;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let store = AnyStore::connect(&config.store, &sdk).await?;
    let processor_queue = SqsQueue::new(sqs.clone(), &config.processor_queue_url);
    let invite_queue = SqsQueue::new(sqs, &config.invite_queue_url);
    let recovery = match config.jobs.recovery {
        Some(recovery) => {
            let api = NowPaymentsPayments::new(recovery.api_key, recovery.api_url.as_deref())?;
            // A key rotated in the dashboard and its secret reaches this warm function.
            let api = match env.optional(config::NOWPAYMENTS_API_KEY_ARN) {
                Some(arn) => api.with_key_source(
                    std::sync::Arc::new(SecretsManagerSource::new(&sdk, arn)),
                    REREAD_PAUSE,
                    config::secret_max_age(&env)?,
                ),
                None => api,
            };
            let api = match recovery.account {
                Some(account) => api.with_account(account),
                None => {
                    tracing::info!(
                        "no NOWPayments login (TELEPAY_NOWPAYMENTS_EMAIL/PASSWORD): the recovery pass asks about the payments it heard of, not ones whose every IPN was lost"
                    );
                    api
                }
            };
            let catalog = store
                .live_catalog(recovery.catalog.refresh, recovery.catalog.seed.clone())
                .await?;
            let ingress = PaymentIngress::new(catalog, store.clone(), processor_queue.clone())
                .with_notice_queue(invite_queue.clone())
                .with_lifecycle(recovery.lifecycle);
            Some(PaymentRecovery::new(ingress, api, recovery.settings))
        }
        None => {
            tracing::warn!(
                "recovery pass off: TELEPAY_NOWPAYMENTS_API_KEY is not set, so a payment whose IPNs are lost is not asked about"
            );
            None
        }
    };
    let jobs = ScheduledJobs {
        reconciler: Reconciler::new(
            store,
            processor_queue,
            invite_queue,
            config.jobs.stuck_after,
            config.jobs.batch,
        )
        .with_topup_wait(chrono::TimeDelta::from_std(config.jobs.topup_wait).unwrap_or(TOPUP_WAIT)),
        recovery,
    };
    tracing::info!("reconciler cold start");
    telemetry::run(metrics, service_fn(|event| handle(&jobs, event))).await
}
