//! The bot's configuration: the webhook (`bot-webhook`) and the join-request re-check
//! (`admission-recheck`).

use telepay_core::bot::budget::DEFAULT_INVOICES_PER_MINUTE;
use telepay_core::bot::{BotBudgets, BotSetup, BotTiming, InvoiceUrls, WebhookSecret};
use telepay_core::catalog::LiveCatalog;
use telepay_core::subscription::LifecycleSettings;

use super::{API_URL, BOT_TOKEN, ConfigError, Environment, StoreConfig, catalog_config};
use crate::nowpayments::NowPaymentsApiKey;
use crate::telegram::BotToken;

/// The secret Telegram sends back with each update (secret; local runs).
pub const BOT_WEBHOOK_SECRET: &str = "TELEPAY_BOT_WEBHOOK_SECRET";
/// How the bot's updates arrive on a server: `webhook` (the default) or `polling`
/// (`getUpdates`: no public bot URL).
pub const BOT_UPDATES: &str = "TELEPAY_BOT_UPDATES";
pub const BOT_WEBHOOK_SECRET_ARN: &str = "TELEPAY_BOT_WEBHOOK_SECRET_ARN";
/// The NOWPayments API key (secret; local runs).
pub const NOWPAYMENTS_API_KEY: &str = "TELEPAY_NOWPAYMENTS_API_KEY";
pub const NOWPAYMENTS_API_KEY_ARN: &str = "TELEPAY_NOWPAYMENTS_API_KEY_ARN";
/// The NOWPayments API base URL; default the real API.
pub const NOWPAYMENTS_API_URL: &str = "TELEPAY_NOWPAYMENTS_API_URL";
/// The NOWPayments account's login, optional: the recovery pass lists the account's
/// payments with it (the list needs the account's JWT).
pub const NOWPAYMENTS_EMAIL: &str = "TELEPAY_NOWPAYMENTS_EMAIL";
pub const NOWPAYMENTS_PASSWORD: &str = "TELEPAY_NOWPAYMENTS_PASSWORD";
pub const NOWPAYMENTS_PASSWORD_ARN: &str = "TELEPAY_NOWPAYMENTS_PASSWORD_ARN";
/// Our `POST /np-webhook` URL, given to NOWPayments with each invoice.
pub const IPN_CALLBACK_URL: &str = "TELEPAY_IPN_CALLBACK_URL";
/// Where the payment page sends the buyer after paying (e.g. `https://t.me/YourBot`).
pub const PAYMENT_SUCCESS_URL: &str = "TELEPAY_PAYMENT_SUCCESS_URL";
/// New NOWPayments invoices a minute for all buyers together (1–10000; default
/// `DEFAULT_INVOICES_PER_MINUTE`): past it a buyer is asked to tap Pay again.
pub const INVOICES_PER_MINUTE: &str = "TELEPAY_INVOICES_PER_MINUTE";
/// The queue of delayed join-request re-checks.
pub const ADMISSION_QUEUE_URL: &str = "TELEPAY_ADMISSION_QUEUE_URL";

/// The bot's budgets: the reply budget is fixed, the invoice budget the owner's.
pub fn bot_budgets(env: &impl Environment) -> Result<BotBudgets, ConfigError> {
    let invoices = super::optional_number(env, INVOICES_PER_MINUTE, 1..=10_000)?;
    Ok(BotBudgets {
        invoices_per_minute: invoices.map_or(DEFAULT_INVOICES_PER_MINUTE, |n| n as u32),
        ..BotBudgets::default()
    })
}

fn bot_token(env: &impl Environment) -> Result<BotToken, ConfigError> {
    BotToken::new(env.required(BOT_TOKEN)?).ok_or(ConfigError::Missing(BOT_TOKEN))
}

fn url(env: &impl Environment, variable: &'static str) -> Result<String, ConfigError> {
    let url = env.required(variable)?;
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(url)
    } else {
        Err(ConfigError::Invalid {
            variable,
            reason: "must be an http(s) URL".into(),
        })
    }
}

/// bot-webhook's configuration.
#[derive(Debug)]
pub struct BotWebhookConfig {
    pub secret: WebhookSecret,
    pub catalog: super::CatalogConfig,
    pub lifecycle: LifecycleSettings,
    pub urls: InvoiceUrls,
    pub store: StoreConfig,
    pub bot_token: BotToken,
    pub api_url: Option<String>,
    pub nowpayments_key: NowPaymentsApiKey,
    pub nowpayments_url: Option<String>,
    pub admission_queue_url: String,
    /// For /status's re-issued invite.
    pub invite_queue_url: String,
    /// A Telegram Stars payment goes to the processor, as an IPN's record does.
    pub processor_queue_url: String,
    pub budgets: BotBudgets,
}

impl BotWebhookConfig {
    /// What the front door works with besides its ports, with the production timing.
    pub fn bot_setup(&self, catalog: LiveCatalog) -> BotSetup {
        BotSetup {
            secret: self.secret.clone(),
            catalog,
            settings: self.lifecycle.clone(),
            urls: self.urls.clone(),
            timing: BotTiming::default(),
            budgets: self.budgets,
        }
    }

    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        let secret = WebhookSecret::new(env.required(BOT_WEBHOOK_SECRET)?).map_err(|e| {
            ConfigError::Invalid {
                variable: BOT_WEBHOOK_SECRET,
                reason: e.to_string(),
            }
        })?;
        let nowpayments_key = NowPaymentsApiKey::new(env.required(NOWPAYMENTS_API_KEY)?)
            .ok_or(ConfigError::Missing(NOWPAYMENTS_API_KEY))?;
        Ok(Self {
            secret,
            catalog: catalog_config(env)?,
            lifecycle: super::lifecycle_settings(env)?,
            urls: InvoiceUrls {
                ipn_callback_url: url(env, IPN_CALLBACK_URL)?,
                success_url: env.optional(PAYMENT_SUCCESS_URL),
            },
            // /status lists the buyer's payments under way: the watches table too.
            store: StoreConfig::for_bot_from_env(env)?.watching()?,
            bot_token: bot_token(env)?,
            api_url: env.optional(API_URL),
            nowpayments_key,
            nowpayments_url: env.optional(NOWPAYMENTS_API_URL),
            admission_queue_url: env.required(ADMISSION_QUEUE_URL)?,
            invite_queue_url: env.required(super::INVITE_QUEUE_URL)?,
            processor_queue_url: env.required(super::PROCESSOR_QUEUE_URL)?,
            budgets: bot_budgets(env)?,
        })
    }
}

/// admission-recheck's configuration.
#[derive(Debug)]
pub struct AdmissionRecheckConfig {
    pub catalog: super::CatalogConfig,
    pub lifecycle: LifecycleSettings,
    pub store: StoreConfig,
    pub bot_token: BotToken,
    pub api_url: Option<String>,
    pub admission_queue_url: String,
}

impl AdmissionRecheckConfig {
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            catalog: catalog_config(env)?,
            lifecycle: super::lifecycle_settings(env)?,
            store: StoreConfig::for_bot_from_env(env)?,
            bot_token: bot_token(env)?,
            api_url: env.optional(API_URL),
            admission_queue_url: env.required(ADMISSION_QUEUE_URL)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BOT_TEXTS;
    use telepay_core::fixtures::SAMPLE_DIRECTORY;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn env<'a>(secret: &'a str, texts: &'a str) -> [(&'a str, &'a str); 11] {
        [
            (BOT_WEBHOOK_SECRET, secret),
            (NOWPAYMENTS_API_KEY, "np-key"),
            (IPN_CALLBACK_URL, "https://example.com/np-webhook"),
            (super::super::CHANNEL_DIRECTORY, SAMPLE_DIRECTORY),
            ("TELEPAY_STORE_BACKEND", "sqlite"),
            ("TELEPAY_SQLITE_PATH", "/tmp/x.sqlite"),
            (BOT_TOKEN, "123:abc"),
            (ADMISSION_QUEUE_URL, "https://sqs/admission"),
            (super::super::PROCESSOR_QUEUE_URL, "https://sqs/processor"),
            (super::super::INVITE_QUEUE_URL, "https://sqs/invite"),
            (BOT_TEXTS, texts),
        ]
    }

    #[test]
    fn a_short_webhook_secret_stops_the_cold_start_without_printing_it() {
        let err = BotWebhookConfig::from_env(&env("short-secret", "")).unwrap_err();
        assert!(err.to_string().starts_with(BOT_WEBHOOK_SECRET), "{err}");
        assert!(!err.to_string().contains("short-secret"));
        assert!(BotWebhookConfig::from_env(&env(SECRET, "")).is_ok());
    }

    #[test]
    fn text_overrides_are_checked_at_cold_start() {
        let err = BotWebhookConfig::from_env(&env(SECRET, r#"{"nope":1}"#)).unwrap_err();
        assert!(err.to_string().starts_with(BOT_TEXTS), "{err}");
        let config = BotWebhookConfig::from_env(&env(SECRET, r#"{"help":"Hilfe"}"#)).unwrap();
        assert_eq!(config.catalog.seed.as_ref().unwrap().texts.help, "Hilfe");
    }

    #[test]
    fn on_dynamodb_the_bot_needs_its_table() {
        let mut vars = env(SECRET, "");
        vars[4] = ("TELEPAY_STORE_BACKEND", "dynamodb");
        vars[5] = ("TELEPAY_PAYMENTS_TABLE", "p");
        let err = AdmissionRecheckConfig::from_env(&vars).unwrap_err();
        // The subscriptions table is asked for first, then the bot table.
        assert!(matches!(err, ConfigError::Missing(_)), "{err}");
    }
}
