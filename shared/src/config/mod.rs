//! Configuration, read once at cold start from environment variables: every variable's
//! name and every `*Config` live here. A missing or bad
//! variable stops the function with its name; secret values never appear in errors.

mod bot;
mod catalog;
mod functions;
mod lifecycle;
mod store;

use telepay_core::directory::{ChannelDirectory, DirectoryError};

pub use bot::{
    ADMISSION_QUEUE_URL, AdmissionRecheckConfig, BOT_UPDATES, BOT_WEBHOOK_SECRET,
    BOT_WEBHOOK_SECRET_ARN, BotWebhookConfig, INVOICES_PER_MINUTE, IPN_CALLBACK_URL,
    NOWPAYMENTS_API_KEY, NOWPAYMENTS_API_KEY_ARN, NOWPAYMENTS_API_URL, NOWPAYMENTS_EMAIL,
    NOWPAYMENTS_PASSWORD, NOWPAYMENTS_PASSWORD_ARN, PAYMENT_SUCCESS_URL, bot_budgets,
};
pub use catalog::{BOT_TEXTS, CATALOG_REFRESH_SECONDS, CatalogConfig, bot_texts, catalog_config};
pub use functions::{
    InviteSenderConfig, ProcessorConfig, ReconcileJobs, ReconcilerConfig, WebhookConfig,
};
pub use lifecycle::{
    ENDED_MESSAGE, LIFECYCLE_QUEUE_URL, LIFECYCLE_TASKS_PER_SECOND, LifecycleConfig,
    REMINDER_MESSAGE, REMINDER_POINTS, REMOVAL_GRACE, RENEWAL_URL, SWEEP_BATCH, SweeperConfig,
    lifecycle_settings, lifecycle_texts,
};
pub use store::{
    BOT_TABLE, CATALOG_TABLE, DATABASE_URL, DatabaseUrl, PAYMENTS_TABLE, REVIEWS_TABLE,
    SQLITE_PATH, STORE_BACKEND, SUBSCRIPTIONS_TABLE, StoreConfig, TableNames, WATCHES_TABLE,
};

pub const IPN_SECRET: &str = "TELEPAY_IPN_SECRET";
pub const CHANNEL_DIRECTORY: &str = "TELEPAY_CHANNEL_DIRECTORY";
pub const CHANNEL_DIRECTORY_FILE: &str = "TELEPAY_CHANNEL_DIRECTORY_FILE";
pub const PROCESSOR_QUEUE_URL: &str = "TELEPAY_PROCESSOR_QUEUE_URL";
pub const PAYOUT_QUEUE_URL: &str = "TELEPAY_PAYOUT_QUEUE_URL";
pub const INVITE_QUEUE_URL: &str = "TELEPAY_INVITE_QUEUE_URL";
pub const BOT_TOKEN: &str = "TELEGRAM_BOT_TOKEN";
pub const API_URL: &str = "TELEGRAM_API_URL";
pub const INVITE_LINK_TTL_HOURS: &str = "TELEPAY_INVITE_LINK_TTL_HOURS";
pub const INVITE_MESSAGE: &str = "TELEPAY_INVITE_MESSAGE";
pub const JOIN_REQUEST_INVITE_MESSAGE: &str = "TELEPAY_JOIN_REQUEST_INVITE_MESSAGE";
pub const RENEWED_MESSAGE: &str = "TELEPAY_RENEWED_MESSAGE";
pub const TELEGRAM_CALL_TIMEOUT_MS: &str = "TELEPAY_TELEGRAM_CALL_TIMEOUT_MS";
pub const RECONCILE_AFTER_MINUTES: &str = "TELEPAY_RECONCILE_AFTER_MINUTES";
pub const RECONCILE_BATCH: &str = "TELEPAY_RECONCILE_BATCH";
/// How long a buyer has to pay the rest of a short payment before its owner is told.
pub const TOPUP_WAIT_HOURS: &str = "TELEPAY_TOPUP_WAIT_HOURS";
/// The function's own timeout (Lambda exposes no variable with it): the template passes it.
pub const FUNCTION_TIMEOUT_S: &str = "TELEPAY_FUNCTION_TIMEOUT_S";
/// Where the template keeps the secrets (Secrets Manager ARNs), read by the secrets module.
pub const IPN_SECRET_ARN: &str = "TELEPAY_IPN_SECRET_ARN";
pub const BOT_TOKEN_SECRET_ARN: &str = "TELEGRAM_BOT_TOKEN_SECRET_ARN";
pub const DATABASE_URL_SECRET_ARN: &str = "DATABASE_URL_SECRET_ARN";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is missing or empty")]
    Missing(&'static str),
    #[error("set {CHANNEL_DIRECTORY} (JSON) or {CHANNEL_DIRECTORY_FILE} (a path), not both")]
    DirectoryTwice,
    #[error("{variable}: {source}")]
    Directory {
        variable: &'static str,
        source: DirectoryError,
    },
    #[error("{variable} is not valid: {reason}")]
    Invalid {
        variable: &'static str,
        reason: String,
    },
    #[error("{CHANNEL_DIRECTORY_FILE}: cannot read {path}: {reason}")]
    DirectoryFile { path: String, reason: String },
    /// A secret Secrets Manager would not give (the reason never carries a value).
    #[error("{}: cannot read the secret: {reason}", .variables.join(", "))]
    Secret {
        variables: Vec<&'static str>,
        reason: String,
    },
    /// Settings that each make sense but together cannot work.
    #[error("{0}")]
    Impossible(String),
}

/// Where configuration comes from: the process environment in Lambda, a map in tests.
pub trait Environment {
    fn get(&self, name: &str) -> Option<String>;

    /// The variable when it is set to something other than blanks.
    fn optional(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }
}

pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<const N: usize> Environment for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        Environment::get(self.as_slice(), name)
    }
}

impl Environment for Vec<(&str, &str)> {
    fn get(&self, name: &str) -> Option<String> {
        Environment::get(self.as_slice(), name)
    }
}

impl Environment for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| (*value).to_owned())
    }
}

/// How long a warm function holds a secret read from Secrets Manager before it reads it
/// again at its next use (`TELEPAY_SECRET_MAX_AGE_MINUTES`, 60 by default): a rotation
/// reaches warm functions before any work is refused.
pub const SECRET_MAX_AGE_MINUTES: &str = "TELEPAY_SECRET_MAX_AGE_MINUTES";

pub fn secret_max_age(env: &impl Environment) -> Result<std::time::Duration, ConfigError> {
    let minutes = optional_number(env, SECRET_MAX_AGE_MINUTES, 1..=7 * 24 * 60)?;
    Ok(minutes.map_or(telepay_core::rotation::MAX_AGE, |m| {
        std::time::Duration::from_secs(m * 60)
    }))
}

pub(crate) fn optional_number(
    env: &impl Environment,
    variable: &'static str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, ConfigError> {
    let Some(text) = env.optional(variable) else {
        return Ok(None);
    };
    match text.trim().parse::<u64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(ConfigError::Invalid {
            variable,
            reason: format!("must be a whole number in {range:?}"),
        }),
    }
}

/// The channel directory from `TELEPAY_CHANNEL_DIRECTORY` (inline JSON) or
/// `TELEPAY_CHANNEL_DIRECTORY_FILE` (a JSON file).
pub fn channel_directory(env: &impl Environment) -> Result<ChannelDirectory, ConfigError> {
    let inline = env.optional(CHANNEL_DIRECTORY);
    let file = env.optional(CHANNEL_DIRECTORY_FILE);
    let (variable, json) = match (inline, file) {
        (Some(_), Some(_)) => return Err(ConfigError::DirectoryTwice),
        (Some(json), None) => (CHANNEL_DIRECTORY, json),
        (None, Some(path)) => {
            let json = std::fs::read_to_string(&path).map_err(|e| ConfigError::DirectoryFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            (CHANNEL_DIRECTORY_FILE, json)
        }
        (None, None) => return Err(ConfigError::Missing(CHANNEL_DIRECTORY)),
    };
    ChannelDirectory::from_json(&json).map_err(|source| ConfigError::Directory { variable, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use telepay_core::fixtures::SAMPLE_DIRECTORY;

    #[test]
    fn the_directory_comes_from_a_file_or_inline_never_both() {
        let path = std::env::temp_dir().join(format!("telepay-dir-{}.json", std::process::id()));
        std::fs::write(&path, SAMPLE_DIRECTORY).unwrap();
        let path = path.to_str().unwrap();
        assert!(channel_directory(&[(CHANNEL_DIRECTORY_FILE, path)]).is_ok());
        assert!(matches!(
            channel_directory(&[
                (CHANNEL_DIRECTORY_FILE, path),
                (CHANNEL_DIRECTORY, SAMPLE_DIRECTORY)
            ]),
            Err(ConfigError::DirectoryTwice)
        ));
        let err = channel_directory(&[(CHANNEL_DIRECTORY, "{}")]).unwrap_err();
        assert!(
            err.to_string().starts_with("TELEPAY_CHANNEL_DIRECTORY: "),
            "{err}"
        );
        assert!(matches!(
            channel_directory(&[(CHANNEL_DIRECTORY_FILE, "/nonexistent/dir.json")]),
            Err(ConfigError::DirectoryFile { .. })
        ));
    }
}
