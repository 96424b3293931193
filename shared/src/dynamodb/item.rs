//! Item mapping: records, reviews, purchases in parts and payment watches to DynamoDB items and back. A missing or NULL
//! attribute reads as absent (a flag as false); anything else surprising is `Corrupt`,
//! naming the payment and the attribute.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use telepay_core::ipn::PaymentId;
use telepay_core::order::{ChannelId, UserId};
use telepay_core::payment::{PaymentReview, ProcessedPayment, Purchase, RecordState};
use telepay_core::store::{NoticeState, PartsTally, PaymentWatch, Settlement, StoreError};

pub(super) type Item = HashMap<String, AttributeValue>;

/// The sparse index of payments that may still be pending, and its key: present from
/// ingress (or a re-open) until the reconciler retires a finished item or an invite fails.
pub(super) const PENDING_INDEX: &str = "PendingIndex";
pub(super) const PENDING_KEY: &str = "pending_shard";
pub(super) const PENDING_MARK: &str = "pending";

pub(super) fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

pub(super) fn timestamp(t: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

pub(super) fn item_from_record(record: &ProcessedPayment) -> Item {
    let mut item = Item::new();
    item.insert("payment_id".into(), number(record.payment_id.get()));
    item.insert("user_id".into(), number(record.user_id.get()));
    item.insert("channel_id".into(), number(record.channel_id.get()));
    item.insert(
        "state".into(),
        AttributeValue::S(record.state.as_str().into()),
    );
    item.insert(
        "gcwebhook1_processed".into(),
        AttributeValue::Bool(record.processed),
    );
    item.insert(
        "telegram_invite_sent".into(),
        AttributeValue::Bool(record.telegram_invite_sent),
    );
    let optional_times = [
        ("gcwebhook1_processed_at", record.processed_at),
        ("telegram_invite_sent_at", record.telegram_invite_sent_at),
    ];
    for (name, value) in optional_times {
        if let Some(t) = value {
            item.insert(name.into(), timestamp(t));
        }
    }
    if let Some(link) = &record.telegram_invite_link {
        item.insert(
            "telegram_invite_link".into(),
            AttributeValue::S(link.clone()),
        );
    }
    item.insert("created_at".into(), timestamp(record.created_at));
    if record.is_pending() {
        item.insert(PENDING_KEY.into(), AttributeValue::S(PENDING_MARK.into()));
    }
    item.insert("updated_at".into(), timestamp(record.updated_at));
    if let Some(hash) = &record.payload_hash {
        item.insert("payload_hash".into(), AttributeValue::S(hash.clone()));
    }
    if let Some(token) = &record.invite_lease_token {
        item.insert(
            "invite_lease_token".into(),
            AttributeValue::S(token.clone()),
        );
    }
    let optional_millis = [
        ("invite_lease_until", record.invite_lease_until),
        ("invite_link_expires_at", record.invite_link_expires_at),
    ];
    for (name, value) in optional_millis {
        if let Some(t) = value {
            item.insert(name.into(), number(t.timestamp_millis()));
        }
    }
    if record.invite_renewed_in_place {
        item.insert("invite_renewed_in_place".into(), AttributeValue::Bool(true));
    }
    if record.invite_satisfied_by_membership {
        item.insert(
            "invite_satisfied_by_membership".into(),
            AttributeValue::Bool(true),
        );
    }
    if let Some(reason) = &record.invite_failure_reason {
        item.insert(
            "invite_failure_reason".into(),
            AttributeValue::S(reason.clone()),
        );
    }
    if let Some(purchase) = &record.purchase {
        item.insert(
            "private_channel_id".into(),
            number(purchase.private_channel_id),
        );
        item.insert(
            "subscription_days".into(),
            number(purchase.subscription_days),
        );
        item.insert("price_amount".into(), number(purchase.price_amount));
        item.insert(
            "price_currency".into(),
            AttributeValue::S(purchase.price_currency.clone()),
        );
        if let Some(seconds) = purchase.duration_seconds {
            item.insert("duration_seconds".into(), number(seconds));
        }
        if let Some(amount) = purchase.outcome_amount {
            item.insert("outcome_amount".into(), number(amount));
        }
        if let Some(surplus) = purchase.overpaid_by {
            item.insert("overpaid_by".into(), number(surplus));
        }
        if let Some(seconds) = purchase.prorated_from_seconds {
            item.insert("prorated_from_seconds".into(), number(seconds));
        }
        if let Some(charge) = &purchase.star_charge_id {
            item.insert("star_charge_id".into(), AttributeValue::S(charge.clone()));
        }
        if purchase.recovered {
            item.insert("recovered".into(), AttributeValue::Bool(true));
        }
        if let Some(currency) = &purchase.outcome_currency {
            item.insert(
                "outcome_currency".into(),
                AttributeValue::S(currency.clone()),
            );
        }
    }
    item
}

/// Reads attributes of one item, naming the payment and attribute on any surprise.
struct ItemReader<'a> {
    item: &'a Item,
    payment_id: i64,
}

impl<'a> ItemReader<'a> {
    /// A reader for `item`, whose key (`payment_id`) names it in every error.
    fn keyed(item: &'a Item) -> Result<Self, StoreError> {
        let unnamed = ItemReader {
            item,
            payment_id: 0,
        };
        let payment_id = unnamed.required("payment_id", unnamed.parse_number("payment_id")?)?;
        Ok(ItemReader { item, payment_id })
    }

    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            payment_id: self.payment_id,
            detail,
        }
    }

    /// Missing and NULL attributes are both absent.
    fn get(&self, name: &str) -> Option<&AttributeValue> {
        self.item
            .get(name)
            .filter(|v| !matches!(v, AttributeValue::Null(_)))
    }

    fn parse_number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, StoreError> {
        match self.get(name) {
            None => Ok(None),
            Some(AttributeValue::N(n)) => n
                .parse()
                .map(Some)
                .map_err(|_| self.corrupt(format!("{name} is not a valid number"))),
            Some(_) => Err(self.corrupt(format!("{name} is not a number"))),
        }
    }

    fn string(&self, name: &str) -> Result<Option<String>, StoreError> {
        match self.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.corrupt(format!("{name} is not a string"))),
        }
    }

    /// Null-safe: missing, NULL and false are all false.
    fn flag(&self, name: &str) -> Result<bool, StoreError> {
        match self.get(name) {
            None => Ok(false),
            Some(AttributeValue::Bool(b)) => Ok(*b),
            Some(_) => Err(self.corrupt(format!("{name} is not a boolean"))),
        }
    }

    fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.string(name)?
            .map(|s| {
                DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| self.corrupt(format!("{name} is not an RFC 3339 time")))
            })
            .transpose()
    }

    fn millis(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.parse_number::<i64>(name)?
            .map(|ms| {
                DateTime::from_timestamp_millis(ms)
                    .ok_or_else(|| self.corrupt(format!("{name} is out of range")))
            })
            .transpose()
    }

    fn required<T>(&self, name: &str, value: Option<T>) -> Result<T, StoreError> {
        value.ok_or_else(|| self.corrupt(format!("{name} is missing")))
    }
}

pub(super) fn record_from_item(item: &Item) -> Result<ProcessedPayment, StoreError> {
    let r = ItemReader::keyed(item)?;
    let payment_id = r.payment_id;
    let user_id = r.required("user_id", r.parse_number("user_id")?)?;
    let channel_id = r.required("channel_id", r.parse_number("channel_id")?)?;
    let state = match r.string("state")? {
        // Rows from before the state column were all granted payments.
        None => RecordState::Accepted,
        Some(s) => s.parse().map_err(|e| r.corrupt(format!("{e}")))?,
    };
    let purchase = match r.parse_number::<i64>("private_channel_id")? {
        None => None,
        Some(private_channel_id) => Some(Purchase {
            private_channel_id,
            subscription_days: r
                .required("subscription_days", r.parse_number("subscription_days")?)?,
            duration_seconds: r.parse_number("duration_seconds")?,
            price_amount: r.required("price_amount", r.parse_number("price_amount")?)?,
            price_currency: r.required("price_currency", r.string("price_currency")?)?,
            outcome_amount: r.parse_number("outcome_amount")?,
            outcome_currency: r.string("outcome_currency")?,
            overpaid_by: r.parse_number("overpaid_by")?,
            prorated_from_seconds: r.parse_number("prorated_from_seconds")?,
            recovered: r.flag("recovered")?,
            star_charge_id: r.string("star_charge_id")?,
        }),
    };
    let created_at = r.required("created_at", r.time("created_at")?)?;
    Ok(ProcessedPayment {
        payment_id: PaymentId::new(payment_id).map_err(|e| r.corrupt(e.to_string()))?,
        user_id: UserId::new(user_id).map_err(|e| r.corrupt(e.to_string()))?,
        // A positive seed channel_id is the legacy order form that lost its minus sign.
        channel_id: ChannelId::from_legacy(channel_id).map_err(|e| r.corrupt(e.to_string()))?,
        state,
        processed: r.flag("gcwebhook1_processed")?,
        processed_at: r.time("gcwebhook1_processed_at")?,
        telegram_invite_sent: r.flag("telegram_invite_sent")?,
        telegram_invite_sent_at: r.time("telegram_invite_sent_at")?,
        telegram_invite_link: r.string("telegram_invite_link")?,
        created_at,
        updated_at: r.time("updated_at")?.unwrap_or(created_at),
        payload_hash: r.string("payload_hash")?,
        purchase,
        invite_lease_token: r.string("invite_lease_token")?,
        invite_lease_until: r.millis("invite_lease_until")?,
        invite_link_expires_at: r.millis("invite_link_expires_at")?,
        invite_failure_reason: r.string("invite_failure_reason")?,
        invite_satisfied_by_membership: r.flag("invite_satisfied_by_membership")?,
        invite_renewed_in_place: r.flag("invite_renewed_in_place")?,
    })
}

pub(super) fn review_from_item(item: &Item) -> Result<PaymentReview, StoreError> {
    let r = ItemReader::keyed(item)?;
    let payment_id = r.payment_id;
    let reason = r.required("reason", r.string("reason")?)?;
    Ok(PaymentReview {
        payment_id: PaymentId::new(payment_id).map_err(|e| r.corrupt(e.to_string()))?,
        reason: reason.parse().map_err(|e| r.corrupt(format!("{e}")))?,
        ipn: r.required("ipn", r.string("ipn")?)?,
        received_at: r.required("received_at", r.time("received_at")?)?,
        decision: r
            .string("decision")?
            .map(|d| d.parse())
            .transpose()
            .map_err(|e| r.corrupt(format!("{e}")))?,
        decided_at: r.time("decided_at")?,
    })
}

/// A review item's notice attributes (see `held.rs`).
pub(super) fn notice_state_from_item(item: &Item) -> Result<NoticeState, StoreError> {
    let r = ItemReader::keyed(item)?;
    Ok(NoticeState {
        told_at: r.time("told_at")?,
        told: r.string("told")?,
        lease_until: r.millis("notice_lease_until")?,
    })
}

/// A payment watch item (see `watches.rs`).
pub(super) fn watch_from_item(item: &Item) -> Result<PaymentWatch, StoreError> {
    let r = ItemReader::keyed(item)?;
    let settled = r
        .string("settled")?
        .map(|word| {
            Settlement::parse(&word)
                .ok_or_else(|| r.corrupt(format!("unknown settlement {word:?}")))
        })
        .transpose()?;
    let checks: i64 = r.parse_number("checks")?.unwrap_or_default();
    Ok(PaymentWatch {
        payment_id: PaymentId::new(r.payment_id).map_err(|e| r.corrupt(e.to_string()))?,
        user_id: r.required("user_id", r.parse_number("user_id")?)?,
        channel_id: r.required("channel_id", r.parse_number("channel_id")?)?,
        last_status: r.required("last_status", r.string("last_status")?)?,
        first_seen_at: r.required("first_seen_at_ms", r.millis("first_seen_at_ms")?)?,
        next_check_at: r.required("next_check_at_ms", r.millis("next_check_at_ms")?)?,
        checks: u32::try_from(checks).unwrap_or(u32::MAX),
        settled,
        settled_at: r.millis("settled_at_ms")?,
        lease_until: r.millis("lease_until_ms")?,
    })
}

/// A review item's purchase in parts (see `parts.rs`), `None` when it holds none.
pub(super) fn parts_from_item(item: &Item) -> Result<Option<PartsTally>, StoreError> {
    let r = ItemReader::keyed(item)?;
    let Some(parts) = r.get("parts") else {
        return Ok(None);
    };
    let payment = |n: i64| PaymentId::new(n).map_err(|e| r.corrupt(e.to_string()));
    let AttributeValue::Ns(ids) = parts else {
        return Err(r.corrupt("parts is not a number set".into()));
    };
    let mut parts = ids
        .iter()
        .map(|id| {
            id.parse::<i64>()
                .map_err(|_| r.corrupt(format!("unreadable part {id:?}")))
                .and_then(payment)
        })
        .collect::<Result<Vec<_>, _>>()?;
    parts.sort_unstable();
    let amount =
        |name: &str| -> Result<f64, StoreError> { r.required(name, r.parse_number::<f64>(name)?) };
    Ok(Some(PartsTally {
        purchase_id: payment(r.payment_id)?,
        user_id: r.required("parts_user_id", r.parse_number("parts_user_id")?)?,
        channel_id: r.required("parts_channel_id", r.parse_number("parts_channel_id")?)?,
        price_amount: amount("parts_price_amount")?,
        price_currency: r.required("parts_price_currency", r.string("parts_price_currency")?)?,
        paid_total: amount("parts_paid_total")?,
        outcome_total: amount("parts_outcome_total")?,
        parts,
        opened_at: r.required("parts_opened_at_ms", r.millis("parts_opened_at_ms")?)?,
        decision: r
            .string("decision")?
            .map(|d| d.parse())
            .transpose()
            .map_err(|e| r.corrupt(format!("{e}")))?,
        settled_by: r
            .parse_number::<i64>("parts_settled_by")?
            .map(payment)
            .transpose()?,
        owner_told_at: r.millis("parts_owner_told_at_ms")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ProcessedPayment {
        let mut record = telepay_core::fixtures::sample_record(4492847470);
        record.created_at = "2026-03-24T22:20:31.880Z".parse().unwrap();
        record.updated_at = record.created_at;
        record
    }

    #[test]
    fn a_record_survives_the_round_trip_through_an_item() {
        let record = record();
        let item = item_from_record(&record);
        assert_eq!(item["gcwebhook1_processed"], AttributeValue::Bool(false));
        assert_eq!(
            item["created_at"],
            AttributeValue::S("2026-03-24T22:20:31.880Z".into())
        );
        assert_eq!(record_from_item(&item).unwrap(), record);
    }

    #[test]
    fn missing_or_null_flags_read_as_false() {
        let mut item = item_from_record(&record());
        item.remove("gcwebhook1_processed");
        item.insert("telegram_invite_sent".into(), AttributeValue::Null(true));
        let read = record_from_item(&item).unwrap();
        assert!(!read.processed && !read.telegram_invite_sent);
    }

    #[test]
    fn an_unreadable_item_is_corrupt_and_names_the_payment() {
        let mut item = item_from_record(&record());
        item.insert("state".into(), AttributeValue::S("granted".into()));
        let err = record_from_item(&item).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Corrupt {
                    payment_id: 4492847470,
                    ..
                }
            ),
            "{err}"
        );
    }
}
