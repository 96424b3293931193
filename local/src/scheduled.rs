//! The scheduled jobs, in-process: what EventBridge runs in the Lambda chain. The
//! reconciler (stuck payments re-queued, held payments told) with the recovery pass
//! (NOWPayments asked about payments whose IPNs are overdue) every
//! `TELEPAY_RECONCILE_EVERY_S` (default 300, the template's `rate(5 minutes)`), and the
//! bot's once-records forgotten once their keep time has passed, hourly (what DynamoDB's
//! TTL does for the Lambda chain; `telepay bot forget` by hand).

use std::time::Duration;

use anyhow::Context;
use reconciler::ScheduledJobs;
use telepay_core::catalog::LiveCatalog;
use telepay_core::chain::StageQueues;
use telepay_core::reconcile::{Reconciler, TOPUP_WAIT};
use telepay_core::recovery::PaymentRecovery;
use telepay_core::webhook::PaymentIngress;
use telepay_shared::config::{self, Environment, ProcessEnvironment, ReconcileJobs};
use telepay_shared::nowpayments::NowPaymentsPayments;
use tracing::{info, warn};

use crate::backends::{LocalQueues, LocalStore};

/// The reconciler's jobs on the server's store and queues.
pub type ServerJobs<S, Q> = ScheduledJobs<S, Q, Q, NowPaymentsPayments>;

/// How often the reconciler runs: the template's `rate(5 minutes)`.
const DEFAULT_RECONCILE_EVERY: Duration = Duration::from_secs(300);
/// How often old once-records are forgotten, and how many per statement.
const FORGET_EVERY: Duration = Duration::from_secs(3600);
const FORGET_BATCH: usize = 1000;

/// The reconciler and (with the NOWPayments API key, always set in production) its
/// recovery pass, from the reconciler function's variables.
pub fn jobs<S: LocalStore, Q: LocalQueues>(
    env: &ProcessEnvironment,
    demo: bool,
    store: &S,
    queues: &StageQueues<Q>,
    catalog: LiveCatalog,
) -> anyhow::Result<ServerJobs<S, Q>> {
    let settings = ReconcileJobs::from_env(env)?;
    let recovery = match settings.recovery {
        Some(recovery) => {
            let api = NowPaymentsPayments::new(recovery.api_key, recovery.api_url.as_deref())?;
            let api = match recovery.account {
                Some(account) => api.with_account(account),
                None => api,
            };
            let ingress = PaymentIngress::new(catalog, store.clone(), queues.processor.clone())
                .with_notice_queue(queues.invite.clone())
                .with_lifecycle(recovery.lifecycle);
            Some(PaymentRecovery::new(ingress, api, recovery.settings))
        }
        // Production requires the key (named at start); the demo's fake needs none.
        None => {
            if !demo {
                anyhow::bail!("{} is not set", config::NOWPAYMENTS_API_KEY);
            }
            None
        }
    };
    Ok(ScheduledJobs {
        reconciler: Reconciler::new(
            store.clone(),
            queues.processor.clone(),
            queues.invite.clone(),
            settings.stuck_after,
            settings.batch,
        )
        .with_topup_wait(chrono::TimeDelta::from_std(settings.topup_wait).unwrap_or(TOPUP_WAIT)),
        recovery,
    })
}

/// Runs the reconciler on its timer, and the forgetting hourly, until the process ends.
pub fn spawn<S: LocalStore, Q: LocalQueues>(
    jobs: ServerJobs<S, Q>,
    store: S,
) -> anyhow::Result<()> {
    let every = match ProcessEnvironment.get("TELEPAY_RECONCILE_EVERY_S") {
        Some(text) => Duration::from_secs(
            text.trim()
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .context("TELEPAY_RECONCILE_EVERY_S: seconds, 1 or more")?,
        ),
        None => DEFAULT_RECONCILE_EVERY,
    };
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            let schedule = lambda_runtime::LambdaEvent::new(
                serde_json::json!({"source": "telepay.serve"}),
                lambda_runtime::Context::default(),
            );
            match reconciler::handle(&jobs, schedule).await {
                Ok(report) => {
                    info!(report = %serde_json::to_string(&report).unwrap_or_default(), "reconciled")
                }
                Err(err) => warn!(error = %err, "reconciler run failed; the next one tries again"),
            }
        }
    });
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(FORGET_EVERY);
        loop {
            ticks.tick().await;
            loop {
                match store.forget_expired(chrono::Utc::now(), FORGET_BATCH).await {
                    Ok(n) if n as usize >= FORGET_BATCH => continue,
                    Ok(n) => {
                        if n > 0 {
                            info!(
                                forgotten = n,
                                "bot once-records past their keep time forgotten"
                            );
                        }
                        break;
                    }
                    Err(err) => {
                        warn!(error = %err, "forgetting old bot records failed; the next hour tries again");
                        break;
                    }
                }
            }
        }
    });
    Ok(())
}
