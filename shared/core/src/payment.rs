//! The `processed_payments` record, its states, and the `payment_reviews` entry.
//!
//! The record keeps the seed's ten columns under their names, plus documented extras
//! (`state`, `payload_hash`, and the purchase the next stages need). One vocabulary for
//! states and hold reasons, with its storage spelling, used by every backend.
//!
//! Tests: below, and every backend in `tests/tests/conformance.rs`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::directory::ChannelDirectory;
use crate::ipn::{Ipn, PaymentId};
use crate::order::{ChannelId, UserId};
use crate::subscription::AccessDuration;

/// Where a granted payment stands. The stage flags (`processed`, stored as
/// `gcwebhook1_processed`, and `telegram_invite_sent`) move within `Accepted`; `InviteFailed` is terminal until an operator re-opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    Accepted,
    InviteFailed,
}

/// Why a finished payment was held for a human instead of granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// `parent_payment_id` is set: NOWPayments advises never to grant these automatically.
    RepeatDeposit,
    PriceMismatch,
    UnknownChannel,
    UnparseableOrderId,
    /// Less arrived than asked: a `partially_paid` payment, or a `finished` one short of
    /// the price by more than the directory's tolerance.
    Underpaid,
}

macro_rules! storage_spelling {
    ($ty:ident, $error:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            /// The spelling stored in every backend and shown to operators.
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = UnknownSpelling;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    other => Err(UnknownSpelling($error, other.to_owned())),
                }
            }
        }
    };
}

storage_spelling!(RecordState, "record state", {
    Accepted => "accepted",
    InviteFailed => "invite_failed",
});

/// An operator's decision on a held payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    /// Granted by hand: the payment becomes an accepted record and is queued.
    Approved,
    /// Not granted (refund or ignore, outside this project).
    Rejected,
    /// A short payment whose purchase its buyer's top-ups completed ([`crate::topup`]):
    /// the completing payment's record grants the tier.
    ToppedUp,
}

storage_spelling!(ReviewDecision, "review decision", {
    Approved => "approved",
    Rejected => "rejected",
    ToppedUp => "topped_up",
});

storage_spelling!(HoldReason, "hold reason", {
    RepeatDeposit => "repeat_deposit",
    PriceMismatch => "price_mismatch",
    UnknownChannel => "unknown_channel",
    UnparseableOrderId => "unparseable_order_id",
    Underpaid => "underpaid",
});

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {0} {1:?}")]
pub struct UnknownSpelling(pub &'static str, pub String);

impl PaymentReview {
    /// The buyer its order names, if it names one.
    pub fn buyer(&self) -> Option<UserId> {
        let ipn = Ipn::parse(self.ipn.as_bytes()).ok()?;
        let order = crate::order::OrderRef::parse(ipn.order_id.as_deref()).ok()?;
        Some(order.user_id)
    }
}

/// What was bought and what the payout is: everything the processor and the invite sender
/// need, so they never read the store to learn it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Purchase {
    pub private_channel_id: i64,
    /// Whole days, rounded down (0 for a tier shorter than a day): kept for the legacy
    /// column and for messages written before `duration_seconds`.
    pub subscription_days: u32,
    /// What the tier sold, exactly; absent on rows and messages from before durations,
    /// which bought whole days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<u64>,
    pub price_amount: f64,
    pub price_currency: String,
    #[serde(default)]
    pub outcome_amount: Option<f64>,
    #[serde(default)]
    pub outcome_currency: Option<String>,
    /// How much more than the tier's price arrived, in the price's currency, beyond the
    /// directory's tolerance: the tier is granted and the owner told of the surplus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overpaid_by: Option<f64>,
    /// A short payment in a channel that prorates: the length of the tier it bought a
    /// share of (`duration_seconds` is the share).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prorated_from_seconds: Option<u64>,
    /// Brought in by the recovery pass: NOWPayments' answer, not an IPN, recorded it (its
    /// IPNs never arrived). The owner's sale notice says so: the callback is broken.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
    /// Paid in Telegram Stars: the charge's `telegram_payment_charge_id` (a refund names
    /// it). The price is then in Stars (`xtr`) and there is no payout: the Stars stay in
    /// the bot's balance (docs/stars.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub star_charge_id: Option<String>,
}

impl Purchase {
    /// The price as an owner reads it: "3.21 USD", or "⭐ 250 (Telegram Stars)".
    pub fn price_label(&self) -> String {
        if self.star_charge_id.is_some() {
            format!("⭐ {} (Telegram Stars)", self.price_amount)
        } else {
            format!(
                "{} {}",
                self.price_amount,
                self.price_currency.to_uppercase()
            )
        }
    }

    /// What a finished IPN bought, granted into `private_channel_id` for `access`.
    pub fn from_ipn(ipn: &Ipn, private_channel_id: i64, access: AccessDuration) -> Self {
        Self {
            private_channel_id,
            subscription_days: access.whole_days(),
            duration_seconds: Some(access.seconds()),
            price_amount: ipn.price_amount.unwrap_or_default(),
            price_currency: ipn
                .price_currency
                .clone()
                .unwrap_or_default()
                .to_lowercase(),
            outcome_amount: ipn.outcome_amount,
            outcome_currency: ipn.outcome_currency.clone(),
            overpaid_by: None,
            prorated_from_seconds: None,
            recovered: false,
            star_charge_id: None,
        }
    }

    /// A short payment's share of a tier `tier_length` long.
    pub fn prorated_from(mut self, tier_length: AccessDuration) -> Self {
        self.prorated_from_seconds = Some(tier_length.seconds());
        self
    }

    /// With the surplus over `tier_price` recorded, if what arrived exceeds it by more
    /// than `tolerance_percent` (cents: what an owner settles).
    pub fn with_surplus(mut self, arrived: f64, tier_price: f64, tolerance_percent: f64) -> Self {
        let surplus = arrived - tier_price;
        if surplus > tier_price * tolerance_percent / 100.0 + 1e-9 {
            self.overpaid_by = Some((surplus * 100.0).round() / 100.0);
        }
        self
    }

    /// A purchase an operator supplies for a row that lacks one (`telepay payments
    /// resolve`): `days` whole days at the given price, as a tier of that length sells.
    pub fn of_days(
        private_channel_id: i64,
        days: u32,
        price_amount: f64,
        price_currency: String,
    ) -> Self {
        Self {
            private_channel_id,
            subscription_days: days,
            duration_seconds: Some(u64::from(days) * 86_400),
            price_amount,
            price_currency,
            outcome_amount: None,
            outcome_currency: None,
            overpaid_by: None,
            prorated_from_seconds: None,
            recovered: false,
            star_charge_id: None,
        }
    }

    /// How long it admits: the exact duration, else the legacy whole days. `None` for a
    /// stored purchase of zero days and no duration (never written by this project).
    pub fn access(&self) -> Option<AccessDuration> {
        match self.duration_seconds {
            Some(seconds) => AccessDuration::from_seconds(seconds).ok(),
            None => AccessDuration::from_days(self.subscription_days).ok(),
        }
    }
}

/// One `processed_payments` row/item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessedPayment {
    pub payment_id: PaymentId,
    pub user_id: UserId,
    pub channel_id: ChannelId,
    pub state: RecordState,
    /// The payment processor's stage is done (payout instruction queued, time granted,
    /// invite requested). Stored, and printed, under the seed's column name.
    #[serde(rename = "gcwebhook1_processed")]
    pub processed: bool,
    #[serde(rename = "gcwebhook1_processed_at")]
    pub processed_at: Option<DateTime<Utc>>,
    pub telegram_invite_sent: bool,
    pub telegram_invite_sent_at: Option<DateTime<Utc>>,
    pub telegram_invite_link: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Absent on rows written before this project (the seed).
    pub payload_hash: Option<String>,
    /// Absent on rows written before this project (the seed).
    pub purchase: Option<Purchase>,
    /// The invite sender's fencing token: set by a claim, required by every later write
    /// of that worker, cleared on completion or release.
    pub invite_lease_token: Option<String>,
    /// When the claim lapses and another worker may take over.
    pub invite_lease_until: Option<DateTime<Utc>>,
    /// When `telegram_invite_link` stops working (its `expire_date`).
    pub invite_link_expires_at: Option<DateTime<Utc>>,
    /// Why the invite could not be delivered (state `invite_failed`).
    pub invite_failure_reason: Option<String>,
    /// The invite was completed without a new link: the buyer was already in the channel
    /// when a stored link that may have been delivered had to be replaced.
    pub invite_satisfied_by_membership: bool,
    /// A renewal whose buyer was in the channel: told "renewed until", no link.
    pub invite_renewed_in_place: bool,
}

impl ProcessedPayment {
    /// The record the webhook writes for a granted payment: accepted, no stage done yet.
    pub fn accepted(
        payment_id: PaymentId,
        user_id: UserId,
        channel_id: ChannelId,
        payload_hash: String,
        purchase: Purchase,
        now: DateTime<Utc>,
    ) -> Self {
        // Millisecond precision: what every backend stores exactly.
        let now = now.trunc_subsecs(3);
        Self {
            payment_id,
            user_id,
            channel_id,
            state: RecordState::Accepted,
            processed: false,
            processed_at: None,
            telegram_invite_sent: false,
            telegram_invite_sent_at: None,
            telegram_invite_link: None,
            created_at: now,
            updated_at: now,
            payload_hash: Some(payload_hash),
            purchase: Some(purchase),
            invite_lease_token: None,
            invite_lease_until: None,
            invite_link_expires_at: None,
            invite_failure_reason: None,
            invite_satisfied_by_membership: false,
            invite_renewed_in_place: false,
        }
    }
}

/// Where an accepted payment waits: what moves it on is a processor message or an
/// invite request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingStage {
    NotProcessed,
    InviteNotSent,
}

impl PendingStage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotProcessed => "not_processed",
            Self::InviteNotSent => "invite_not_sent",
        }
    }
}

impl ProcessedPayment {
    /// The private channel it admits to. The stored purchase first (what was bought, even
    /// if the directory changed since); the directory only for seed rows without one.
    pub fn private_channel(&self, directory: Option<&ChannelDirectory>) -> Option<i64> {
        self.purchase
            .as_ref()
            .map(|p| p.private_channel_id)
            .or_else(|| {
                directory?
                    .channel(self.channel_id)
                    .map(|entry| entry.private_channel_id)
            })
    }

    /// The processor may mark it: accepted and not processed yet.
    pub fn awaits_processing(&self) -> bool {
        self.state == RecordState::Accepted && !self.processed
    }

    /// Accepted, but a stage is not done: what the reconciler and operators look for.
    pub fn is_pending(&self) -> bool {
        self.stuck_stage().is_some()
    }

    /// Pending, but only an operator can move it: never processed and no stored purchase
    /// (a seed row), so there is no processor message to send.
    pub fn needs_operator(&self) -> bool {
        self.stuck_stage() == Some(PendingStage::NotProcessed) && self.purchase.is_none()
    }

    /// The stage an accepted payment waits at (`None`: done, or in `invite_failed`). The
    /// one rule the reconciler and `telepay payments pending` share.
    pub fn stuck_stage(&self) -> Option<PendingStage> {
        if self.state != RecordState::Accepted {
            None
        } else if !self.processed {
            Some(PendingStage::NotProcessed)
        } else if !self.telegram_invite_sent {
            Some(PendingStage::InviteNotSent)
        } else {
            None
        }
    }

    /// The operator's re-issue: the invite is due again, from scratch.
    pub fn reopen_invite(&mut self, now: DateTime<Utc>) {
        self.state = RecordState::Accepted;
        self.telegram_invite_sent = false;
        self.telegram_invite_sent_at = None;
        self.telegram_invite_link = None;
        self.invite_link_expires_at = None;
        self.invite_failure_reason = None;
        self.invite_lease_token = None;
        self.invite_lease_until = None;
        self.updated_at = now;
    }

    /// An invite claim may take it at `now`: accepted, not sent, no live lease.
    pub fn invite_claimable_at(&self, now: DateTime<Utc>) -> bool {
        self.state == RecordState::Accepted
            && !self.telegram_invite_sent
            && self.invite_lease_until.is_none_or(|until| until < now)
    }
}

/// One `payment_reviews` entry: a finished payment a human must decide on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PaymentReview {
    pub payment_id: PaymentId,
    pub reason: HoldReason,
    /// The IPN body exactly as received (signature verified).
    pub ipn: String,
    pub received_at: DateTime<Utc>,
    /// Set once, by `telepay reviews approve|reject`.
    pub decision: Option<ReviewDecision>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// The fields whose change between two finished IPNs of one payment means something is
/// wrong, hashed (SHA-256, hex) in this fixed order as `name=value` lines; numbers as JS
/// prints them, absent values as `null`.
pub const PAYLOAD_HASH_FIELDS: [&str; 11] = [
    "payment_id",
    "payment_status",
    "order_id",
    "price_amount",
    "price_currency",
    "pay_amount",
    "pay_currency",
    "actually_paid",
    "outcome_amount",
    "outcome_currency",
    "parent_payment_id",
];

pub fn payload_hash(ipn: &Ipn) -> String {
    fn number(n: Option<f64>) -> String {
        n.map(|n| ryu_js::Buffer::new().format(n).to_owned())
            .unwrap_or_else(|| "null".into())
    }
    fn text(s: Option<&str>) -> String {
        s.map(|s| format!("{s:?}")).unwrap_or_else(|| "null".into())
    }
    let values = [
        ipn.payment_id.to_string(),
        ipn.payment_status.as_str().to_owned(),
        text(ipn.order_id.as_deref()),
        number(ipn.price_amount),
        text(ipn.price_currency.as_deref()),
        number(ipn.pay_amount),
        text(ipn.pay_currency.as_deref()),
        number(ipn.actually_paid),
        number(ipn.outcome_amount),
        text(ipn.outcome_currency.as_deref()),
        ipn.parent_payment_id
            .map(|id| id.to_string())
            .unwrap_or_else(|| "null".into()),
    ];
    let mut hasher = Sha256::new();
    for (name, value) in PAYLOAD_HASH_FIELDS.iter().zip(values) {
        hasher.update(name.as_bytes());
        hasher.update(b"=");
        hasher.update(value.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::SAMPLE_IPN;

    #[test]
    fn an_owner_reads_a_price_in_its_rails_terms() {
        let crypto = crate::fixtures::sample_record(1).purchase.unwrap();
        assert_eq!(crypto.price_label(), "3.21 USD");
        let stars = Purchase {
            price_amount: 250.0,
            price_currency: "xtr".into(),
            star_charge_id: Some("stx1".into()),
            ..crypto
        };
        assert_eq!(stars.price_label(), "⭐ 250 (Telegram Stars)");
    }

    #[test]
    fn every_state_and_reason_round_trips_through_its_storage_spelling() {
        for state in RecordState::ALL {
            assert_eq!(state.as_str().parse::<RecordState>(), Ok(*state));
        }
        for reason in HoldReason::ALL {
            assert_eq!(reason.as_str().parse::<HoldReason>(), Ok(*reason));
            let json = serde_json::to_string(reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
        }
        assert!("Accepted".parse::<RecordState>().is_err());
    }

    #[test]
    fn the_payload_hash_ignores_unhashed_fields_and_catches_hashed_ones() {
        let base = Ipn::parse(SAMPLE_IPN.as_bytes()).unwrap();
        let hash = payload_hash(&base);
        assert_eq!(hash.len(), 64);

        let renamed = SAMPLE_IPN.replace("ItemName", "OtherName");
        let same = Ipn::parse(renamed.as_bytes()).unwrap();
        assert_eq!(payload_hash(&same), hash, "order_description is not hashed");

        let pricier = SAMPLE_IPN.replace("\"price_amount\":3.21", "\"price_amount\":\"3.210\"");
        let same_price = Ipn::parse(pricier.as_bytes()).unwrap();
        assert_eq!(payload_hash(&same_price), hash, "3.210 is the same amount");

        let changed = SAMPLE_IPN.replace("\"outcome_amount\":0.001408", "\"outcome_amount\":1");
        let changed = Ipn::parse(changed.as_bytes()).unwrap();
        assert_ne!(payload_hash(&changed), hash);
    }
}
