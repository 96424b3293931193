//! The operator's workflows, generic over the ports: list what needs attention, replay a
//! stuck invite, re-issue a link, approve or reject a held payment. The `telepay` CLI
//! parses arguments and prints; every decision is made here, tested on the memory store
//! (`tests.rs` beside this file, and `cli/tests/operator.rs` through the binary).
//!
//! Each workflow names only the ports it calls: `attention` (operator + reconciler
//! listings), `invites` (replay, re-issue: operator), `reviews` (approve: operator +
//! ingress; reject, resolve: operator), `subscriptions` (subscriptions), `refunds` (a
//! Telegram Stars refund: operator + subscriptions + the Stars calls).

mod attention;
mod invites;
mod refunds;
mod reviews;
mod subscriptions;

pub use refunds::StarsRefund;

pub use subscriptions::within;

use serde::Serialize;

use crate::clock::SharedClock;
use crate::directory::ChannelDirectory;
use crate::ipn::PaymentId;
use crate::payment::ProcessedPayment;
use crate::queue::QueueError;
use crate::review::ApproveError;
use crate::store::{OperatorStore, StoreError};
use crate::telegram::TelegramError;

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("payment {0} not found")]
    PaymentNotFound(i64),
    #[error("no review entry for payment {0}")]
    ReviewNotFound(i64),
    #[error("payment {0}: the invite was sent; use `telepay payments reissue` to send a new link")]
    AlreadySent(i64),
    #[error("payment {0}: a worker holds it right now; try again shortly")]
    Leased(i64),
    #[error("payment {payment_id} was already {decision}")]
    AlreadyDecided {
        payment_id: i64,
        decision: &'static str,
    },
    #[error(
        "payment {0} does not need an operator (it was processed, or has its purchase): nothing to resolve"
    )]
    NoOperatorNeeded(i64),
    #[error(
        "payment {0} was refunded by NOWPayments: nothing to grant; reject it to close the review"
    )]
    Refunded(i64),
    #[error(
        "payment {payment_id} is a top-up of purchase {purchase_id}: settle the purchase with telepay reviews approve {purchase_id}"
    )]
    TopUpPart { payment_id: i64, purchase_id: i64 },
    #[error("payment {0} is already granted: it cannot be rejected")]
    AlreadyGranted(i64),
    #[error("payment {0}: its private channel is unknown; set the channel directory")]
    UnknownPrivateChannel(i64),
    #[error("payment {0} has a link to revoke: set TELEGRAM_BOT_TOKEN")]
    NoBot(i64),
    #[error(
        "payment {0} was not paid in Telegram Stars: refund a crypto payment in the NOWPayments dashboard (its IPN takes the time back)"
    )]
    NotStars(i64),
    #[error("payment {payment_id}: Telegram did not refund it ({reason}); nothing was changed")]
    Telegram {
        payment_id: i64,
        reason: TelegramError,
    },
    #[error("no subscription for {0}")]
    SubscriptionNotFound(crate::subscription::SubscriptionKey),
    #[error("the subscription of {0} kept changing under this write; try again")]
    SubscriptionBusy(crate::subscription::SubscriptionKey),
    #[error("{0} days is not a length of access (1 to 3660)")]
    BadLength(u32),
    #[error(transparent)]
    ReasonTooLong(#[from] crate::subscription::ReasonTooLong),
    #[error(transparent)]
    Approve(#[from] ApproveError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(
        "payment {payment_id} was re-opened and its new invite queued, but revoking its old link {link} failed ({reason}): revoke it in Telegram"
    )]
    RevokeFailed {
        payment_id: i64,
        link: String,
        reason: TelegramError,
    },
}

/// One line of "what needs attention".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attention {
    pub payment_id: i64,
    /// `not_processed`, `invite_not_sent`, `needs_operator`, `invite_failed`,
    /// `held_for_review`, or `unreadable` (a row this version cannot read; `reason` says
    /// why).
    pub stage: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leased: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Unknown for a row that cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_minutes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
}

/// The bot and the directory, for workflows that may revoke a link: the bot is needed
/// only when there is a link, the directory only for seed rows without a purchase.
pub struct LinkRevoker<'a, T> {
    pub telegram: Option<&'a T>,
    pub directory: Option<&'a ChannelDirectory>,
}

impl<T> Clone for LinkRevoker<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for LinkRevoker<'_, T> {}

/// The workflows over a store they borrow (so concurrent operators can share one).
pub struct Operator<'s, S> {
    pub store: &'s S,
    pub clock: SharedClock,
}

impl<'s, S> Operator<'s, S> {
    pub fn new(store: &'s S, clock: SharedClock) -> Self {
        Self { store, clock }
    }
}

impl<S: OperatorStore> Operator<'_, S> {
    pub async fn payment(&self, payment_id: PaymentId) -> Result<ProcessedPayment, OperatorError> {
        self.store
            .get_payment(payment_id)
            .await?
            .ok_or(OperatorError::PaymentNotFound(payment_id.get()))
    }
}

#[cfg(test)]
mod tests;
