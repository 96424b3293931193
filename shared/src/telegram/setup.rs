//! The bot's webhook as the owner sets it (`telepay bot set-webhook`, `telepay bot info`):
//! the URL, the secret token, and the updates the bot asks for.

use telepay_core::telegram::TelegramError;
use teloxide_core::payloads::SetWebhookSetters;
use teloxide_core::prelude::Requester;
use teloxide_core::types::{AllowedUpdate, WebhookInfo};

use super::TelegramBotApi;
use super::call::Method;

/// Deliveries Telegram may post at once, unless the owner says: the template's
/// `WebhookReservedConcurrency` default, so no update meets a throttled function.
pub const DEFAULT_MAX_CONNECTIONS: u8 = 20;

/// The updates the bot asks Telegram for (`chat_member`, others' joins, only comes when
/// asked for by name: docs/bot.md; `pre_checkout_query`, the Stars rail's: docs/stars.md).
pub const ALLOWED_UPDATES: [AllowedUpdate; 6] = [
    AllowedUpdate::Message,
    AllowedUpdate::CallbackQuery,
    AllowedUpdate::ChatJoinRequest,
    AllowedUpdate::MyChatMember,
    AllowedUpdate::ChatMember,
    AllowedUpdate::PreCheckoutQuery,
];

impl TelegramBotApi {
    /// `setWebhook` to `url` with the secret token, the bot's updates, and at most
    /// `max_connections` deliveries at once (`telepay bot set-webhook`).
    pub async fn set_webhook(
        &self,
        url: &str,
        secret: &str,
        max_connections: u8,
    ) -> Result<(), TelegramError> {
        self.ready().await;
        let url = reqwest::Url::parse(url)
            .map_err(|_| TelegramError::Misconfigured("the webhook URL is not a URL".into()))?;
        self.bot()
            .set_webhook(url)
            .secret_token(secret)
            .allowed_updates(ALLOWED_UPDATES)
            .max_connections(max_connections)
            .await
            .map_err(|e| self.classify(Method::SetWebhook, e))?;
        Ok(())
    }

    /// `getWebhookInfo` (`telepay bot info`).
    pub async fn webhook_info(&self) -> Result<WebhookInfo, TelegramError> {
        self.ready().await;
        self.bot()
            .get_webhook_info()
            .await
            .map_err(|e| self.classify(Method::SetWebhook, e))
    }
}

/// What `telepay doctor` asks Telegram: the token (`getMe`), the webhook
/// (`getWebhookInfo`), and the bot's own standing in a channel (`getChatMember` of the
/// bot).
impl telepay_core::doctor::BotCheck for TelegramBotApi {
    async fn me(&self) -> Result<telepay_core::doctor::BotIdentity, TelegramError> {
        self.ready().await;
        let me = self
            .bot()
            .get_me()
            .await
            .map_err(|e| self.classify(Method::SetWebhook, e))?;
        Ok(telepay_core::doctor::BotIdentity {
            id: i64::try_from(me.id.0).unwrap_or_default(),
            username: me.username.clone().unwrap_or_default(),
        })
    }

    async fn webhook(&self) -> Result<telepay_core::doctor::WebhookFacts, TelegramError> {
        self.ready().await;
        let info = self.webhook_info().await?;
        let allowed_updates = info.allowed_updates.map(|kinds| {
            kinds
                .iter()
                .filter_map(|kind| serde_json::to_value(kind).ok()?.as_str().map(str::to_owned))
                .collect()
        });
        Ok(telepay_core::doctor::WebhookFacts {
            url: info.url.map(|url| url.to_string()).unwrap_or_default(),
            allowed_updates,
            last_error: info.last_error_message,
            pending: info.pending_update_count,
        })
    }

    async fn standing(
        &self,
        chat_id: i64,
        bot_id: i64,
    ) -> Result<telepay_core::doctor::BotStanding, TelegramError> {
        self.ready().await;
        use telepay_core::doctor::BotStanding;
        use teloxide_core::types::ChatMemberKind;
        let member = match self.chat_member(chat_id, bot_id).await {
            Ok(Some(member)) => member,
            Ok(None) => return Ok(BotStanding::Unknown),
            // The bot cannot see the channel at all.
            Err(TelegramError::Misconfigured(_)) => return Ok(BotStanding::Out),
            Err(other) => return Err(other),
        };
        Ok(match member.kind {
            ChatMemberKind::Owner(_) => BotStanding::Creator,
            ChatMemberKind::Administrator(admin) => BotStanding::Admin {
                invite: admin.can_invite_users,
                restrict: admin.can_restrict_members,
            },
            ChatMemberKind::Member(_) | ChatMemberKind::Restricted(_) => BotStanding::Member,
            ChatMemberKind::Left | ChatMemberKind::Banned(_) => BotStanding::Out,
        })
    }
}
