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

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use telepay_core::metrics::{self, signal};
use telepay_core::rotation::SecretSource;
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
    /// The bot as it stands: replaced when a rotated token is read again (clones share it).
    current: Arc<RwLock<(Bot, BotToken)>>,
    api_url: Option<reqwest::Url>,
    /// Where the token is read again when the Bot API refuses it, if anywhere.
    renewal: Option<Arc<TokenRenewal>>,
}

/// A refused token's re-read: requested by the failure's classification, done before the
/// next call, at most once a pause ([`telepay_core::rotation::REREAD_PAUSE`]).
struct TokenRenewal {
    source: Arc<dyn SecretSource>,
    pause: Duration,
    /// Read again at the next call once held this long, refused or not.
    max_age: Duration,
    read_at: Mutex<Instant>,
    last_read: Mutex<Option<Instant>>,
    requested: AtomicBool,
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
            current: Arc::new(RwLock::new((bot, token))),
            api_url,
            renewal: None,
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
        self.renewal = Some(Arc::new(TokenRenewal {
            source,
            pause,
            max_age,
            read_at: Mutex::new(Instant::now()),
            last_read: Mutex::new(None),
            requested: AtomicBool::new(false),
        }));
        self
    }

    /// The bot to call now.
    fn bot(&self) -> Bot {
        self.current.read().unwrap().0.clone()
    }

    /// The token as held (to scrub it from error texts).
    fn token(&self) -> BotToken {
        self.current.read().unwrap().1.clone()
    }

    /// Whether a refused token may be read again now: then the re-read is requested and
    /// the refusal is worth a retry; otherwise (read again within the pause, and still
    /// refused) the token is simply wrong.
    fn request_renewal(&self) -> bool {
        let Some(renewal) = &self.renewal else {
            return false;
        };
        let last = *renewal.last_read.lock().unwrap();
        if last.is_some_and(|at| at.elapsed() < renewal.pause) {
            return false;
        }
        renewal.requested.store(true, Ordering::SeqCst);
        true
    }

    /// Before a call: the token read again, if a refusal asked for it.
    async fn ready(&self) {
        let Some(renewal) = &self.renewal else {
            return;
        };
        let old = renewal.read_at.lock().unwrap().elapsed() >= renewal.max_age;
        if !renewal.requested.swap(false, Ordering::SeqCst) && !old {
            return;
        }
        let now = Instant::now();
        *renewal.last_read.lock().unwrap() = Some(now);
        *renewal.read_at.lock().unwrap() = now;
        match renewal.source.fetch().await {
            Ok(value) => {
                let Some(token) = BotToken::new(value) else {
                    return;
                };
                let mut current = self.current.write().unwrap();
                if current.1.0 != token.0 {
                    *current = (bot_for(&token, self.api_url.as_ref()), token);
                    tracing::info!(
                        "the bot token changed in its store: the new one is used from now on"
                    );
                    metrics::count(signal::BOT_TOKEN_RENEWED);
                }
            }
            Err(why) => {
                tracing::warn!(%why, "could not read the bot token again; keeping the one held")
            }
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
