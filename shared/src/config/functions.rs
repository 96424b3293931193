//! Each function's configuration, read once at cold start.

use std::time::Duration;

use telepay_core::invite::{BOT_API_CALLS_PER_MESSAGE, InviteSettings, MessageTemplate};
use telepay_core::recovery::RecoverySettings;
use telepay_core::signature::IpnSecret;

use super::{
    API_URL, BOT_TOKEN, ConfigError, Environment, FUNCTION_TIMEOUT_S, INVITE_LINK_TTL_HOURS,
    INVITE_MESSAGE, INVITE_QUEUE_URL, IPN_SECRET, JOIN_REQUEST_INVITE_MESSAGE, PAYOUT_QUEUE_URL,
    PROCESSOR_QUEUE_URL, RECONCILE_AFTER_MINUTES, RECONCILE_BATCH, RENEWED_MESSAGE, StoreConfig,
    TELEGRAM_CALL_TIMEOUT_MS, TOPUP_WAIT_HOURS, catalog_config, optional_number,
};
use super::{NOWPAYMENTS_API_KEY, NOWPAYMENTS_API_URL, NOWPAYMENTS_EMAIL, NOWPAYMENTS_PASSWORD};
use crate::nowpayments::{NowPaymentsAccount, NowPaymentsApiKey};
use crate::telegram::BotToken;

/// np-webhook's configuration.
#[derive(Debug)]
pub struct WebhookConfig {
    pub ipn_secret: IpnSecret,
    pub catalog: super::CatalogConfig,
    pub store: StoreConfig,
    pub processor_queue_url: String,
    /// Held payments' notices go to the invite sender through its queue.
    pub invite_queue_url: String,
    /// A refund changes a subscription: its reminder points and grace.
    pub lifecycle: telepay_core::subscription::LifecycleSettings,
}

impl WebhookConfig {
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        let ipn_secret = IpnSecret::new(env.required(IPN_SECRET)?)
            .map_err(|_| ConfigError::Missing(IPN_SECRET))?;
        Ok(Self {
            ipn_secret,
            catalog: catalog_config(env)?,
            store: StoreConfig::with_subscriptions_from_env(env)?.watching()?,
            processor_queue_url: env.required(PROCESSOR_QUEUE_URL)?,
            invite_queue_url: env.required(INVITE_QUEUE_URL)?,
            lifecycle: super::lifecycle_settings(env)?,
        })
    }
}

/// payment-processor's configuration.
#[derive(Debug)]
pub struct ProcessorConfig {
    pub store: StoreConfig,
    pub payout_queue_url: String,
    pub invite_queue_url: String,
    /// Reminder points and grace: a grant sets when the sweeper looks next.
    pub lifecycle: telepay_core::subscription::LifecycleSettings,
    /// np-webhook's: a handover written during a store outage carries the signed IPN,
    /// verified with it before anything is written.
    pub ipn_secret: IpnSecret,
    /// The bot's: a Telegram Stars payment is recorded only once the bot's Stars ledger
    /// (`getStarTransactions`) lists its charge.
    pub bot_token: BotToken,
    /// `None`: the real Bot API.
    pub api_url: Option<String>,
}

impl ProcessorConfig {
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            bot_token: BotToken::new(env.required(BOT_TOKEN)?)
                .ok_or(ConfigError::Missing(BOT_TOKEN))?,
            api_url: env.optional(API_URL),
            ipn_secret: IpnSecret::new(env.required(IPN_SECRET)?)
                .map_err(|_| ConfigError::Missing(IPN_SECRET))?,
            store: StoreConfig::with_subscriptions_from_env(env)?,
            payout_queue_url: env.required(PAYOUT_QUEUE_URL)?,
            invite_queue_url: env.required(INVITE_QUEUE_URL)?,
            lifecycle: super::lifecycle_settings(env)?,
        })
    }
}

/// The reconciler's configuration: where it reads and writes, and its jobs.
#[derive(Debug)]
pub struct ReconcilerConfig {
    pub store: StoreConfig,
    pub processor_queue_url: String,
    pub invite_queue_url: String,
    pub jobs: ReconcileJobs,
}

/// What the scheduled jobs do, wherever they run (the reconciler function, or
/// `telepay serve` in-process).
#[derive(Debug)]
pub struct ReconcileJobs {
    /// A stage older than this is stuck (default 15 minutes).
    pub stuck_after: Duration,
    /// At most this many payments per run (default 500).
    pub batch: usize,
    /// A short payment's purchase not completed this long after it opened is told to its
    /// owner (default 24 hours).
    pub topup_wait: Duration,
    /// The recovery pass, when the NOWPayments API key is configured.
    pub recovery: Option<RecoveryConfig>,
}

/// The recovery pass's configuration: it asks NOWPayments with the API key and admits a
/// paid answer as np-webhook admits an IPN (the directory, the subscriptions a refund
/// changes).
#[derive(Debug)]
pub struct RecoveryConfig {
    pub api_key: NowPaymentsApiKey,
    /// `TELEPAY_NOWPAYMENTS_API_URL` (the sandbox's API, or a fake's); the real API when
    /// unset.
    pub api_url: Option<String>,
    pub catalog: super::CatalogConfig,
    pub lifecycle: telepay_core::subscription::LifecycleSettings,
    pub settings: RecoverySettings,
    /// The account's login (`TELEPAY_NOWPAYMENTS_EMAIL`, `TELEPAY_NOWPAYMENTS_PASSWORD`),
    /// optional: with it the pass also finds payments whose every IPN was lost.
    pub account: Option<NowPaymentsAccount>,
}

impl ReconcilerConfig {
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        let jobs = ReconcileJobs::from_env(env)?;
        // Recovery admits payments: the subscriptions a refund changes, and the watches.
        let store = match jobs.recovery {
            Some(_) => StoreConfig::with_subscriptions_from_env(env)?.watching()?,
            None => StoreConfig::from_env(env)?,
        };
        Ok(Self {
            jobs,
            store,
            processor_queue_url: env.required(PROCESSOR_QUEUE_URL)?,
            invite_queue_url: env.required(INVITE_QUEUE_URL)?,
        })
    }
}

impl ReconcileJobs {
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        let minutes = optional_number(env, RECONCILE_AFTER_MINUTES, 1..=7 * 24 * 60)?.unwrap_or(15);
        let batch = optional_number(env, RECONCILE_BATCH, 1..=10_000)?.unwrap_or(500);
        let topup_hours = optional_number(env, TOPUP_WAIT_HOURS, 1..=30 * 24)?.unwrap_or(24);
        let recovery = match env.optional(NOWPAYMENTS_API_KEY) {
            None => None,
            Some(key) => Some(RecoveryConfig {
                api_key: NowPaymentsApiKey::new(key)
                    .ok_or(ConfigError::Missing(NOWPAYMENTS_API_KEY))?,
                api_url: env.optional(NOWPAYMENTS_API_URL),
                catalog: catalog_config(env)?,
                lifecycle: super::lifecycle_settings(env)?,
                settings: RecoverySettings::default(),
                account: nowpayments_account(env)?,
            }),
        };
        Ok(Self {
            recovery,
            stuck_after: Duration::from_secs(minutes * 60),
            batch: usize::try_from(batch).unwrap_or(500),
            topup_wait: Duration::from_secs(topup_hours * 3600),
        })
    }
}

/// The account's login: both variables or neither (one alone names the other).
fn nowpayments_account(env: &impl Environment) -> Result<Option<NowPaymentsAccount>, ConfigError> {
    match (
        env.optional(NOWPAYMENTS_EMAIL),
        env.optional(NOWPAYMENTS_PASSWORD),
    ) {
        (None, None) => Ok(None),
        (Some(email), Some(password)) => Ok(NowPaymentsAccount::new(email, password)),
        (Some(_), None) => Err(ConfigError::Missing(NOWPAYMENTS_PASSWORD)),
        (None, Some(_)) => Err(ConfigError::Missing(NOWPAYMENTS_EMAIL)),
    }
}

/// The invite sender's `Timeout` in template.yaml, assumed where the template's
/// `TELEPAY_FUNCTION_TIMEOUT_S` is not set (a local run).
const INVITE_SENDER_TIMEOUT_S: u64 = 60;

/// invite-sender's configuration.
#[derive(Debug)]
pub struct InviteSenderConfig {
    pub store: StoreConfig,
    /// Its own queue, for ChangeMessageVisibility on a 429.
    pub invite_queue_url: String,
    pub bot_token: BotToken,
    /// `None`: the real Bot API.
    pub api_url: Option<String>,
    /// Channels and the texts of held payments' notices.
    pub catalog: super::CatalogConfig,
    pub settings: InviteSettings,
    /// The grace after a subscription's end: a link admits until then at most.
    pub lifecycle: telepay_core::subscription::LifecycleSettings,
}

impl InviteSenderConfig {
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        let bot_token =
            BotToken::new(env.required(BOT_TOKEN)?).ok_or(ConfigError::Missing(BOT_TOKEN))?;
        let mut settings = InviteSettings::default();
        if let Some(hours) = optional_number(env, INVITE_LINK_TTL_HOURS, 1..=24 * 365)? {
            settings.link_ttl = Duration::from_secs(hours * 3600);
        }
        if let Some(ms) = optional_number(env, TELEGRAM_CALL_TIMEOUT_MS, 100..=60_000)? {
            settings.call_timeout = Duration::from_millis(ms);
        }
        let function_timeout = Duration::from_secs(
            optional_number(env, FUNCTION_TIMEOUT_S, 1..=900)?.unwrap_or(INVITE_SENDER_TIMEOUT_S),
        );
        let needed = settings.time_per_message();
        if needed > function_timeout {
            return Err(ConfigError::Impossible(format!(
                "{TELEGRAM_CALL_TIMEOUT_MS}={} needs {:.1} s per message ({BOT_API_CALLS_PER_MESSAGE} \
                 Bot API calls and the store writes), more than {FUNCTION_TIMEOUT_S}={}: every \
                 invite would go to the dead-letter queue untouched",
                settings.call_timeout.as_millis(),
                needed.as_secs_f64(),
                function_timeout.as_secs(),
            )));
        }
        if let Some(text) = env.optional(INVITE_MESSAGE) {
            settings.message = MessageTemplate::new(text).map_err(|e| ConfigError::Invalid {
                variable: INVITE_MESSAGE,
                reason: e.to_string(),
            })?;
        }
        if let Some(text) = env.optional(JOIN_REQUEST_INVITE_MESSAGE) {
            settings.join_request_message =
                MessageTemplate::new(text).map_err(|e| ConfigError::Invalid {
                    variable: JOIN_REQUEST_INVITE_MESSAGE,
                    reason: e.to_string(),
                })?;
        }
        if let Some(text) = env.optional(RENEWED_MESSAGE) {
            settings.renewed_message = text;
        }
        Ok(Self {
            store: StoreConfig::with_subscriptions_from_env(env)?,
            invite_queue_url: env.required(INVITE_QUEUE_URL)?,
            lifecycle: super::lifecycle_settings(env)?,
            bot_token,
            api_url: env.optional(API_URL),
            catalog: catalog_config(env)?,
            settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{
        CHANNEL_DIRECTORY, PAYMENTS_TABLE, REVIEWS_TABLE, SUBSCRIPTIONS_TABLE, WATCHES_TABLE,
    };
    use telepay_core::fixtures::SAMPLE_DIRECTORY;

    #[test]
    fn a_complete_environment_gives_a_webhook_config() {
        let env = [
            (IPN_SECRET, "s3cret-value"),
            (CHANNEL_DIRECTORY, SAMPLE_DIRECTORY),
            (PAYMENTS_TABLE, "processed_payments"),
            (REVIEWS_TABLE, "payment_reviews"),
            (SUBSCRIPTIONS_TABLE, "subscriptions"),
            (WATCHES_TABLE, "payment_watches"),
            (PROCESSOR_QUEUE_URL, "http://queue"),
            (INVITE_QUEUE_URL, "http://invites"),
        ];
        let config = WebhookConfig::from_env(&env).unwrap();
        let without_watches: Vec<_> = env
            .iter()
            .filter(|(k, _)| *k != WATCHES_TABLE)
            .copied()
            .collect();
        assert_eq!(
            WebhookConfig::from_env(&without_watches)
                .unwrap_err()
                .to_string(),
            "environment variable TELEPAY_WATCHES_TABLE is missing or empty",
            "np-webhook watches payments under way: its table is named when missing"
        );
        assert!(
            matches!(&config.store, StoreConfig::DynamoDb(t) if t.payments == "processed_payments")
        );
        assert!(
            !format!("{config:?}").contains("s3cret-value"),
            "Debug leaks the secret"
        );
    }

    #[test]
    fn the_reconciler_runs_the_recovery_pass_only_with_the_api_key_and_then_needs_its_tables() {
        let base = [
            (PAYMENTS_TABLE, "p"),
            (REVIEWS_TABLE, "r"),
            (PROCESSOR_QUEUE_URL, "http://queue"),
            (INVITE_QUEUE_URL, "http://invites"),
        ];
        let config = ReconcilerConfig::from_env(&base).unwrap();
        assert!(config.jobs.recovery.is_none(), "no key, no recovery pass");

        let mut with_key = base.to_vec();
        with_key.push((NOWPAYMENTS_API_KEY, "np-secret-key"));
        with_key.push((CHANNEL_DIRECTORY, SAMPLE_DIRECTORY));
        let err = ReconcilerConfig::from_env(&with_key).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TELEPAY_SUBSCRIPTIONS_TABLE is missing or empty"
        );
        with_key.push((SUBSCRIPTIONS_TABLE, "s"));
        let err = ReconcilerConfig::from_env(&with_key).unwrap_err();
        assert!(err.to_string().contains(WATCHES_TABLE), "{err}");
        with_key.push((WATCHES_TABLE, "w"));
        let config = ReconcilerConfig::from_env(&with_key).unwrap();
        assert!(config.jobs.recovery.as_ref().unwrap().account.is_none());
        with_key.push((NOWPAYMENTS_EMAIL, "owner@example.com"));
        let err = ReconcilerConfig::from_env(&with_key).unwrap_err();
        assert!(err.to_string().contains(NOWPAYMENTS_PASSWORD), "{err}");
        with_key.push((NOWPAYMENTS_PASSWORD, "account-password-value"));
        let config = ReconcilerConfig::from_env(&with_key).unwrap();
        assert!(config.jobs.recovery.as_ref().unwrap().account.is_some());
        assert!(
            !format!("{config:?}").contains("account-password-value"),
            "Debug leaks the password"
        );
        assert!(
            !format!("{config:?}").contains("np-secret-key"),
            "Debug leaks the API key"
        );
    }

    #[test]
    fn a_missing_variable_is_named() {
        let env = [(IPN_SECRET, "x"), (CHANNEL_DIRECTORY, SAMPLE_DIRECTORY)];
        let err = WebhookConfig::from_env(&env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TELEPAY_PAYMENTS_TABLE is missing or empty"
        );
        let err = WebhookConfig::from_env(&[(IPN_SECRET, "  ")]).unwrap_err();
        assert!(err.to_string().contains(IPN_SECRET));
    }

    #[test]
    fn the_invite_sender_reads_its_settings_and_refuses_bad_ones() {
        let base = [
            (BOT_TOKEN, "123:secret-token"),
            (PAYMENTS_TABLE, "p"),
            (REVIEWS_TABLE, "r"),
            (SUBSCRIPTIONS_TABLE, "s"),
            (INVITE_QUEUE_URL, "http://q"),
            (CHANNEL_DIRECTORY, SAMPLE_DIRECTORY),
            (INVITE_LINK_TTL_HOURS, "48"),
            (INVITE_MESSAGE, "Welcome! {link}"),
        ];
        let config = InviteSenderConfig::from_env(&base).unwrap();
        assert_eq!(config.settings.link_ttl, Duration::from_secs(48 * 3600));
        assert!(config.api_url.is_none());
        assert!(
            !format!("{config:?}").contains("secret-token"),
            "Debug leaks the token"
        );

        let mut no_link = base;
        no_link[6] = (INVITE_MESSAGE, "Welcome!");
        let err = InviteSenderConfig::from_env(&no_link).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("TELEPAY_INVITE_MESSAGE is not valid"),
            "{err}"
        );

        let mut zero_ttl = base;
        zero_ttl[5] = (INVITE_LINK_TTL_HOURS, "0");
        assert!(InviteSenderConfig::from_env(&zero_ttl).is_err());

        let mut no_token = base;
        no_token[0] = (BOT_TOKEN, "");
        let err = InviteSenderConfig::from_env(&no_token).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TELEGRAM_BOT_TOKEN is missing or empty"
        );
    }

    #[test]
    fn a_call_timeout_the_function_cannot_fit_once_is_refused_at_cold_start() {
        let env = |call_ms: &'static str, function_s: &'static str| {
            [
                (BOT_TOKEN, "123:secret-token"),
                (PAYMENTS_TABLE, "p"),
                (REVIEWS_TABLE, "r"),
                (SUBSCRIPTIONS_TABLE, "s"),
                (INVITE_QUEUE_URL, "http://q"),
                (CHANNEL_DIRECTORY, SAMPLE_DIRECTORY),
                (TELEGRAM_CALL_TIMEOUT_MS, call_ms),
                (FUNCTION_TIMEOUT_S, function_s),
            ]
        };
        assert!(InviteSenderConfig::from_env(&env("5000", "60")).is_ok());
        assert!(
            InviteSenderConfig::from_env(&env("5000", "")).is_ok(),
            "60 s assumed"
        );
        let err = InviteSenderConfig::from_env(&env("30000", "60")).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("TELEPAY_TELEGRAM_CALL_TIMEOUT_MS=30000")
                && text.contains("TELEPAY_FUNCTION_TIMEOUT_S=60"),
            "names both variables: {text}"
        );
        assert!(InviteSenderConfig::from_env(&env("5000", "10")).is_err());
    }
}
