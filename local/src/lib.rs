//! The whole chain in one process (`telepay serve`; `make run` is its demo), hosting the
//! handlers exactly as Lambda calls them. The store and its queues live in one SQLite
//! file (the default; a restart loses no payment and no queued message) or in a Postgres
//! database (`TELEPAY_STORE_BACKEND=postgres`); with `--aws`, DynamoDB and SQS through the
//! normal SDK configuration (`AWS_ENDPOINT_URL` for moto), consumed as the Lambda event
//! source mapping does. Every scheduled job runs in-process: the sweeper, the
//! reconciler with its recovery pass, and the bot's forgetting of old once-records.
//!
//! Production is the default: every secret and service must be configured, and a missing
//! one stops the start, named. `--demo` (what `make run` passes) fills the gaps with the
//! demo secrets and catalog, the in-repo fake Bot API (it prints each invite it would
//! send; a user's actions on it, as `make demo-buy` drives them, reach the bot as
//! Telegram's updates would) and the fake NOWPayments (its pay action sends the signed
//! IPNs back to this run's `/np-webhook`).
//!
//! `args` (the flags and the environment), `backends` (SQLite, Postgres, or DynamoDB and
//! SQS), `fakes` (the Bot API and NOWPayments, real or fake), `serve` (the stages, their
//! consumers, the scheduled jobs and the HTTP listener), `consumer` (the event source
//! mapping's stand-in), `gateway` (API Gateway's), `scheduled` (the timers).

mod args;
mod backends;
mod consumer;
mod fakes;
mod gateway;
mod scheduled;
mod serve;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use telepay_core::catalog::{CatalogSource, LiveCatalog};
use telepay_core::signature::IpnSecret;
use telepay_shared::config::{self, Environment, ProcessEnvironment};

pub use args::Args;
use backends::{Backend, Chosen};
use backends::{LocalQueues, LocalStore};
pub use fakes::DEMO_WEBHOOK_SECRET;
use serve::Chain;

/// What every backend starts with: read once from the flags and the environment.
struct Start<'a> {
    args: &'a Args,
    env: ProcessEnvironment,
    port: u16,
    ipn_secret_text: String,
    refresh: std::time::Duration,
    seed: Option<telepay_core::catalog::Catalog>,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
    polling: bool,
}

/// Starts the chain and serves it until SIGTERM or Ctrl-C.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let env = ProcessEnvironment;
    let port = args::port(&env)?;
    let polling = args::polling(&env)?;
    if !args.demo {
        args::refuse_demo_defaults(&env, polling)?;
    }
    let ipn_secret_text = args::ipn_secret_text(&env, args.demo);
    // The catalog: the store's newest version (`telepay catalog apply`), read again as
    // it changes; until one is applied, the environment's directory or the demo one.
    let seed = args::catalog_seed(&env, args.demo)?;
    // Read again every second in the demo unless set: a local file costs nothing to read.
    let refresh = match env.get(config::CATALOG_REFRESH_SECONDS) {
        Some(_) => config::catalog_config(&env)?.refresh,
        None if args.demo => std::time::Duration::from_secs(1),
        None => config::catalog_config(&env)?.refresh,
    };
    // The same metric names as the functions' CloudWatch ones, at GET /metrics.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the Prometheus metrics recorder")?;
    telepay_core::metrics::describe();
    let start = Start {
        args: &args,
        env: ProcessEnvironment,
        port,
        ipn_secret_text,
        refresh,
        seed,
        metrics,
        polling,
    };
    let env = &ProcessEnvironment;
    if args.aws {
        let backend = backends::aws(env).await?;
        // DynamoDB without a catalog table: the seed alone, named when missing.
        let catalog = backend
            .store
            .live_catalog(start.refresh, start.seed.clone())
            .await?;
        // The payout queue belongs to the payout consumer: left alone here.
        return start.serve(backend, false, Some(catalog)).await;
    }
    match backends::chosen(env)? {
        Chosen::Sqlite => {
            let backend = backends::sqlite(env, args.demo).await?;
            start.serve(backend, args.demo, None).await
        }
        Chosen::Postgres => {
            let backend = backends::postgres(env, args.demo).await?;
            start.serve(backend, args.demo, None).await
        }
    }
}

impl Start<'_> {
    /// Wires the chain on `backend` and serves it. `consume_payouts`: the demo's stand-in
    /// for the payout service prints each instruction. `catalog`: already loaded, or
    /// loaded here from the store.
    async fn serve<S, Q>(
        self,
        backend: Backend<S, Q>,
        consume_payouts: bool,
        catalog: Option<LiveCatalog>,
    ) -> anyhow::Result<()>
    where
        S: LocalStore + CatalogSource + Send + Sync,
        Q: LocalQueues,
    {
        let env = &self.env;
        let port = self.port;
        let demo = self.args.demo;
        let secret = IpnSecret::new(self.ipn_secret_text.clone())?;
        // A fake's port: as set (and then required), or PORT+offset (and then a default).
        let fake_port = |variable: &str, offset: u16| -> anyhow::Result<(u16, bool)> {
            match env.get(variable) {
                Some(text) => Ok((text.parse().with_context(|| variable.to_owned())?, true)),
                None => Ok((port.wrapping_add(offset), false)),
            }
        };
        // Without a token (the demo only), the fake Bot API stands in for Telegram.
        let (telegram, fake) = fakes::telegram(env, &fake_port, demo).await?;
        let addr = SocketAddr::from((self.args.bind, port));
        let catalog = match catalog {
            Some(catalog) => catalog,
            None => {
                let source: Arc<dyn CatalogSource> = Arc::new(backend.store.clone());
                LiveCatalog::load(source, self.refresh, self.seed.clone()).await?
            }
        };
        let bot = fakes::bot_settings(
            env,
            port,
            catalog.clone(),
            &self.ipn_secret_text,
            &fake_port,
            demo,
            self.polling,
        )
        .await?;
        if let Some(fake) = fake.as_ref().filter(|_| !self.polling) {
            // As `telepay bot set-webhook` does against Telegram.
            telegram
                .set_webhook(
                    &format!("http://{addr}/telegram-webhook"),
                    bot.setup.secret.expose(),
                    telepay_shared::telegram::DEFAULT_MAX_CONNECTIONS,
                )
                .await?;
            println!(
                "fake Telegram on {} (a user's actions: POST /fake/user/<id>/write, /press, /join)",
                fake.url()
            );
        }
        let jobs = scheduled::jobs(env, demo, &backend.store, &backend.queues, catalog.clone())?;
        let settings = args::chain_settings(env, secret, catalog)?;
        let chain = Chain {
            settings,
            store: backend.store,
            queues: backend.queues,
            admission: backend.admission,
            telegram,
            bot,
            jobs,
            metrics: self.metrics,
            polling: self.polling,
        };
        chain.serve(addr, consume_payouts, &backend.described).await
    }
}
