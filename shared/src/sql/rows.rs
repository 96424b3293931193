//! Rows as the tables hold them (seed rows with NULL flags and no extras included), and
//! their reading into the domain's records.

use chrono::{DateTime, NaiveDateTime, Utc};
use telepay_core::ipn::PaymentId;
use telepay_core::order::{ChannelId, UserId};
use telepay_core::payment::{PaymentReview, ProcessedPayment, Purchase};
use telepay_core::store::{
    NoticeState, OnceRecord, PartsTally, PaymentWatch, Settlement, StoreError,
};
use telepay_core::subscription::Subscription;

/// One `processed_payments` row; seed rows may have NULL flags and no extras.
#[derive(sqlx::FromRow)]
pub struct PaymentRow {
    payment_id: i64,
    user_id: i64,
    channel_id: i64,
    state: String,
    gcwebhook1_processed: Option<bool>,
    gcwebhook1_processed_at: Option<NaiveDateTime>,
    telegram_invite_sent: Option<bool>,
    telegram_invite_sent_at: Option<NaiveDateTime>,
    telegram_invite_link: Option<String>,
    created_at: Option<NaiveDateTime>,
    updated_at: Option<NaiveDateTime>,
    payload_hash: Option<String>,
    private_channel_id: Option<i64>,
    subscription_days: Option<i64>,
    price_amount: Option<f64>,
    price_currency: Option<String>,
    outcome_amount: Option<f64>,
    outcome_currency: Option<String>,
    invite_lease_token: Option<String>,
    invite_lease_until_ms: Option<i64>,
    invite_link_expires_at_ms: Option<i64>,
    invite_failure_reason: Option<String>,
    invite_satisfied_by_membership: Option<bool>,
    duration_seconds: Option<i64>,
    invite_renewed_in_place: Option<bool>,
    overpaid_by: Option<f64>,
    prorated_from_seconds: Option<i64>,
    recovered: Option<bool>,
    star_charge_id: Option<String>,
}

#[derive(sqlx::FromRow)]
pub struct ReviewRow {
    payment_id: i64,
    reason: String,
    ipn: String,
    received_at: NaiveDateTime,
    decision: Option<String>,
    decided_at: Option<NaiveDateTime>,
    /// The notice columns, read only by the held-notice statements.
    #[sqlx(default)]
    told_at_ms: Option<i64>,
    #[sqlx(default)]
    told: Option<String>,
    #[sqlx(default)]
    notice_lease_until_ms: Option<i64>,
}

pub(super) fn corrupt(payment_id: i64, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        payment_id,
        detail: detail.to_string(),
    }
}

fn millis(payment_id: i64, ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(|ms| {
        DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt(payment_id, "time out of range"))
    })
    .transpose()
}

impl PaymentRow {
    pub(super) fn into_record(self) -> Result<ProcessedPayment, StoreError> {
        let id = self.payment_id;
        let purchase = match (
            self.private_channel_id,
            self.subscription_days,
            self.price_amount,
            self.price_currency,
        ) {
            (Some(private_channel_id), Some(days), Some(price_amount), Some(price_currency)) => {
                Some(Purchase {
                    private_channel_id,
                    subscription_days: u32::try_from(days).map_err(|e| corrupt(id, e))?,
                    duration_seconds: self
                        .duration_seconds
                        .map(u64::try_from)
                        .transpose()
                        .map_err(|e| corrupt(id, e))?,
                    price_amount,
                    price_currency,
                    outcome_amount: self.outcome_amount,
                    outcome_currency: self.outcome_currency,
                    overpaid_by: self.overpaid_by,
                    prorated_from_seconds: self
                        .prorated_from_seconds
                        .map(u64::try_from)
                        .transpose()
                        .map_err(|e| corrupt(id, e))?,
                    recovered: self.recovered.unwrap_or(false),
                    star_charge_id: self.star_charge_id,
                })
            }
            _ => None,
        };
        // The seed's columns default to CURRENT_TIMESTAMP but are nullable.
        let created_at = self
            .created_at
            .or(self.updated_at)
            .map(|t| t.and_utc())
            .unwrap_or(DateTime::UNIX_EPOCH);
        Ok(ProcessedPayment {
            payment_id: PaymentId::new(id).map_err(|e| corrupt(id, e))?,
            user_id: UserId::new(self.user_id).map_err(|e| corrupt(id, e))?,
            // A positive seed channel_id is the legacy order form that lost its minus sign.
            channel_id: ChannelId::from_legacy(self.channel_id).map_err(|e| corrupt(id, e))?,
            state: self.state.parse().map_err(|e| corrupt(id, e))?,
            processed: self.gcwebhook1_processed.unwrap_or(false),
            processed_at: self.gcwebhook1_processed_at.map(|t| t.and_utc()),
            telegram_invite_sent: self.telegram_invite_sent.unwrap_or(false),
            telegram_invite_sent_at: self.telegram_invite_sent_at.map(|t| t.and_utc()),
            telegram_invite_link: self.telegram_invite_link,
            created_at,
            updated_at: self.updated_at.map(|t| t.and_utc()).unwrap_or(created_at),
            payload_hash: self.payload_hash,
            purchase,
            invite_lease_token: self.invite_lease_token,
            invite_lease_until: millis(id, self.invite_lease_until_ms)?,
            invite_link_expires_at: millis(id, self.invite_link_expires_at_ms)?,
            invite_failure_reason: self.invite_failure_reason,
            invite_satisfied_by_membership: self.invite_satisfied_by_membership.unwrap_or(false),
            invite_renewed_in_place: self.invite_renewed_in_place.unwrap_or(false),
        })
    }
}

impl ReviewRow {
    /// The notice columns as stored.
    pub(super) fn notice_state(&self) -> Result<NoticeState, StoreError> {
        let id = self.payment_id;
        Ok(NoticeState {
            told_at: millis(id, self.told_at_ms)?,
            told: self.told.clone(),
            lease_until: millis(id, self.notice_lease_until_ms)?,
        })
    }

    pub(super) fn into_review(self) -> Result<PaymentReview, StoreError> {
        let id = self.payment_id;
        Ok(PaymentReview {
            payment_id: PaymentId::new(id).map_err(|e| corrupt(id, e))?,
            reason: self.reason.parse().map_err(|e| corrupt(id, e))?,
            ipn: self.ipn,
            received_at: self.received_at.and_utc(),
            decision: self
                .decision
                .map(|d| d.parse())
                .transpose()
                .map_err(|e| corrupt(id, e))?,
            decided_at: self.decided_at.map(|t| t.and_utc()),
        })
    }
}

/// A `bot_once` row as read.
#[derive(sqlx::FromRow)]
pub struct OnceRow {
    done: bool,
    result: Option<String>,
    lease_until_ms: i64,
    keep_until_ms: i64,
}

impl OnceRow {
    pub(super) fn into_record(self) -> OnceRecord {
        let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC);
        OnceRecord {
            done: self.done,
            result: self.result,
            lease_until: at(self.lease_until_ms),
            keep_until: at(self.keep_until_ms),
        }
    }
}

/// A `subscriptions` row as stored.
#[derive(sqlx::FromRow)]
pub struct SubscriptionRow {
    user_id: i64,
    channel_id: i64,
    version: i64,
    body: String,
}

impl SubscriptionRow {
    /// The record, checked against the row's own key and version columns.
    pub(super) fn into_subscription(self) -> Result<Subscription, StoreError> {
        let corrupt = |detail: String| StoreError::CorruptSubscription {
            user_id: self.user_id,
            channel_id: self.channel_id,
            version: u64::try_from(self.version).ok(),
            detail,
        };
        let record: Subscription =
            serde_json::from_str(&self.body).map_err(|e| corrupt(format!("body: {e}")))?;
        let version = u64::try_from(self.version).ok();
        if !record.stored_as(self.user_id, self.channel_id, version) {
            return Err(corrupt("body disagrees with its key or version".into()));
        }
        Ok(record)
    }
}

/// A `payment_watches` row as stored.
#[derive(sqlx::FromRow)]
pub struct WatchRow {
    payment_id: i64,
    user_id: i64,
    channel_id: i64,
    last_status: String,
    first_seen_at_ms: i64,
    next_check_at_ms: i64,
    checks: i64,
    settled: Option<String>,
    settled_at_ms: Option<i64>,
    lease_until_ms: Option<i64>,
}

impl WatchRow {
    pub(super) fn into_watch(self) -> Result<PaymentWatch, StoreError> {
        let id = self.payment_id;
        let at = |ms: i64| {
            DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt(id, "time out of range"))
        };
        let settled = self
            .settled
            .map(|word| {
                Settlement::parse(&word)
                    .ok_or_else(|| corrupt(id, format!("unknown settlement {word:?}")))
            })
            .transpose()?;
        Ok(PaymentWatch {
            payment_id: PaymentId::new(id).map_err(|e| corrupt(id, e))?,
            user_id: self.user_id,
            channel_id: self.channel_id,
            last_status: self.last_status,
            first_seen_at: at(self.first_seen_at_ms)?,
            next_check_at: at(self.next_check_at_ms)?,
            checks: u32::try_from(self.checks).unwrap_or(u32::MAX),
            settled,
            settled_at: self.settled_at_ms.map(at).transpose()?,
            lease_until: self.lease_until_ms.map(at).transpose()?,
        })
    }
}

/// A purchase in parts as stored on its first short payment's review.
#[derive(sqlx::FromRow)]
pub struct PartsRow {
    payment_id: i64,
    parts: String,
    parts_user_id: i64,
    parts_channel_id: i64,
    parts_price_amount: f64,
    parts_price_currency: String,
    parts_paid_total: f64,
    parts_outcome_total: f64,
    parts_opened_at_ms: i64,
    decision: Option<String>,
    parts_settled_by: Option<i64>,
    parts_owner_told_at_ms: Option<i64>,
}

impl PartsRow {
    pub(super) fn into_tally(self) -> Result<PartsTally, StoreError> {
        let id = self.payment_id;
        let at = |ms: i64| {
            DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt(id, "time out of range"))
        };
        let payment = |n: i64| PaymentId::new(n).map_err(|e| corrupt(id, e));
        let mut parts = self
            .parts
            .split(',')
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<i64>()
                    .map_err(|_| corrupt(id, format!("unreadable part {part:?}")))
                    .and_then(payment)
            })
            .collect::<Result<Vec<_>, _>>()?;
        parts.sort_unstable();
        Ok(PartsTally {
            purchase_id: payment(id)?,
            user_id: self.parts_user_id,
            channel_id: self.parts_channel_id,
            price_amount: self.parts_price_amount,
            price_currency: self.parts_price_currency,
            paid_total: self.parts_paid_total,
            outcome_total: self.parts_outcome_total,
            parts,
            opened_at: at(self.parts_opened_at_ms)?,
            decision: self
                .decision
                .map(|word| word.parse().map_err(|e| corrupt(id, e)))
                .transpose()?,
            settled_by: self.parts_settled_by.map(payment).transpose()?,
            owner_told_at: self.parts_owner_told_at_ms.map(at).transpose()?,
        })
    }
}

/// A `catalog_versions` row as stored.
#[derive(sqlx::FromRow)]
pub struct CatalogRow {
    version: i64,
    body: String,
    applied_at_ms: i64,
    note: String,
}

impl CatalogRow {
    pub(super) fn into_catalog(self) -> Result<telepay_core::store::StoredCatalog, StoreError> {
        let bad = |what: &str| corrupt(0, format!("catalog version {}: {what}", self.version));
        Ok(telepay_core::store::StoredCatalog {
            version: u32::try_from(self.version).map_err(|_| bad("version out of range"))?,
            applied_at: DateTime::from_timestamp_millis(self.applied_at_ms)
                .ok_or_else(|| bad("applied_at_ms out of range"))?,
            body: self.body,
            note: self.note,
        })
    }
}
