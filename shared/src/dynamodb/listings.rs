//! The reconciler's and the operator's ports on DynamoDB: the listings (the pending
//! index, Scans for operator-scale lists) and the operator's conditional writes.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use telepay_core::ipn::PaymentId;
use telepay_core::payment::{PaymentReview, ProcessedPayment, RecordState, ReviewDecision};
use telepay_core::store::{
    Decided, Listed, OperatorStore, ReconcilerStore, Reopened, Resolution, Resolved, StoreError,
    UnreadableRow,
};

use super::DynamoDbStore;
use super::item::{PENDING_KEY, PENDING_MARK};
use super::item::{number, record_from_item, review_from_item, timestamp};
use super::update::{
    ACCEPTED, ConditionalUpdate, INVITE_NOT_SENT, NO_LIVE_LEASE, NO_PURCHASE, NOT_PROCESSED,
    QUIET_SINCE, Update,
};

impl DynamoDbStore {
    /// Takes a finished payment out of the pending index, if it is still finished (a
    /// re-open since puts it back, and wins).
    async fn retire_from_pending_index(&self, record: &ProcessedPayment) -> Result<(), StoreError> {
        let update = self
            .update(
                record.payment_id,
                &format!("REMOVE {PENDING_KEY}"),
                "attribute_exists(payment_id) AND ((gcwebhook1_processed = :true \
                 AND telegram_invite_sent = :true) OR #state = :failed)"
                    .into(),
            )
            .value(":true", AttributeValue::Bool(true))
            .value(
                ":failed",
                AttributeValue::S(RecordState::InviteFailed.as_str().into()),
            );
        update.send().await.map(|_| ())
    }

    /// Payment records matching `filter` (a Scan), as a listing.
    async fn scan_payments<K: Ord>(
        &self,
        filter: String,
        values: Vec<(&'static str, AttributeValue)>,
        order: impl Fn(&ProcessedPayment) -> K,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        let items = self
            .scan(&self.payments_table, Some(filter), values)
            .await?;
        let mut listing = Listing::default();
        for item in &items {
            listing.add(UnreadableRow::list(record_from_item(item))?);
        }
        Ok(listing.finish(order, limit))
    }
}

/// Records gathered from items, sorted by `order` and cut at `limit` at the end; the items
/// this version cannot read follow them, reported, never fatal.
#[derive(Default)]
struct Listing {
    readable: Vec<ProcessedPayment>,
    unreadable: Vec<Listed>,
}

impl Listing {
    fn add(&mut self, listed: Listed) {
        match listed {
            Ok(record) => self.readable.push(record),
            unreadable => self.unreadable.push(unreadable),
        }
    }

    fn finish<K: Ord>(
        mut self,
        order: impl Fn(&ProcessedPayment) -> K,
        limit: usize,
    ) -> Vec<Listed> {
        self.readable.sort_by_key(order);
        self.readable.truncate(limit);
        self.readable
            .into_iter()
            .map(Ok)
            .chain(self.unreadable)
            .collect()
    }
}

impl ReconcilerStore for DynamoDbStore {
    /// A Query on the sparse pending index, never a Scan: what it reads follows what is
    /// pending. Items that finished since are retired from the index on the way (one
    /// conditional write each): DynamoDB cannot drop an item from a sparse index on the
    /// write that finishes its second stage, since that write does not know the first.
    async fn pending_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        let mut listing = Listing::default();
        for item in self.query_pending(Some(created_before)).await? {
            match UnreadableRow::list(record_from_item(&item))? {
                Ok(record) if !record.is_pending() => {
                    self.retire_from_pending_index(&record).await?
                }
                Ok(record) if record.needs_operator() => {}
                listed => listing.add(listed),
            }
        }
        Ok(listing.finish(|r| (r.created_at, r.payment_id), limit))
    }

    async fn needs_operator(&self, limit: usize) -> Result<Vec<Listed>, StoreError> {
        let mut waiting = Vec::new();
        for item in self.query_pending(None).await? {
            match UnreadableRow::list(record_from_item(&item))? {
                Ok(record) if record.needs_operator() => waiting.push(Ok(record)),
                _ => {}
            }
        }
        waiting.truncate(limit);
        Ok(waiting)
    }

    async fn mark_requeued(
        &self,
        payment_id: PaymentId,
        quiet_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let update = self
            .update(
                payment_id,
                "SET updated_at = :now",
                format!(
                    "attribute_exists(payment_id) AND {ACCEPTED} AND ({NOT_PROCESSED} OR {INVITE_NOT_SENT}) \
                     AND {QUIET_SINCE}"
                ),
            )
            .value(
                ":accepted",
                AttributeValue::S(RecordState::Accepted.as_str().into()),
            )
            .value(":false", AttributeValue::Bool(false))
            .value(":quiet_since", timestamp(quiet_since))
            .value(":now", timestamp(now));
        Ok(matches!(update.send().await?, Update::Applied(_)))
    }
}

impl OperatorStore for DynamoDbStore {
    async fn get_payment(
        &self,
        payment_id: PaymentId,
    ) -> Result<Option<ProcessedPayment>, StoreError> {
        let item = self.get(&self.payments_table, payment_id).await?;
        item.as_ref().map(record_from_item).transpose()
    }

    async fn get_review(&self, payment_id: PaymentId) -> Result<Option<PaymentReview>, StoreError> {
        let item = self.get(&self.reviews_table, payment_id).await?;
        item.as_ref().map(review_from_item).transpose()
    }

    async fn failed_invites(&self, limit: usize) -> Result<Vec<Listed>, StoreError> {
        let values = vec![(
            ":failed",
            AttributeValue::S(RecordState::InviteFailed.as_str().into()),
        )];
        let newest_first = |r: &ProcessedPayment| std::cmp::Reverse((r.updated_at, r.payment_id));
        self.scan_payments("#state = :failed".into(), values, newest_first, limit)
            .await
    }

    async fn list_reviews(&self, limit: usize) -> Result<Vec<PaymentReview>, StoreError> {
        let items = self.scan(&self.reviews_table, None, Vec::new()).await?;
        let mut reviews = items
            .iter()
            .map(review_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        reviews.sort_by_key(|r| std::cmp::Reverse((r.received_at, r.payment_id)));
        reviews.truncate(limit);
        Ok(reviews)
    }

    async fn decide_review(
        &self,
        payment_id: PaymentId,
        decision: ReviewDecision,
        now: DateTime<Utc>,
    ) -> Result<Decided, StoreError> {
        let update = ConditionalUpdate::new(
            &self.client,
            &self.reviews_table,
            payment_id.get(),
            "SET decision = :decision, decided_at = :now",
            "attribute_exists(payment_id) AND attribute_not_exists(decision)".into(),
        )
        .value(":decision", AttributeValue::S(decision.as_str().into()))
        .value(":now", timestamp(now));
        Ok(match update.send().await? {
            Update::Applied(_) => Decided::Done,
            Update::Refused(None) => Decided::NotFound,
            Update::Refused(Some(item)) => {
                Decided::AlreadyDecided(review_from_item(&item)?.decision)
            }
        })
    }

    async fn resolve_needs_operator(
        &self,
        payment_id: PaymentId,
        resolution: &Resolution,
        now: DateTime<Utc>,
    ) -> Result<Resolved, StoreError> {
        let condition = format!(
            "attribute_exists(payment_id) AND {ACCEPTED} AND {NOT_PROCESSED} AND {NO_PURCHASE}"
        );
        let update = match resolution {
            Resolution::SupplyPurchase(purchase) => {
                let mut set = String::from(
                    "SET private_channel_id = :channel, subscription_days = :days, \
                     price_amount = :price, price_currency = :currency, updated_at = :now",
                );
                let mut values = Vec::new();
                if let Some(seconds) = purchase.duration_seconds {
                    set.push_str(", duration_seconds = :duration_seconds");
                    values.push((":duration_seconds", number(seconds)));
                }
                if let Some(amount) = purchase.outcome_amount {
                    set.push_str(", outcome_amount = :outcome_amount");
                    values.push((":outcome_amount", number(amount)));
                }
                if let Some(currency) = &purchase.outcome_currency {
                    set.push_str(", outcome_currency = :outcome_currency");
                    values.push((":outcome_currency", AttributeValue::S(currency.clone())));
                }
                self.update(payment_id, &set, condition)
                    .value(":channel", number(purchase.private_channel_id))
                    .value(":days", number(purchase.subscription_days))
                    .value(":price", number(purchase.price_amount))
                    .value(":currency", AttributeValue::S(purchase.price_currency.clone()))
                    .values(values)
            }
            Resolution::AlreadyHandled => self
                .update(
                    payment_id,
                    "SET gcwebhook1_processed = :true, gcwebhook1_processed_at = :now, \
                     telegram_invite_sent = :true, telegram_invite_sent_at = :now, updated_at = :now",
                    condition,
                )
                .value(":true", AttributeValue::Bool(true)),
        };
        let update = update
            .value(
                ":accepted",
                AttributeValue::S(RecordState::Accepted.as_str().into()),
            )
            .value(":false", AttributeValue::Bool(false))
            .value(":now", timestamp(now));
        Ok(match update.send().await? {
            Update::Applied(_) => Resolved::Done,
            Update::Refused(None) => Resolved::NotFound,
            Update::Refused(Some(_)) => Resolved::NotNeeded,
        })
    }

    async fn reopen_invite(
        &self,
        payment_id: PaymentId,
        link: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Reopened, StoreError> {
        let same_link = match link {
            Some(_) => "telegram_invite_link = :link",
            None => {
                "(attribute_not_exists(telegram_invite_link) \
                     OR attribute_type(telegram_invite_link, :null))"
            }
        };
        let mut update = self
            .update(
                payment_id,
                "SET #state = :accepted, telegram_invite_sent = :false, updated_at = :now, \
                 pending_shard = :pending REMOVE telegram_invite_sent_at, telegram_invite_link, invite_link_expires_at, \
                 invite_failure_reason, invite_lease_token, invite_lease_until",
                format!("attribute_exists(payment_id) AND {NO_LIVE_LEASE} AND {same_link}"),
            )
            .value(
                ":accepted",
                AttributeValue::S(RecordState::Accepted.as_str().into()),
            )
            .value(":false", AttributeValue::Bool(false))
            .value(":now", timestamp(now))
            .value(":now_ms", number(now.timestamp_millis()));
        update = update.value(":pending", AttributeValue::S(PENDING_MARK.into()));
        if let Some(link) = link {
            update = update.value(":link", AttributeValue::S(link.to_owned()));
        }
        Ok(match update.send().await? {
            Update::Applied(_) => Reopened::Done,
            Update::Refused(None) => Reopened::NotFound,
            Update::Refused(Some(item)) => Reopened::refused_by(&record_from_item(&item)?, now),
        })
    }
}

/// Every attribute `reopen_invite` names: the key, what it sets and removes, what its
/// condition reads. It is bot-webhook's only write to the payments table (`/status`
/// re-issues a lost invite), and template.yaml allows that function exactly these
/// (`dynamodb:Attributes`), so a bot bug or a stolen role cannot rewrite a payment's
/// state, buyer or purchase (`tests/tests/template_policies.rs`).
pub const REOPEN_ATTRIBUTES: [&str; 11] = [
    "payment_id",
    "state",
    "telegram_invite_sent",
    "telegram_invite_sent_at",
    "telegram_invite_link",
    "invite_link_expires_at",
    "invite_failure_reason",
    "invite_lease_token",
    "invite_lease_until",
    "updated_at",
    "pending_shard",
];

#[cfg(test)]
mod tests {
    use super::REOPEN_ATTRIBUTES;

    /// The attribute names in `reopen_invite`'s expressions are all in the list the IAM
    /// policy allows: a new one there without the policy would be refused in AWS only.
    #[test]
    fn reopen_invite_names_only_the_attributes_its_policy_allows() {
        let source = include_str!("listings.rs");
        let body = source
            .split("async fn reopen_invite(")
            .nth(1)
            .unwrap()
            .split("Ok(match update.send()")
            .next()
            .unwrap();
        let quoted: String = body
            .split('"')
            .skip(1)
            .step_by(2)
            .chain([super::NO_LIVE_LEASE])
            .collect::<Vec<_>>()
            .join(" ")
            // The format! holes: NO_LIVE_LEASE is read above, same_link is quoted itself.
            .replace("{NO_LIVE_LEASE}", " ")
            .replace("{same_link}", " ");
        let words = quoted
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '#'))
            .filter(|w| !w.is_empty());
        let keywords = [
            "SET",
            "REMOVE",
            "AND",
            "OR",
            "attribute_exists",
            "attribute_not_exists",
            "attribute_type",
        ];
        let mut named = Vec::new();
        for word in words {
            if word.starts_with(':') || keywords.contains(&word) {
                continue;
            }
            named.push(word.trim_start_matches('#').to_owned());
        }
        assert!(named.len() >= 10, "{named:?}");
        for name in &named {
            assert!(
                REOPEN_ATTRIBUTES.contains(&name.as_str()),
                "{name} is not in REOPEN_ATTRIBUTES"
            );
        }
    }
}
