//! The Bot API adapter (`TelegramBotApi`) for the core's Telegram ports, through
//! teloxide-core, with every failure classified by method and error into what the
//! protocol must do.
//!
//! `call` (one call's name, latency and failure, classified), `ports` (the three Telegram
//! ports of the core: inviting, removing, conversing), `setup` (the webhook, as the owner
//! sets it). Tests: `shared/tests/telegram_adapter.rs`, against the fake Bot API.

mod call;
mod ports;
mod setup;

pub use setup::ALLOWED_UPDATES;

use std::fmt;

use teloxide_core::Bot;

/// The bot token. Never printed: `Debug` is redacted and error texts are scrubbed of it.
#[derive(Clone)]
pub struct BotToken(String);

impl BotToken {
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        (!token.trim().is_empty()).then_some(Self(token))
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BotToken(<redacted>)")
    }
}

#[derive(Clone)]
pub struct TelegramBotApi {
    bot: Bot,
    token: BotToken,
}

impl fmt::Debug for TelegramBotApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // teloxide's own Debug would print the token.
        f.write_str("TelegramBotApi")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("TELEGRAM_API_URL is not a valid URL")]
pub struct BadApiUrl;

impl TelegramBotApi {
    /// A bot on the real Bot API, or on `api_url` (a local Bot API server or a fake).
    pub fn new(token: BotToken, api_url: Option<&str>) -> Result<Self, BadApiUrl> {
        let mut bot = Bot::new(token.0.clone());
        if let Some(url) = api_url {
            bot = bot.set_api_url(reqwest::Url::parse(url).map_err(|_| BadApiUrl)?);
        }
        Ok(Self { bot, token })
    }
}
