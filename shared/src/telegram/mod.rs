//! The Bot API adapter (`TelegramBotApi`) for the core's Telegram ports, through
//! teloxide-core, with every failure classified by method and error into what the
//! protocol must do.
//!
//! `call` (one call's name, latency and failure, classified), `ports` (the three Telegram
//! ports of the core: inviting, removing, conversing), `stars` (the Stars rail's calls),
//! `setup` (the webhook, as the owner sets it). Tests: `shared/tests/telegram_adapter.rs`, against the fake Bot API.

mod call;
mod polling;
mod ports;
mod setup;
mod stars;

pub use setup::{ALLOWED_UPDATES, DEFAULT_MAX_CONNECTIONS};

use std::fmt;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use telepay_core::metrics::signal;
use telepay_core::rotation::{Renewable, Rotating, SecretSource};
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
    /// The token as held, read again from its store when the Bot API refuses it or it is
    /// old ([`Rotating`]); clones share it.
    token: Arc<Rotating<BotToken>>,
    /// The bot built for the token it carries: rebuilt when the token changed.
    current: Arc<RwLock<(Bot, BotToken)>>,
    api_url: Option<reqwest::Url>,
}

/// Read again from its store when the Bot API refuses it (`telepay_core::rotation`).
impl Renewable for BotToken {
    const WHAT: &'static str = "the bot token";
    const RENEWED: &'static str = signal::BOT_TOKEN_RENEWED;
    fn from_text(text: String) -> Option<Self> {
        Self::new(text)
    }
    fn same_as(&self, other: &Self) -> bool {
        self.0 == other.0
    }
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
        let api_url = match api_url {
            Some(url) => Some(reqwest::Url::parse(url).map_err(|_| BadApiUrl)?),
            None => None,
        };
        let bot = bot_for(&token, api_url.as_ref());
        Ok(Self {
            token: Arc::new(Rotating::fixed(token.clone())),
            current: Arc::new(RwLock::new((bot, token))),
            api_url,
        })
    }

    /// When the Bot API refuses the token (it was rotated in BotFather and in its store),
    /// read it again from `source` before the next call, at most once per `pause`; the
    /// refused call is classified as worth retrying, so its work is retried, not failed.
    /// The token is also read again at the next call once held `max_age`.
    pub fn with_token_source(
        mut self,
        source: Arc<dyn SecretSource>,
        pause: Duration,
        max_age: Duration,
    ) -> Self {
        self.token =
            Arc::new(Rotating::fixed(self.token.current()).renewing(source, pause, max_age));
        self
    }

    /// The bot to call now.
    fn bot(&self) -> Bot {
        self.current.read().unwrap().0.clone()
    }

    /// The token the bot calls with (to scrub it from error texts).
    fn token(&self) -> BotToken {
        self.current.read().unwrap().1.clone()
    }

    /// Whether a refused token may be read again now: then the re-read is requested and
    /// the refusal is worth a retry; otherwise (read again within the pause, and still
    /// refused) the token is simply wrong.
    fn request_renewal(&self) -> bool {
        self.token.request_renewal()
    }

    /// Before a call: the token read again if a refusal asked for it or it is old, and
    /// the bot rebuilt when it changed.
    async fn ready(&self) {
        self.token.refresh_if_due().await;
        let token = self.token.current();
        if self.current.read().unwrap().1.same_as(&token) {
            return;
        }
        let mut current = self.current.write().unwrap();
        if !current.1.same_as(&token) {
            *current = (bot_for(&token, self.api_url.as_ref()), token);
        }
    }
}

fn bot_for(token: &BotToken, api_url: Option<&reqwest::Url>) -> Bot {
    let bot = Bot::new(token.0.clone());
    match api_url {
        Some(url) => bot.set_api_url(url.clone()),
        None => bot,
    }
}
