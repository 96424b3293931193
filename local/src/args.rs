//! What the local run is told: its one flag, and the configuration it reads from the
//! environment (the port, the IPN secret, the channel directory, the lifecycle), with
//! the demo defaults `make run` starts on.

use anyhow::Context;
use clap::Parser;
use telepay_core::catalog::{Catalog, LiveCatalog};
use telepay_core::chain::ChainSettings;
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::SAMPLE_IPN_SECRET;
use telepay_core::signature::IpnSecret;
use telepay_shared::config::{self, Environment, ProcessEnvironment};
use tracing::info;

/// The local run's default directory: the sample IPN's channel and a join-request club.
const DEMO_BOT_DIRECTORY: &str = include_str!("../../events/demo-bot-directory.json");

#[derive(Parser)]
#[command(
    name = "telepay-local",
    about = "Run the whole TelePay chain in one process"
)]
pub struct Args {
    /// Use DynamoDB and SQS (normal AWS SDK configuration; AWS_ENDPOINT_URL for moto)
    /// instead of the embedded SQLite store and queues.
    #[arg(long)]
    pub aws: bool,
    /// The demo (`make run`): the demo IPN and webhook secrets and catalog, and the fake
    /// Bot API and fake NOWPayments, for whatever is not configured. Without it nothing
    /// falls back: each secret and service must be configured, and a missing one stops
    /// the start, named.
    #[arg(long)]
    pub demo: bool,
    /// The address to listen on: 127.0.0.1 (this machine only), or 0.0.0.0 behind a
    /// reverse proxy.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
}

/// What a run without `--demo` must be given: each one the demo would default.
const PRODUCTION_NEEDS: [&str; 5] = [
    config::IPN_SECRET,
    config::BOT_TOKEN,
    config::BOT_WEBHOOK_SECRET,
    config::NOWPAYMENTS_API_KEY,
    config::IPN_CALLBACK_URL,
];

/// Whether the bot polls for its updates (`TELEPAY_BOT_UPDATES`: `webhook`, the default,
/// Telegram posting to `/telegram-webhook`; or `polling`, `getUpdates`).
pub fn polling(env: &ProcessEnvironment) -> anyhow::Result<bool> {
    let variable = config::BOT_UPDATES;
    match env.get(variable).as_deref().map(str::trim) {
        None | Some("" | "webhook") => Ok(false),
        Some("polling") => Ok(true),
        Some(other) => anyhow::bail!("{variable}: {other:?} is not webhook or polling"),
    }
}

/// Without `--demo`: every variable the demo would default, each missing one named. A
/// polling bot has no webhook, so no webhook secret.
pub fn refuse_demo_defaults(env: &ProcessEnvironment, polling: bool) -> anyhow::Result<()> {
    let missing: Vec<&str> = PRODUCTION_NEEDS
        .into_iter()
        .filter(|variable| !(polling && *variable == config::BOT_WEBHOOK_SECRET))
        .filter(|variable| env.get(variable).is_none_or(|v| v.trim().is_empty()))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "not started: {} must be set (nothing falls back to a demo value without --demo; make run passes it)",
        missing.join(", ")
    )
}

/// `PORT` (default 3000): the local run's own HTTP port.
pub fn port(env: &ProcessEnvironment) -> anyhow::Result<u16> {
    env.get("PORT")
        .map_or(Ok(3000), |p| p.parse())
        .context("PORT")
}

/// `TELEPAY_IPN_SECRET`, or (the demo only) the demo secret the sample IPN is signed with.
pub fn ipn_secret_text(env: &ProcessEnvironment, demo: bool) -> String {
    match env.get(config::IPN_SECRET).filter(|s| !s.trim().is_empty()) {
        Some(secret) => secret,
        // Unreachable without --demo: `refuse_demo_defaults` named it first.
        None if !demo => String::new(),
        None => {
            info!("TELEPAY_IPN_SECRET not set: using the demo secret {SAMPLE_IPN_SECRET:?}");
            SAMPLE_IPN_SECRET.to_owned()
        }
    }
}

/// The catalog used until one is applied to the store: the configured channel directory
/// (with `TELEPAY_BOT_TEXTS`), or (the demo only) the demo one. Without either, the run
/// starts only on a catalog applied to its store.
pub fn catalog_seed(env: &ProcessEnvironment, demo: bool) -> anyhow::Result<Option<Catalog>> {
    if let Some(seed) = config::catalog_config(env)?.seed {
        return Ok(Some(seed));
    }
    if !demo {
        return Ok(None);
    }
    info!(
        "no channel directory configured: using the demo channel -1003111266231 at 3.21 usd and the demo club (join requests), until `telepay catalog apply` applies one"
    );
    Ok(Some(Catalog::of(
        ChannelDirectory::from_json(DEMO_BOT_DIRECTORY)?,
        config::bot_texts(env)?,
    )))
}

/// The deployed functions' defaults, with the lifecycle's settings from the environment.
pub fn chain_settings(
    env: &ProcessEnvironment,
    secret: IpnSecret,
    catalog: LiveCatalog,
) -> anyhow::Result<ChainSettings> {
    Ok(ChainSettings {
        lifecycle: config::lifecycle_settings(env)?,
        lifecycle_texts: config::lifecycle_texts(env),
        ..ChainSettings::new(secret, catalog)
    })
}
