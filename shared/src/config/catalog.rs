//! Where a function's catalog comes from (`TELEPAY_CATALOG_REFRESH_SECONDS`), and the
//! seed a store without a catalog falls back to: the environment's directory and texts.

use telepay_core::bot::BotTexts;

use super::{ConfigError, Environment, channel_directory, optional_number};

/// A JSON object of text overrides (with the environment's directory only: a catalog
/// carries its own `texts`).
pub const BOT_TEXTS: &str = "TELEPAY_BOT_TEXTS";

/// The texts of `TELEPAY_BOT_TEXTS` over the defaults.
pub fn bot_texts(env: &impl Environment) -> Result<BotTexts, ConfigError> {
    match env.optional(BOT_TEXTS) {
        None => Ok(BotTexts::default()),
        Some(json) => BotTexts::from_json(&json).map_err(|e| ConfigError::Invalid {
            variable: BOT_TEXTS,
            reason: e.to_string(),
        }),
    }
}

/// Where a function's catalog comes from: the store (read again every `refresh`), and,
/// when the store holds none, the environment's directory and texts (`seed`: a local run,
/// the tests; the deployed stack sets none).
#[derive(Debug, Clone)]
pub struct CatalogConfig {
    pub seed: Option<telepay_core::catalog::Catalog>,
    pub refresh: std::time::Duration,
}

pub const CATALOG_REFRESH_SECONDS: &str = "TELEPAY_CATALOG_REFRESH_SECONDS";

/// The catalog's configuration: `TELEPAY_CATALOG_REFRESH_SECONDS` (0–60, default 30),
/// and the seed from `TELEPAY_CHANNEL_DIRECTORY[_FILE]` with `TELEPAY_BOT_TEXTS`.
pub fn catalog_config(env: &impl Environment) -> Result<CatalogConfig, ConfigError> {
    let seed = match channel_directory(env) {
        Ok(directory) => Some(telepay_core::catalog::Catalog::of(
            directory,
            bot_texts(env)?,
        )),
        Err(ConfigError::Missing(_)) => None,
        Err(other) => return Err(other),
    };
    let refresh = optional_number(env, CATALOG_REFRESH_SECONDS, 0..=60)?.map_or(
        telepay_core::catalog::REFRESH_EVERY,
        std::time::Duration::from_secs,
    );
    Ok(CatalogConfig { seed, refresh })
}
