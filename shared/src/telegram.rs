//! The Bot API adapter for [`TelegramInviter`], through teloxide-core, with every
//! failure classified by method and error into what the protocol must do.

use std::fmt;
use std::future::IntoFuture;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use telepay_core::directory::Admission;
use telepay_core::metrics::{self, latency, signal};
use telepay_core::telegram::{
    BotConversation, Button, ButtonAction, InviteLink, MemberRemover, TelegramError,
    TelegramInviter,
};
use teloxide_core::Bot;
use teloxide_core::errors::{ApiError, RequestError};
use teloxide_core::payloads::{
    AnswerCallbackQuerySetters, CreateChatInviteLinkSetters, SendMessageSetters, SetWebhookSetters,
};
use teloxide_core::prelude::Requester;
use teloxide_core::types::{
    AllowedUpdate, CallbackQueryId, InlineKeyboardButton, InlineKeyboardMarkup, WebhookInfo,
};
use teloxide_core::types::{ChatId, UserId};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    GetChatMember,
    CreateChatInviteLink,
    RevokeChatInviteLink,
    UnbanChatMember,
    SendMessage,
    AnswerCallbackQuery,
    ApproveChatJoinRequest,
    DeclineChatJoinRequest,
    SetWebhook,
}

impl Method {
    /// The Bot API's name: the `Operation` of the latency metric.
    fn name(self) -> &'static str {
        match self {
            Self::GetChatMember => "getChatMember",
            Self::CreateChatInviteLink => "createChatInviteLink",
            Self::RevokeChatInviteLink => "revokeChatInviteLink",
            Self::UnbanChatMember => "unbanChatMember",
            Self::SendMessage => "sendMessage",
            Self::AnswerCallbackQuery => "answerCallbackQuery",
            Self::ApproveChatJoinRequest => "approveChatJoinRequest",
            Self::DeclineChatJoinRequest => "declineChatJoinRequest",
            Self::SetWebhook => "setWebhook",
        }
    }
}

/// Makes one Bot API call, recording how long it took and counting Telegram's 429s.
async fn observed<T>(
    method: Method,
    call: impl IntoFuture<Output = Result<T, RequestError>>,
) -> Result<T, RequestError> {
    let started = Instant::now();
    let result = call.await;
    metrics::latency(latency::TELEGRAM, method.name(), started.elapsed());
    if let Err(RequestError::RetryAfter(_)) = &result {
        metrics::count(signal::TELEGRAM_RATE_LIMITED);
    }
    result
}

#[derive(Clone)]
pub struct BotApiInviter {
    bot: Bot,
    token: BotToken,
}

impl fmt::Debug for BotApiInviter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // teloxide's own Debug would print the token.
        f.write_str("BotApiInviter")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("TELEGRAM_API_URL is not a valid URL")]
pub struct BadApiUrl;

impl BotApiInviter {
    /// A bot on the real Bot API, or on `api_url` (a local Bot API server or a fake).
    pub fn new(token: BotToken, api_url: Option<&str>) -> Result<Self, BadApiUrl> {
        let mut bot = Bot::new(token.0.clone());
        if let Some(url) = api_url {
            bot = bot.set_api_url(reqwest::Url::parse(url).map_err(|_| BadApiUrl)?);
        }
        Ok(Self { bot, token })
    }

    fn classify(&self, method: Method, error: RequestError) -> TelegramError {
        let redact = |text: String| text.replace(&self.token.0, "<token>");
        match error {
            RequestError::RetryAfter(seconds) => {
                TelegramError::RetryAfter(Duration::from_secs(seconds.seconds().into()))
            }
            RequestError::Api(api) => classify_api(method, api),
            RequestError::MigrateToChatId(_) => TelegramError::Misconfigured(
                "the chat migrated to a supergroup: update the channel directory".into(),
            ),
            RequestError::Network(e) => TelegramError::Transient(redact(e.to_string())),
            RequestError::Io(e) => TelegramError::Transient(redact(e.to_string())),
            RequestError::InvalidJson { .. } => TelegramError::Transient(
                "the Bot API answered something that is not its JSON".into(),
            ),
        }
    }
}

/// teloxide-core has variants for some descriptions; the rest (e.g. today's "Forbidden:
/// bot can't initiate conversation with a user") arrive as `Unknown(text)`, so the text
/// decides too. Anything unrecognised is transient: retried, then dead-lettered.
fn classify_api(method: Method, api: ApiError) -> TelegramError {
    let text = match &api {
        ApiError::Unknown(text) => text.clone(),
        known => known.to_string(),
    };
    let lower = text.to_lowercase();
    let says = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    if matches!(api, ApiError::InvalidToken) {
        return TelegramError::Misconfigured("the Bot API rejected the bot token".into());
    }
    match method {
        // Any 400 is "not a member" (Telegram says "user not found" for users it will not
        // disclose); a 403 means the bot cannot see the channel.
        Method::GetChatMember => {
            if lower.starts_with("forbidden") || says(&["not enough rights", "not a member"]) {
                TelegramError::Misconfigured(text)
            } else {
                TelegramError::Transient(text)
            }
        }
        Method::SendMessage => {
            let unreachable = matches!(
                api,
                ApiError::BotBlocked
                    | ApiError::UserDeactivated
                    | ApiError::CantInitiateConversation
                    | ApiError::CantTalkWithBots
                    | ApiError::ChatNotFound
                    | ApiError::UserNotFound
            ) || says(&[
                "blocked by the user",
                "user is deactivated",
                "can't initiate conversation",
                "chat not found",
                "user not found",
            ]);
            if unreachable {
                TelegramError::UserUnreachable(text)
            } else {
                TelegramError::Transient(text)
            }
        }
        // Refusals that no retry can change: the user is the owner or an admin, or the bot
        // cannot manage the chat. The lifecycle records them as removal_failed.
        Method::UnbanChatMember => {
            let refused = matches!(
                api,
                ApiError::ChatNotFound
                    | ApiError::BotKicked
                    | ApiError::BotKickedFromSupergroup
                    | ApiError::BotKickedFromChannel
            ) || lower.starts_with("forbidden")
                || says(&[
                    "administrator",
                    "owner",
                    "not enough rights",
                    "chat not found",
                    "can't remove",
                    "method is available",
                ]);
            if refused {
                TelegramError::Misconfigured(text)
            } else {
                TelegramError::Transient(text)
            }
        }
        Method::AnswerCallbackQuery | Method::SetWebhook => {
            if lower.starts_with("bad request") || lower.starts_with("forbidden") {
                TelegramError::Misconfigured(text)
            } else {
                TelegramError::Transient(text)
            }
        }
        Method::CreateChatInviteLink
        | Method::RevokeChatInviteLink
        | Method::ApproveChatJoinRequest
        | Method::DeclineChatJoinRequest => {
            let misconfigured = matches!(
                api,
                ApiError::ChatNotFound
                    | ApiError::BotKicked
                    | ApiError::BotKickedFromSupergroup
                    | ApiError::BotKickedFromChannel
                    | ApiError::MethodNotAvailableInPrivateChats
            ) || lower.starts_with("forbidden")
                || says(&[
                    "not enough rights",
                    "chat not found",
                    "administrator",
                    "not a member",
                ]);
            if misconfigured {
                TelegramError::Misconfigured(text)
            } else {
                TelegramError::Transient(text)
            }
        }
    }
}

/// A 400 answer, by the description Telegram gives (teloxide-core keeps no status code;
/// its known variants print Telegram's own "Bad Request: ..." text).
fn is_bad_request(api: &ApiError) -> bool {
    let text = match api {
        ApiError::Unknown(text) => text.clone(),
        known => known.to_string(),
    };
    text.to_lowercase().starts_with("bad request")
}

impl TelegramInviter for BotApiInviter {
    async fn is_member(&self, chat_id: i64, user_id: i64) -> Result<bool, TelegramError> {
        let user = UserId(u64::try_from(user_id).unwrap_or_default());
        let call = self.bot.get_chat_member(ChatId(chat_id), user);
        match observed(Method::GetChatMember, call).await {
            Ok(member) => Ok(member.is_present()),
            Err(RequestError::Api(api)) if is_bad_request(&api) => Ok(false),
            Err(error) => Err(self.classify(Method::GetChatMember, error)),
        }
    }

    async fn create_invite_link(
        &self,
        chat_id: i64,
        name: &str,
        expires_at: DateTime<Utc>,
        admission: Admission,
    ) -> Result<InviteLink, TelegramError> {
        let request = self
            .bot
            .create_chat_invite_link(ChatId(chat_id))
            .name(name)
            .expire_date(expires_at);
        let request = match admission {
            Admission::OneTimeLink => request.member_limit(1),
            Admission::JoinRequest => request.creates_join_request(true),
        };
        let link = observed(Method::CreateChatInviteLink, request)
            .await
            .map_err(|e| self.classify(Method::CreateChatInviteLink, e))?;
        Ok(InviteLink {
            url: link.invite_link,
            expires_at: link.expire_date.unwrap_or(expires_at),
        })
    }

    async fn revoke_invite_link(&self, chat_id: i64, link: &str) -> Result<(), TelegramError> {
        let call = self.bot.revoke_chat_invite_link(ChatId(chat_id), link);
        observed(Method::RevokeChatInviteLink, call)
            .await
            .map_err(|e| self.classify(Method::RevokeChatInviteLink, e))?;
        Ok(())
    }

    async fn send_message(&self, user_id: i64, text: &str) -> Result<(), TelegramError> {
        observed(
            Method::SendMessage,
            self.bot.send_message(ChatId(user_id), text),
        )
        .await
        .map_err(|e| self.classify(Method::SendMessage, e))?;
        Ok(())
    }
}

impl MemberRemover for BotApiInviter {
    async fn remove_member(&self, chat_id: i64, user_id: i64) -> Result<(), TelegramError> {
        let user = UserId(u64::try_from(user_id).unwrap_or_default());
        // Without only_if_banned: a current member is removed and may rejoin later.
        let call = self.bot.unban_chat_member(ChatId(chat_id), user);
        match observed(Method::UnbanChatMember, call).await {
            Ok(_) => Ok(()),
            // "user not found" and the like: not in the chat, so nothing to remove.
            Err(RequestError::Api(api))
                if is_bad_request(&api)
                    && api.to_string().to_lowercase().contains("not found")
                    && !api.to_string().to_lowercase().contains("chat not found") =>
            {
                Ok(())
            }
            Err(error) => Err(self.classify(Method::UnbanChatMember, error)),
        }
    }
}

/// The answers Telegram gives to a join request that was handled already (approved,
/// declined, or its user already in): the outcome is what was asked, so no error.
fn already_handled(api: &ApiError) -> bool {
    let text = api.to_string().to_lowercase();
    [
        "hide_requester_missing",
        "user_already_participant",
        "already a member",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

fn keyboard(buttons: &[Vec<Button>]) -> Option<InlineKeyboardMarkup> {
    if buttons.is_empty() {
        return None;
    }
    let rows = buttons.iter().map(|row| {
        row.iter()
            .filter_map(|button| match &button.action {
                ButtonAction::Callback(data) => {
                    Some(InlineKeyboardButton::callback(&button.text, data))
                }
                ButtonAction::Url(url) => reqwest::Url::parse(url)
                    .ok()
                    .map(|url| InlineKeyboardButton::url(&button.text, url)),
            })
            .collect::<Vec<_>>()
    });
    Some(InlineKeyboardMarkup::new(rows))
}

impl BotConversation for BotApiInviter {
    async fn send_menu(
        &self,
        chat_id: i64,
        text: &str,
        buttons: &[Vec<Button>],
    ) -> Result<(), TelegramError> {
        let request = self.bot.send_message(ChatId(chat_id), text);
        let request = match keyboard(buttons) {
            Some(markup) => request.reply_markup(markup),
            None => request,
        };
        observed(Method::SendMessage, request)
            .await
            .map_err(|e| self.classify(Method::SendMessage, e))?;
        Ok(())
    }

    async fn answer_button(
        &self,
        query_id: &str,
        notice: Option<&str>,
    ) -> Result<(), TelegramError> {
        let request = self
            .bot
            .answer_callback_query(CallbackQueryId(query_id.to_owned()));
        let request = match notice {
            Some(text) => request.text(text),
            None => request,
        };
        match observed(Method::AnswerCallbackQuery, request).await {
            Ok(_) => Ok(()),
            // "query is too old and response timeout expired": nothing left to answer.
            Err(RequestError::Api(api)) if is_bad_request(&api) => Ok(()),
            Err(e) => Err(self.classify(Method::AnswerCallbackQuery, e)),
        }
    }

    async fn approve_join_request(&self, chat_id: i64, user_id: i64) -> Result<(), TelegramError> {
        self.decide_join_request(chat_id, user_id, Method::ApproveChatJoinRequest)
            .await
    }

    async fn decline_join_request(&self, chat_id: i64, user_id: i64) -> Result<(), TelegramError> {
        self.decide_join_request(chat_id, user_id, Method::DeclineChatJoinRequest)
            .await
    }
}

impl BotApiInviter {
    /// `approveChatJoinRequest` or `declineChatJoinRequest`; a request already handled
    /// is no error.
    async fn decide_join_request(
        &self,
        chat_id: i64,
        user_id: i64,
        method: Method,
    ) -> Result<(), TelegramError> {
        let (chat, user) = (
            ChatId(chat_id),
            UserId(u64::try_from(user_id).unwrap_or_default()),
        );
        let decided = if method == Method::ApproveChatJoinRequest {
            let call = self.bot.approve_chat_join_request(chat, user);
            observed(method, call).await.map(drop)
        } else {
            let call = self.bot.decline_chat_join_request(chat, user);
            observed(method, call).await.map(drop)
        };
        match decided {
            Ok(()) => Ok(()),
            Err(RequestError::Api(api)) if already_handled(&api) => Ok(()),
            Err(e) => Err(self.classify(method, e)),
        }
    }
}

/// The updates the bot asks Telegram for.
pub const ALLOWED_UPDATES: [AllowedUpdate; 4] = [
    AllowedUpdate::Message,
    AllowedUpdate::CallbackQuery,
    AllowedUpdate::ChatJoinRequest,
    AllowedUpdate::MyChatMember,
];

impl BotApiInviter {
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
