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
#[command(name = "telepay-local", about = "Run the whole TelePay chain locally")]
pub struct Args {
    /// Use DynamoDB and SQS (normal AWS SDK configuration; AWS_ENDPOINT_URL for moto)
    /// instead of the embedded SQLite store and queues.
    #[arg(long)]
    pub aws: bool,
}

/// `PORT` (default 3000): the local run's own HTTP port.
pub fn port(env: &ProcessEnvironment) -> anyhow::Result<u16> {
    env.get("PORT")
        .map_or(Ok(3000), |p| p.parse())
        .context("PORT")
}

/// `TELEPAY_IPN_SECRET`, or the demo secret the sample IPN is signed with.
pub fn ipn_secret_text(env: &ProcessEnvironment) -> String {
    match env.get(config::IPN_SECRET).filter(|s| !s.trim().is_empty()) {
        Some(secret) => secret,
        None => {
            info!("TELEPAY_IPN_SECRET not set: using the demo secret {SAMPLE_IPN_SECRET:?}");
            SAMPLE_IPN_SECRET.to_owned()
        }
    }
}

/// The catalog used until one is applied to the store: the configured channel directory
/// (with `TELEPAY_BOT_TEXTS`), or the demo one.
pub fn catalog_seed(env: &ProcessEnvironment) -> anyhow::Result<Catalog> {
    if let Some(seed) = config::catalog_config(env)?.seed {
        return Ok(seed);
    }
    info!(
        "no channel directory configured: using the demo channel -1003111266231 at 3.21 usd and the demo club (join requests), until `telepay catalog apply` applies one"
    );
    Ok(Catalog::of(
        ChannelDirectory::from_json(DEMO_BOT_DIRECTORY)?,
        config::catalog_config(env)?
            .seed
            .map(|c| c.texts)
            .unwrap_or_default(),
    ))
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
