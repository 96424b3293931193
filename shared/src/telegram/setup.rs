//! The bot's webhook as the owner sets it (`telepay bot set-webhook`, `telepay bot info`):
//! the URL, the secret token, and the updates the bot asks for.

use telepay_core::telegram::TelegramError;
use teloxide_core::payloads::SetWebhookSetters;
use teloxide_core::prelude::Requester;
use teloxide_core::types::{AllowedUpdate, WebhookInfo};

use super::TelegramBotApi;
use super::call::Method;

/// The updates the bot asks Telegram for.
pub const ALLOWED_UPDATES: [AllowedUpdate; 4] = [
    AllowedUpdate::Message,
    AllowedUpdate::CallbackQuery,
    AllowedUpdate::ChatJoinRequest,
    AllowedUpdate::MyChatMember,
];

impl TelegramBotApi {
    /// `setWebhook` to `url` with the secret token and the bot's updates (`telepay bot
    /// set-webhook`).
    pub async fn set_webhook(&self, url: &str, secret: &str) -> Result<(), TelegramError> {
        let url = reqwest::Url::parse(url)
            .map_err(|_| TelegramError::Misconfigured("the webhook URL is not a URL".into()))?;
        self.bot
            .set_webhook(url)
            .secret_token(secret)
            .allowed_updates(ALLOWED_UPDATES)
            .await
            .map_err(|e| self.classify(Method::SetWebhook, e))?;
        Ok(())
    }

    /// `getWebhookInfo` (`telepay bot info`).
    pub async fn webhook_info(&self) -> Result<WebhookInfo, TelegramError> {
        self.bot
            .get_webhook_info()
            .await
            .map_err(|e| self.classify(Method::SetWebhook, e))
    }
}
