//! The Telegram port the invite sender needs, with errors already classified by what the
//! caller must do. The teloxide-core adapter lives in `telepay-shared`.
//!
//! Tests: the adapter's, `shared/tests/telegram_adapter.rs` (against the fake Bot API).

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::directory::Admission;

/// A created invite link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteLink {
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

/// A Bot API failure, by its effect on the payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelegramError {
    /// 429: wait this long before the next attempt.
    #[error("rate limited by Telegram; retry after {0:?}")]
    RetryAfter(Duration),
    /// 5xx, network, timeout, or an error we do not know: try again later.
    #[error("Telegram call failed, will retry: {0}")]
    Transient(String),
    /// The user blocked the bot, is deactivated, or never started it: retrying cannot help
    /// until the user acts; an operator re-issues.
    #[error("the user cannot be messaged: {0}")]
    UserUnreachable(String),
    /// The bot cannot manage the private channel (not admin, no rights, wrong id, bad
    /// token): a configuration error an operator must fix.
    #[error("bot configuration error: {0}")]
    Misconfigured(String),
}

/// The Bot API calls of an invite.
pub trait TelegramInviter: Send + Sync {
    /// `getChatMember`: whether `user_id` is in `chat_id` now (creator, administrator,
    /// member, or restricted while a member). Any 400 answer means no (Telegram says
    /// "user not found" for users it will not disclose); 429, 5xx and timeouts are errors.
    fn is_member(
        &self,
        chat_id: i64,
        user_id: i64,
    ) -> impl Future<Output = Result<bool, TelegramError>> + Send;

    /// `createChatInviteLink` with `expire_date = expires_at` and, by the channel's
    /// admission, `member_limit = 1` (a one-time link) or `creates_join_request = true`
    /// (Telegram forbids a member limit with it).
    fn create_invite_link(
        &self,
        chat_id: i64,
        name: &str,
        expires_at: DateTime<Utc>,
        admission: Admission,
    ) -> impl Future<Output = Result<InviteLink, TelegramError>> + Send;

    /// `revokeChatInviteLink`.
    fn revoke_invite_link(
        &self,
        chat_id: i64,
        link: &str,
    ) -> impl Future<Output = Result<(), TelegramError>> + Send;

    /// `sendMessage` to the buyer.
    fn send_message(
        &self,
        user_id: i64,
        text: &str,
    ) -> impl Future<Output = Result<(), TelegramError>> + Send;
}

/// The Bot API call of a removal.
pub trait MemberRemover: Send + Sync {
    /// `unbanChatMember` without `only_if_banned`: removes a current member and leaves
    /// them free to rejoin with a new link, so a crash half-way never leaves a permanent
    /// ban. A user who is not in the chat is no error (already removed). A user the
    /// owner banned (`getChatMember`: `kicked`) is left banned, with no unban call:
    /// `unbanChatMember` would lift the ban and let any link that still admits them in. Refusals that
    /// can never succeed (the user is the owner or an admin, the bot lacks rights) are
    /// [`TelegramError::Misconfigured`].
    fn remove_member(
        &self,
        chat_id: i64,
        user_id: i64,
    ) -> impl Future<Output = Result<(), TelegramError>> + Send;
}

/// An inline button under a bot message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub text: String,
    pub action: ButtonAction,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonAction {
    /// Comes back as a callback query with this data (at most 64 bytes).
    Callback(String),
    /// Opens this URL (the invoice's payment page).
    Url(String),
}

/// The Bot API calls of the bot's conversation and of admission.
pub trait BotConversation: Send + Sync {
    /// `sendMessage` with rows of inline buttons (none: plain text).
    fn send_menu(
        &self,
        chat_id: i64,
        text: &str,
        buttons: &[Vec<Button>],
    ) -> impl Future<Output = Result<(), TelegramError>> + Send;

    /// `answerCallbackQuery`, with a short notice or none. A query too old to answer is
    /// no error (the user already waited it out).
    fn answer_button(
        &self,
        query_id: &str,
        notice: Option<&str>,
    ) -> impl Future<Output = Result<(), TelegramError>> + Send;

    /// `approveChatJoinRequest`. A request already handled (approved, declined, or the
    /// user already a member) is no error.
    fn approve_join_request(
        &self,
        chat_id: i64,
        user_id: i64,
    ) -> impl Future<Output = Result<(), TelegramError>> + Send;

    /// `declineChatJoinRequest`. A request already handled is no error.
    fn decline_join_request(
        &self,
        chat_id: i64,
        user_id: i64,
    ) -> impl Future<Output = Result<(), TelegramError>> + Send;
}

/// A Stars invoice the bot asks Telegram to make (docs/stars.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StarsInvoice {
    /// 1–32 characters.
    pub title: String,
    /// 1–255 characters.
    pub description: String,
    /// The bot's own, 1–128 bytes (`crate::stars::StarsOrder::to_payload`).
    pub payload: String,
    pub stars: u32,
    /// Renewed by Telegram every 30 days (`subscription_period` 2592000).
    pub recurring: bool,
}

/// The bot's Stars ledger (`getStarTransactions`): what the processor checks a Stars
/// payment against before it records it (`crate::stars::ledger`).
pub trait StarsLedger: Send + Sync {
    /// Up to `limit` (1–100) transactions from `offset`, in the Bot API's order.
    fn star_transactions(
        &self,
        offset: u32,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<crate::stars::LedgerEntry>, TelegramError>> + Send;
}

/// No ledger to read (a processor given no bot token): no Stars payment is recorded.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoStarsLedger;

impl StarsLedger for NoStarsLedger {
    async fn star_transactions(
        &self,
        _offset: u32,
        _limit: u32,
    ) -> Result<Vec<crate::stars::LedgerEntry>, TelegramError> {
        Err(TelegramError::Misconfigured(
            "the processor has no bot token: it cannot check Stars payments".into(),
        ))
    }
}

/// The Bot API calls of the Telegram Stars rail.
pub trait StarsPayments: Send + Sync {
    /// `createInvoiceLink` in `XTR`, without a provider token; the link the buyer pays by.
    fn create_stars_invoice_link(
        &self,
        invoice: &StarsInvoice,
    ) -> impl Future<Output = Result<String, TelegramError>> + Send;

    /// `answerPreCheckoutQuery`: `refusal` none to let Telegram charge, else the reason
    /// Telegram shows the buyer. Telegram waits 10 seconds for it.
    fn answer_pre_checkout(
        &self,
        query_id: &str,
        refusal: Option<&str>,
    ) -> impl Future<Output = Result<(), TelegramError>> + Send;

    /// `refundStarPayment`: the Stars go back to the buyer.
    fn refund_star_payment(
        &self,
        user_id: i64,
        charge_id: &str,
    ) -> impl Future<Output = Result<(), TelegramError>> + Send;

    /// `editUserStarSubscription` with `is_canceled`: Telegram stops renewing; the period
    /// paid runs to its end.
    fn cancel_star_subscription(
        &self,
        user_id: i64,
        charge_id: &str,
    ) -> impl Future<Output = Result<(), TelegramError>> + Send;
}
