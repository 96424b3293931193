//! One Bot API call: its method's name, its latency and 429s counted, and its failure
//! classified by method and error into what the protocol must do (retry, retry after,
//! the user unreachable, the bot misconfigured).

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use telepay_core::metrics::{self, latency, signal};
use telepay_core::telegram::TelegramError;
use teloxide_core::errors::{ApiError, RequestError};

use super::TelegramBotApi;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    GetChatMember,
    CreateChatInviteLink,
    RevokeChatInviteLink,
    UnbanChatMember,
    SendMessage,
    AnswerCallbackQuery,
    ApproveChatJoinRequest,
    DeclineChatJoinRequest,
    SetWebhook,
    CreateInvoiceLink,
    AnswerPreCheckoutQuery,
    RefundStarPayment,
    EditUserStarSubscription,
    GetStarTransactions,
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
            Self::CreateInvoiceLink => "createInvoiceLink",
            Self::AnswerPreCheckoutQuery => "answerPreCheckoutQuery",
            Self::RefundStarPayment => "refundStarPayment",
            Self::EditUserStarSubscription => "editUserStarSubscription",
            Self::GetStarTransactions => "getStarTransactions",
        }
    }
}

/// A user id as teloxide takes it (Telegram's are positive; anything else is no user).
pub(super) fn bot_api_user(user_id: i64) -> teloxide_core::types::UserId {
    teloxide_core::types::UserId(u64::try_from(user_id).unwrap_or_default())
}

/// Makes one Bot API call, recording how long it took and counting Telegram's 429s.
pub(super) async fn observed<T>(
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

impl TelegramBotApi {
    pub(super) fn classify(&self, method: Method, error: RequestError) -> TelegramError {
        let token = self.token();
        let redact = |text: String| text.replace(&token.0, "<token>");
        // A refused token may have been rotated: read it again before the next call, and
        // let this work be retried rather than failed for good.
        if matches!(&error, RequestError::Api(ApiError::InvalidToken)) && self.request_renewal() {
            return TelegramError::Transient(
                "the Bot API refused the bot token: reading it again from its store".into(),
            );
        }
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
        // A refusal of the Stars calls (a payload, a charge, a query Telegram does not
        // take) is the same again on a retry.
        Method::AnswerCallbackQuery
        | Method::SetWebhook
        | Method::CreateInvoiceLink
        | Method::AnswerPreCheckoutQuery
        | Method::RefundStarPayment
        | Method::EditUserStarSubscription
        | Method::GetStarTransactions => {
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
pub(super) fn is_bad_request(api: &ApiError) -> bool {
    let text = match api {
        ApiError::Unknown(text) => text.clone(),
        known => known.to_string(),
    };
    text.to_lowercase().starts_with("bad request")
}

/// The answers Telegram gives to a join request that was handled already (approved,
/// declined, or its user already in): the outcome is what was asked, so no error.
pub(super) fn already_handled(api: &ApiError) -> bool {
    let text = api.to_string().to_lowercase();
    [
        "hide_requester_missing",
        "user_already_participant",
        "already a member",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}
