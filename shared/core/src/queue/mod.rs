//! Messages between the stages, and the queue port they travel through.
//!
//! Tests: the adapters' (`shared/src/sql_queue.rs` with `tests/tests/queue_conformance.rs`, `tests/tests/chain_moto.rs` on SQS) and
//! every consumer's handler tests.

pub mod memory;

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ipn::PaymentId;
use crate::order::{ChannelId, UserId};
use crate::payment::{ProcessedPayment, Purchase};
use crate::subscription::SubscriptionKey;

/// Bumped when a field changes meaning; consumers refuse versions they do not know.
pub const PROCESSOR_MESSAGE_VERSION: u32 = 1;

/// The np-webhook → payment-processor message. `payment_id` is the key every consumer
/// dedupes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessorMessage {
    pub v: u32,
    pub payment_id: PaymentId,
    pub user_id: UserId,
    pub channel_id: ChannelId,
    pub purchase: Purchase,
    /// The record's `created_at`: when the paid time starts at the earliest. Absent in
    /// messages queued before subscriptions (the processor then uses its own time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<DateTime<Utc>>,
    /// Set when np-webhook verified the IPN but could not write its record (a store
    /// outage): the processor writes it first, with the same conditional put, so a
    /// payment outlives an outage longer than NOWPayments' retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unrecorded: Option<Unrecorded>,
    /// Set by the bot for a Telegram Stars payment, which has no record yet: the
    /// processor writes it (the same conditional put, keyed by the charge) once the
    /// bot's Stars ledger lists the charge as this (`crate::stars::StarsPaid::vouched`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stars_paid: Option<crate::stars::StarsPaid>,
}

/// What the processor needs to write a record np-webhook could not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unrecorded {
    /// The verified IPN's payload hash (kept to compare with later repeats).
    pub payload_hash: String,
    /// The IPN as NOWPayments signed it, and its `x-nowpayments-sig`: the processor
    /// verifies them and that they name this message's payment, buyer and channel
    /// before it writes anything, so only NOWPayments can have a record written this
    /// way, never a sender to the queue. Absent in handovers queued before (refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// Why a handover was not vouched for by NOWPayments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unvouched {
    #[error("the handover carries no signed IPN")]
    NoSignedIpn,
    #[error("the IPN's signature does not verify with the IPN secret held")]
    Signature,
    #[error("the signed body is not an IPN")]
    NotAnIpn,
    #[error(
        "the signed IPN names another payment, buyer or channel, or a status that grants nothing"
    )]
    OtherFacts,
    #[error("the tier length differs from the signed order's")]
    OtherTier,
}

impl Unrecorded {
    /// The payload hash of the IPN NOWPayments signed, if it vouches for `message`: its
    /// signature verifies with `secret`, it names the message's payment, buyer and
    /// channel (its order), its status is one that pays, and the tier's length is the
    /// order's.
    pub fn vouched_for(
        &self,
        message: &ProcessorMessage,
        secret: &crate::signature::IpnSecret,
    ) -> Result<String, Unvouched> {
        let (Some(body), signature) = (&self.ipn, self.signature.as_deref()) else {
            return Err(Unvouched::NoSignedIpn);
        };
        crate::signature::verify(secret, body.as_bytes(), signature)
            .map_err(|_| Unvouched::Signature)?;
        let ipn = crate::ipn::Ipn::parse(body.as_bytes()).map_err(|_| Unvouched::NotAnIpn)?;
        let order = crate::order::OrderRef::parse(ipn.order_id.as_deref())
            .map_err(|_| Unvouched::OtherFacts)?;
        let pays = ipn.payment_status.grants_access()
            || ipn.payment_status == crate::ipn::PaymentStatus::PartiallyPaid;
        if ipn.payment_id != message.payment_id
            || order.user_id != message.user_id
            || order.channel_id != message.channel_id
            || !pays
        {
            return Err(Unvouched::OtherFacts);
        }
        // A prorated purchase sold a share of the tier; a top-up's order names its part.
        if let (None, None, Some(ordered), Some(sold)) = (
            order.topup_of,
            message.purchase.prorated_from_seconds,
            order.tier_seconds,
            message.purchase.duration_seconds,
        ) && ordered != sold
        {
            return Err(Unvouched::OtherTier);
        }
        Ok(crate::payment::payload_hash(&ipn))
    }
}

impl ProcessorMessage {
    /// Built from the stored record (the source of truth once it exists); `fallback` fills
    /// the purchase for rows written before this project, which have none stored.
    pub fn from_record(record: &ProcessedPayment, fallback: &Purchase) -> Self {
        Self {
            v: PROCESSOR_MESSAGE_VERSION,
            payment_id: record.payment_id,
            user_id: record.user_id,
            channel_id: record.channel_id,
            purchase: record.purchase.clone().unwrap_or_else(|| fallback.clone()),
            accepted_at: Some(record.created_at),
            unrecorded: None,
            stars_paid: None,
        }
    }

    /// A Stars payment the bot received (`record` is what it would be, unwritten): the
    /// processor writes it once the ledger vouches for `paid`.
    pub fn stars_paid(record: &ProcessedPayment, paid: crate::stars::StarsPaid) -> Self {
        let purchase = record
            .purchase
            .clone()
            .expect("a Stars charge's record carries its purchase");
        Self {
            stars_paid: Some(paid),
            ..Self::from_record(record, &purchase)
        }
    }

    /// For a record np-webhook could not write: the processor writes it first, once it
    /// has verified the signed IPN (`body`, `signature`) that vouches for it.
    pub fn unrecorded(
        record: &ProcessedPayment,
        purchase: &Purchase,
        body: &[u8],
        signature: &str,
    ) -> Self {
        Self {
            unrecorded: Some(Unrecorded {
                payload_hash: record.payload_hash.clone().unwrap_or_default(),
                ipn: Some(String::from_utf8_lossy(body).into_owned()),
                signature: Some(signature.to_owned()),
            }),
            ..Self::from_record(record, purchase)
        }
    }

    /// The accepted record this message stands for (what np-webhook would have written).
    pub fn record(&self, payload_hash: &str, now: DateTime<Utc>) -> ProcessedPayment {
        ProcessedPayment::accepted(
            self.payment_id,
            self.user_id,
            self.channel_id,
            payload_hash.to_owned(),
            self.purchase.clone(),
            self.accepted_at.unwrap_or(now),
        )
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a processor message always serializes")
    }
}

/// payment-processor → the payout consumer (outside this project). Contract: the consumer
/// dedupes on `payment_id`; the same instruction may arrive more than once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayoutInstruction {
    pub v: u32,
    pub payment_id: PaymentId,
    pub channel_id: ChannelId,
    pub price_amount: f64,
    pub price_currency: String,
    pub outcome_amount: Option<f64>,
    pub outcome_currency: Option<String>,
}

/// payment-processor → invite-sender. The invite sender reads who and where from the
/// store it claims, so this only names the payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteRequest {
    pub v: u32,
    pub payment_id: PaymentId,
    pub user_id: UserId,
    pub channel_id: ChannelId,
    /// What the grant found, when the processor queues it: the buyer had paid time before
    /// (ask Telegram whether they are in before sending a link), and until when a link
    /// may admit. Absent (the reconciler, an operator, older messages): the invite sender
    /// reads the subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantFacts>,
}

/// The grant's answer, carried to the invite sender so its happy path reads nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantFacts {
    pub renewal: bool,
    pub paid_until: DateTime<Utc>,
    /// The grant met a removal: the buyer may be out or on the way out, so the invite
    /// carries a link whatever Telegram says of their membership now.
    #[serde(default)]
    pub crossed_removal: bool,
}

pub const PAYOUT_MESSAGE_VERSION: u32 = 1;
pub const INVITE_MESSAGE_VERSION: u32 = 1;

impl From<&ProcessorMessage> for PayoutInstruction {
    fn from(message: &ProcessorMessage) -> Self {
        Self {
            v: PAYOUT_MESSAGE_VERSION,
            payment_id: message.payment_id,
            channel_id: message.channel_id,
            price_amount: message.purchase.price_amount,
            price_currency: message.purchase.price_currency.clone(),
            outcome_amount: message.purchase.outcome_amount,
            outcome_currency: message.purchase.outcome_currency.clone(),
        }
    }
}

impl InviteRequest {
    /// The one constructor: the processor, the reconciler and the operator's replay and
    /// re-issue all queue the same request for a payment.
    pub fn new(payment_id: PaymentId, user_id: UserId, channel_id: ChannelId) -> Self {
        Self {
            v: INVITE_MESSAGE_VERSION,
            payment_id,
            user_id,
            channel_id,
            grant: None,
        }
    }

    pub fn with_grant(mut self, grant: GrantFacts) -> Self {
        self.grant = Some(grant);
        self
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an invite request always serializes")
    }
}

impl From<&ProcessorMessage> for InviteRequest {
    fn from(message: &ProcessorMessage) -> Self {
        Self::new(message.payment_id, message.user_id, message.channel_id)
    }
}

impl From<&ProcessedPayment> for InviteRequest {
    fn from(record: &ProcessedPayment) -> Self {
        Self::new(record.payment_id, record.user_id, record.channel_id)
    }
}

/// A message body a consumer cannot use: retried, then dead-lettered, never dropped.
#[derive(Debug, thiserror::Error)]
pub enum MalformedMessage {
    #[error("message body is not the expected JSON: {0}")]
    Shape(#[from] serde_json::Error),
    #[error("message schema version {found} is not {expected}")]
    Version { found: u32, expected: u32 },
}

/// Parses a versioned message body, refusing versions this code does not know.
pub fn parse_message<T: for<'de> Deserialize<'de>>(
    body: &str,
    expected: u32,
) -> Result<T, MalformedMessage> {
    #[derive(Deserialize)]
    struct Version {
        v: u32,
    }
    let Version { v } = serde_json::from_str(body)?;
    if v != expected {
        return Err(MalformedMessage::Version { found: v, expected });
    }
    Ok(serde_json::from_str(body)?)
}

/// What became of one queue message: the one vocabulary the SQS batch response is built
/// from (see `telepay_shared::batch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageOutcome {
    /// Done (or nothing left to do): delete it.
    Done,
    /// Report it failed: SQS redelivers it after its visibility timeout, and moves it to
    /// the dead-letter queue after maxReceiveCount.
    Retry,
    /// Report it failed and hide it for this long first (Telegram's retry_after).
    RetryAfter(Duration),
}

impl MessageOutcome {
    /// Counts a message handed back to its queue under `stage`'s `retry` or
    /// `rate_limited` word; a message that is done was counted where it ended.
    pub fn count_retry(self, stage: &'static str) {
        match self {
            Self::Done => {}
            Self::Retry => crate::metrics::outcome(stage, "retry"),
            Self::RetryAfter(_) => crate::metrics::outcome(stage, "rate_limited"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue did not take the message; the caller must not report success.
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

/// How a rate-limited message waits out its delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redelivery {
    /// The message itself is hidden for the delay and reported failed (its receive
    /// counts, unless the queue gives it back).
    Hidden,
    /// A copy was queued with the delay: the message in hand is done (deleted), so the
    /// wait spends none of its receives.
    Requeued,
}

/// Delays the next delivery of a message being processed (SQS ChangeMessageVisibility).
pub trait RetryDelay: Send + Sync {
    fn delay_redelivery(
        &self,
        receipt_handle: &str,
        delay: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    /// A rate limit's wait (Telegram's 429 `retry_after`): never a step toward the
    /// dead-letter queue where the queue allows it. By default the message is hidden
    /// ([`Self::delay_redelivery`]); SQS queues a delayed copy instead.
    fn retry_later(
        &self,
        receipt_handle: &str,
        _body: &str,
        delay: Duration,
    ) -> impl Future<Output = Result<Redelivery, QueueError>> + Send {
        async move {
            self.delay_redelivery(receipt_handle, delay).await?;
            Ok(Redelivery::Hidden)
        }
    }
}

/// A queue that takes a message body keyed by payment id (SQS in Lambda).
pub trait MessageQueue: Send + Sync {
    fn send(
        &self,
        payment_id: PaymentId,
        body: &str,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// A queue of subscription lifecycle tasks (SQS in Lambda), keyed by subscription.
pub trait TaskQueue: Send + Sync {
    fn send_task(
        &self,
        subscription: SubscriptionKey,
        body: &str,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// A queue whose messages are delivered after a delay (SQS `DelaySeconds`, at most
/// 15 minutes): the bot's re-check of a join request waiting for its payment.
pub trait DelayedQueue: Send + Sync {
    fn send_later(
        &self,
        body: &str,
        delay: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}
