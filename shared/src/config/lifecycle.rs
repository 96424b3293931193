//! The subscription lifecycle's configuration: the settings every function that
//! touches subscriptions shares (reminder points, grace), and the sweeper's and the
//! lifecycle consumer's own.

use chrono::TimeDelta;
use telepay_core::access::DEFAULT_TASKS_PER_SECOND;
use telepay_core::subscription::{AccessDuration, LifecycleSettings, LifecycleTexts};

use super::{API_URL, BOT_TOKEN, ConfigError, Environment, StoreConfig, optional_number};
use crate::telegram::BotToken;

pub const LIFECYCLE_QUEUE_URL: &str = "TELEPAY_LIFECYCLE_QUEUE_URL";
/// How long before the expiry reminders go out, e.g. `3d,1d` (the default); `none`: none.
pub const REMINDER_POINTS: &str = "TELEPAY_REMINDER_POINTS";
/// How long after the expiry a member is removed, e.g. `2h`; `0` (the default): at once.
pub const REMOVAL_GRACE: &str = "TELEPAY_REMOVAL_GRACE";
pub const SWEEP_BATCH: &str = "TELEPAY_SWEEP_BATCH";
pub const REMINDER_MESSAGE: &str = "TELEPAY_REMINDER_MESSAGE";
pub const ENDED_MESSAGE: &str = "TELEPAY_ENDED_MESSAGE";
pub const INVITE_AGAIN_MESSAGE: &str = "TELEPAY_INVITE_AGAIN_MESSAGE";
/// The renewal link in reminders, with `{channel_id}`, e.g. `https://t.me/YourBot?start={channel_id}`.
pub const RENEWAL_URL: &str = "TELEPAY_RENEWAL_URL";
/// Tasks one consumer instance starts per second (default 10); with the template's
/// maximum concurrency of 2, the bot stays under Telegram's ~30 messages a second.
pub const LIFECYCLE_TASKS_PER_SECOND: &str = "TELEPAY_LIFECYCLE_TASKS_PER_SECOND";

fn duration(variable: &'static str, text: &str) -> Result<TimeDelta, ConfigError> {
    text.trim()
        .parse::<AccessDuration>()
        .map(AccessDuration::as_delta)
        .map_err(|e| ConfigError::Invalid {
            variable,
            reason: e.to_string(),
        })
}

/// Reminder points and grace, from the environment (defaults: 3 days and 1 day before,
/// no grace).
pub fn lifecycle_settings(env: &impl Environment) -> Result<LifecycleSettings, ConfigError> {
    let defaults = LifecycleSettings::default();
    let points = match env.optional(REMINDER_POINTS) {
        None => defaults.reminder_points().to_vec(),
        Some(text) if text.trim() == "none" => Vec::new(),
        Some(text) => text
            .split(',')
            .map(|point| duration(REMINDER_POINTS, point))
            .collect::<Result<_, _>>()?,
    };
    let grace = match env.optional(REMOVAL_GRACE) {
        None => defaults.grace,
        Some(text) if text.trim() == "0" => TimeDelta::zero(),
        Some(text) => duration(REMOVAL_GRACE, &text)?,
    };
    LifecycleSettings::new(points, grace).map_err(|e| ConfigError::Invalid {
        variable: REMINDER_POINTS,
        reason: e.to_string(),
    })
}

/// What the lifecycle tells buyers, from the environment (English defaults).
pub fn lifecycle_texts(env: &impl Environment) -> LifecycleTexts {
    let mut texts = LifecycleTexts::default();
    let text = |variable| env.optional(variable);
    if let Some(reminder) = text(REMINDER_MESSAGE) {
        texts.reminder = reminder;
    }
    if let Some(ended) = text(ENDED_MESSAGE) {
        texts.ended = ended;
    }
    if let Some(invite_again) = text(INVITE_AGAIN_MESSAGE) {
        texts.invite_again = invite_again;
    }
    if let Some(url) = text(RENEWAL_URL) {
        texts.renewal_url = url;
    }
    texts
}

/// subscription-sweeper's configuration.
#[derive(Debug)]
pub struct SweeperConfig {
    pub store: StoreConfig,
    pub lifecycle_queue_url: String,
    pub settings: LifecycleSettings,
    /// Subscriptions per due-index page (default 1000); a run reads full pages on.
    pub batch: usize,
}

impl SweeperConfig {
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        let batch = optional_number(env, SWEEP_BATCH, 1..=100_000)?.unwrap_or(1000);
        Ok(Self {
            store: StoreConfig::with_subscriptions_from_env(env)?,
            lifecycle_queue_url: env.required(LIFECYCLE_QUEUE_URL)?,
            settings: lifecycle_settings(env)?,
            batch: usize::try_from(batch).unwrap_or(1000),
        })
    }
}

/// subscription-lifecycle's configuration.
#[derive(Debug)]
pub struct LifecycleConfig {
    pub store: StoreConfig,
    /// Its own queue, for ChangeMessageVisibility on a 429.
    pub lifecycle_queue_url: String,
    pub bot_token: BotToken,
    pub api_url: Option<String>,
    pub catalog: super::CatalogConfig,
    pub settings: LifecycleSettings,
    pub texts: LifecycleTexts,
    pub tasks_per_second: u32,
}

impl LifecycleConfig {
    pub fn from_env(env: &impl Environment) -> Result<Self, ConfigError> {
        let bot_token =
            BotToken::new(env.required(BOT_TOKEN)?).ok_or(ConfigError::Missing(BOT_TOKEN))?;
        let texts = lifecycle_texts(env);
        Ok(Self {
            store: StoreConfig::with_subscriptions_from_env(env)?,
            lifecycle_queue_url: env.required(LIFECYCLE_QUEUE_URL)?,
            bot_token,
            api_url: env.optional(API_URL),
            catalog: super::catalog_config(env)?,
            settings: lifecycle_settings(env)?,
            texts,
            tasks_per_second: optional_number(env, LIFECYCLE_TASKS_PER_SECOND, 1..=30)?
                .map_or(DEFAULT_TASKS_PER_SECOND, |n| n as u32),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reminder_points_and_grace_read_as_an_owner_writes_them() {
        let settings =
            lifecycle_settings(&[(REMINDER_POINTS, "1d, 3d,12h"), (REMOVAL_GRACE, "2h")]).unwrap();
        assert_eq!(
            settings.reminder_points(),
            [TimeDelta::days(3), TimeDelta::days(1), TimeDelta::hours(12)]
        );
        assert_eq!(settings.grace, TimeDelta::hours(2));
        let defaults = lifecycle_settings(&[]).unwrap();
        assert_eq!(defaults, LifecycleSettings::default());
        assert!(
            lifecycle_settings(&[(REMINDER_POINTS, "none")])
                .unwrap()
                .reminder_points()
                .is_empty()
        );
        let err = lifecycle_settings(&[(REMINDER_POINTS, "3 months")]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("TELEPAY_REMINDER_POINTS is not valid"),
            "{err}"
        );
        assert!(lifecycle_settings(&[(REMOVAL_GRACE, "-1h")]).is_err());
    }
}
