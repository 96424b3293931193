//! The bot's outcome vocabulary: the parts of Telegram's request it reads, the outcome
//! of an update (its HTTP status and word), and why an update stopped short.
//!
//! Tests: `functions/bot-webhook/src/tests/dispatch.rs` (each outcome's status).

use serde::Serialize;

use crate::bot::admission::AdmissionError;
use crate::bot::invoice::InvoiceError;
use crate::operator::OperatorError;
use crate::queue::QueueError;
use crate::store::StoreError;
use crate::telegram::TelegramError;

/// The parts of Telegram's request the bot looks at.
#[derive(Debug, Clone, Copy)]
pub struct BotRequest<'a> {
    pub method: &'a str,
    /// `X-Telegram-Bot-Api-Secret-Token`, found case-insensitively by the caller.
    pub secret: Option<&'a [u8]>,
    pub body: &'a [u8],
}

/// Every answer the bot webhook gives; [`BotOutcome::status`] is the one place they
/// become HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BotOutcome {
    Handled,
    /// Done before: a redelivery.
    AlreadyHandled,
    /// An update the bot leaves alone (another kind, a group, no text).
    Ignored,
    BadSecret,
    BadRequest,
    TooLarge,
    MethodNotAllowed,
    /// Another worker holds this update now: Telegram retries it later.
    Busy,
    /// The store, Telegram or NOWPayments failed for now: Telegram retries.
    Unavailable,
}

impl BotOutcome {
    pub fn status(self) -> u16 {
        match self {
            Self::Handled | Self::AlreadyHandled | Self::Ignored => 200,
            Self::BadRequest => 400,
            Self::BadSecret => 401,
            Self::MethodNotAllowed => 405,
            Self::TooLarge => 413,
            Self::Busy | Self::Unavailable => 500,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Self::Handled => "handled",
            Self::AlreadyHandled => "already_handled",
            Self::Ignored => "ignored",
            Self::BadSecret => "bad_secret",
            Self::BadRequest => "bad_request",
            Self::TooLarge => "too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
        }
    }

    /// The JSON body: the outcome word only.
    pub fn body(self) -> String {
        format!("{{\"outcome\":\"{}\"}}", self.word())
    }
}

/// Why the work on an update stopped.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Telegram(#[from] TelegramError),
    #[error(transparent)]
    Invoice(#[from] InvoiceError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error("another worker is making this invoice now")]
    InvoiceBusy,
    #[error("this minute's new invoices are all made")]
    InvoicesCapped,
}

impl From<AdmissionError> for BotError {
    fn from(error: AdmissionError) -> Self {
        match error {
            AdmissionError::Store(e) => Self::Store(e),
            AdmissionError::Telegram(e) => Self::Telegram(e),
            AdmissionError::Queue(e) => Self::Queue(e),
        }
    }
}

impl BotError {
    /// Whether Telegram redelivering the update can help.
    pub fn retry_helps(&self) -> bool {
        match self {
            Self::Store(StoreError::Unavailable(_)) | Self::Queue(_) | Self::InvoiceBusy => true,
            // The buyer was told to tap again: that tap is the retry.
            Self::InvoicesCapped => false,
            Self::Store(_) => false,
            Self::Telegram(e) => matches!(
                e,
                TelegramError::Transient(_) | TelegramError::RetryAfter(_)
            ),
            Self::Invoice(e) => matches!(e, InvoiceError::Unavailable(_)),
            Self::Operator(e) => matches!(
                e,
                OperatorError::Store(StoreError::Unavailable(_))
                    | OperatorError::Queue(_)
                    | OperatorError::Leased(_)
            ),
        }
    }
}
