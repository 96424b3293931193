//! The DynamoDB backend of [`PaymentStore`].
//!
//! `processed_payments` items carry the seed's ten columns under their names (flags as
//! BOOL, timestamps as RFC 3339 UTC strings) plus the extras: `state`, `payload_hash`,
//! `private_channel_id`, `subscription_days`, `price_amount`, `price_currency`,
//! `outcome_amount`, `outcome_currency`, and the invite protocol's `invite_lease_token`,
//! `invite_lease_until` and `invite_link_expires_at` (epoch milliseconds, Numbers, so
//! conditions compare them numerically) and `invite_failure_reason`. A missing or NULL
//! flag reads as false; this backend only ever writes BOOL flags.
//! `payment_reviews` items: `payment_id`, `reason`, `ipn` (raw body), `received_at`.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};
use chrono::{DateTime, SecondsFormat, Utc};
use telepay_core::ipn::PaymentId;
use telepay_core::order::{ChannelId, UserId};
use telepay_core::payment::{
    PaymentReview, ProcessedPayment, Purchase, RecordState, ReviewDecision,
};
use telepay_core::store::{
    ClaimOutcome, Decided, Fenced, Held, InviteClaim, InviteLease, PaymentStore, ProcessedMark,
    Recorded, Reopened, StoreError,
};

type Item = HashMap<String, AttributeValue>;

const NOT_YET_STORED: &str = "attribute_not_exists(payment_id)";
/// Null-safe "accepted": rows from before the state attribute count as accepted.
const ACCEPTED: &str = "(attribute_not_exists(#state) OR #state = :accepted)";
const NOT_PROCESSED: &str =
    "(attribute_not_exists(gcwebhook1_processed) OR gcwebhook1_processed = :false)";
const INVITE_NOT_SENT: &str =
    "(attribute_not_exists(telegram_invite_sent) OR telegram_invite_sent = :false)";
const NO_LIVE_LEASE: &str =
    "(attribute_not_exists(invite_lease_until) OR invite_lease_until < :now_ms)";
const HOLDS_LEASE: &str = "invite_lease_token = :token";

/// A conditional UpdateItem's answer: the item after, or the item that refused.
enum Update {
    Applied(Option<Item>),
    Refused(Option<Item>),
}

/// One conditional UpdateItem, built up by the protocol operations.
struct ConditionalUpdate<'a> {
    store: &'a DynamoDbPaymentStore,
    payment_id: i64,
    update: String,
    condition: String,
    values: Vec<(&'static str, AttributeValue)>,
    uses_state: bool,
    return_new: bool,
}

impl ConditionalUpdate<'_> {
    fn value(mut self, name: &'static str, value: AttributeValue) -> Self {
        self.values.push((name, value));
        self
    }

    async fn send(self) -> Result<Update, StoreError> {
        let mut request = self
            .store
            .client
            .update_item()
            .table_name(&self.store.payments_table)
            .key("payment_id", number(self.payment_id))
            .update_expression(self.update)
            .condition_expression(self.condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_values(if self.return_new {
                ReturnValue::AllNew
            } else {
                ReturnValue::None
            });
        if self.uses_state {
            request = request.expression_attribute_names("#state", "state");
        }
        for (name, value) in self.values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(output) => Ok(Update::Applied(output.attributes)),
            Err(SdkError::ServiceError(failure)) => match failure.err() {
                UpdateItemError::ConditionalCheckFailedException(refusal) => {
                    Ok(Update::Refused(refusal.item().cloned()))
                }
                _ => Err(unavailable(SdkError::ServiceError(failure))),
            },
            Err(other) => Err(unavailable(other)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DynamoDbPaymentStore {
    client: Client,
    payments_table: String,
    reviews_table: String,
}

impl DynamoDbPaymentStore {
    pub fn new(
        client: Client,
        payments_table: impl Into<String>,
        reviews_table: impl Into<String>,
    ) -> Self {
        Self {
            client,
            payments_table: payments_table.into(),
            reviews_table: reviews_table.into(),
        }
    }

    /// Creates each table that does not exist yet (the `telepay migrate` of DynamoDB).
    pub async fn create_tables_if_missing(&self) -> Result<(), StoreError> {
        for table in [&self.payments_table, &self.reviews_table] {
            match self.client.describe_table().table_name(table).send().await {
                Ok(_) => {}
                Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => {
                    create_table(&self.client, table).await?;
                }
                Err(other) => return Err(unavailable(other)),
            }
        }
        Ok(())
    }

    /// Every record matching `filter` (a Scan, all pages).
    async fn scan_payments(
        &self,
        filter: String,
        values: Vec<(&'static str, AttributeValue)>,
    ) -> Result<Vec<ProcessedPayment>, StoreError> {
        let mut records = Vec::new();
        let mut start_key = None;
        loop {
            let mut scan = self
                .client
                .scan()
                .table_name(&self.payments_table)
                .consistent_read(true)
                .filter_expression(&filter)
                .expression_attribute_names("#state", "state")
                .set_exclusive_start_key(start_key);
            for (name, value) in &values {
                scan = scan.expression_attribute_values(*name, value.clone());
            }
            let page = scan.send().await.map_err(unavailable)?;
            for item in page.items() {
                records.push(record_from_item(item)?);
            }
            start_key = page.last_evaluated_key;
            if start_key.is_none() {
                return Ok(records);
            }
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn payments_table(&self) -> &str {
        &self.payments_table
    }

    async fn get(&self, table: &str, payment_id: PaymentId) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(table)
            .key("payment_id", number(payment_id.get()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
    }

    fn update(
        &self,
        payment_id: PaymentId,
        update: &str,
        condition: String,
    ) -> ConditionalUpdate<'_> {
        ConditionalUpdate {
            store: self,
            payment_id: payment_id.get(),
            uses_state: update.contains("#state") || condition.contains("#state"),
            update: update.to_owned(),
            condition,
            values: Vec::new(),
            return_new: false,
        }
    }

    /// An update allowed only while `lease` holds the record.
    async fn fenced(
        &self,
        lease: &InviteLease,
        update: &str,
        values: Vec<(&'static str, AttributeValue)>,
    ) -> Result<Fenced, StoreError> {
        let mut request = self
            .update(lease.payment_id, update, HOLDS_LEASE.to_owned())
            .value(":token", AttributeValue::S(lease.token.clone()));
        for (name, value) in values {
            request = request.value(name, value);
        }
        Ok(match request.send().await? {
            Update::Applied(_) => Fenced::Done,
            Update::Refused(_) => Fenced::LeaseLost,
        })
    }
}

impl PaymentStore for DynamoDbPaymentStore {
    async fn record_accepted(&self, record: &ProcessedPayment) -> Result<Recorded, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.payments_table)
            .set_item(Some(item_from_record(record)))
            .condition_expression(NOT_YET_STORED)
            // A duplicate gets the stored item back with the refusal: no extra read.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Recorded::New),
            Err(SdkError::ServiceError(failure)) => match failure.err() {
                PutItemError::ConditionalCheckFailedException(refusal) => {
                    let stored = refusal.item().ok_or_else(|| StoreError::Corrupt {
                        payment_id: record.payment_id.get(),
                        detail: "condition failed but no item came back".into(),
                    })?;
                    Ok(Recorded::Existing(Box::new(record_from_item(stored)?)))
                }
                _ => Err(unavailable(SdkError::ServiceError(failure))),
            },
            Err(other) => Err(unavailable(other)),
        }
    }

    async fn hold_for_review(&self, review: &PaymentReview) -> Result<Held, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.reviews_table)
            .item("payment_id", number(review.payment_id.get()))
            .item("reason", AttributeValue::S(review.reason.as_str().into()))
            .item("ipn", AttributeValue::S(review.ipn.clone()))
            .item("received_at", timestamp(review.received_at))
            .condition_expression(NOT_YET_STORED)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Held::New),
            Err(SdkError::ServiceError(failure))
                if matches!(
                    failure.err(),
                    PutItemError::ConditionalCheckFailedException(_)
                ) =>
            {
                Ok(Held::AlreadyHeld)
            }
            Err(other) => Err(unavailable(other)),
        }
    }

    async fn mark_processed(
        &self,
        payment_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<ProcessedMark, StoreError> {
        let update = self
            .update(
                payment_id,
                "SET gcwebhook1_processed = :true, gcwebhook1_processed_at = :now, updated_at = :now",
                format!("attribute_exists(payment_id) AND {ACCEPTED} AND {NOT_PROCESSED}"),
            )
            .value(":true", AttributeValue::Bool(true))
            .value(":false", AttributeValue::Bool(false))
            .value(":accepted", AttributeValue::S(RecordState::Accepted.as_str().into()))
            .value(":now", timestamp(now));
        Ok(match update.send().await? {
            Update::Applied(_) => ProcessedMark::Marked,
            Update::Refused(None) => ProcessedMark::NotFound,
            Update::Refused(Some(item)) => ProcessedMark::refused_by(&record_from_item(&item)?),
        })
    }

    async fn claim_invite(&self, claim: &InviteClaim) -> Result<ClaimOutcome, StoreError> {
        let mut update = self
            .update(
                claim.payment_id,
                "SET invite_lease_token = :token, invite_lease_until = :until_ms, updated_at = :now",
                format!(
                    "attribute_exists(payment_id) AND {ACCEPTED} AND {INVITE_NOT_SENT} AND {NO_LIVE_LEASE}"
                ),
            )
            .value(":token", AttributeValue::S(claim.lease_token.clone()))
            .value(":until_ms", number(claim.lease_until.timestamp_millis()))
            .value(":now_ms", number(claim.now.timestamp_millis()))
            .value(":now", timestamp(claim.now))
            .value(":false", AttributeValue::Bool(false))
            .value(":accepted", AttributeValue::S(RecordState::Accepted.as_str().into()));
        update.return_new = true;
        Ok(match update.send().await? {
            Update::Applied(Some(item)) => {
                ClaimOutcome::Claimed(Box::new(record_from_item(&item)?))
            }
            Update::Applied(None) => {
                return Err(StoreError::Corrupt {
                    payment_id: claim.payment_id.get(),
                    detail: "claim applied but no item came back".into(),
                });
            }
            Update::Refused(None) => ClaimOutcome::NotFound,
            Update::Refused(Some(item)) => ClaimOutcome::refused_by(&record_from_item(&item)?),
        })
    }

    async fn persist_invite_link(
        &self,
        lease: &InviteLease,
        link: &str,
        link_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.fenced(
            lease,
            "SET telegram_invite_link = :link, invite_link_expires_at = :expires_ms, updated_at = :now",
            vec![
                (":link", AttributeValue::S(link.to_owned())),
                (":expires_ms", number(link_expires_at.timestamp_millis())),
                (":now", timestamp(now)),
            ],
        )
        .await
    }

    async fn complete_invite(
        &self,
        lease: &InviteLease,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.fenced(
            lease,
            "SET telegram_invite_sent = :true, telegram_invite_sent_at = :now, updated_at = :now \
             REMOVE invite_lease_token, invite_lease_until",
            vec![
                (":true", AttributeValue::Bool(true)),
                (":now", timestamp(now)),
            ],
        )
        .await
    }

    async fn release_invite(
        &self,
        lease: &InviteLease,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.fenced(
            lease,
            "SET updated_at = :now REMOVE invite_lease_token, invite_lease_until",
            vec![(":now", timestamp(now))],
        )
        .await
    }

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

    /// A filtered Scan: fine for operator tooling on a table of payments; a busy shop
    /// would add a sparse index on the pending flag.
    async fn pending_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ProcessedPayment>, StoreError> {
        let filter = format!(
            "{ACCEPTED} AND ({NOT_PROCESSED} OR {INVITE_NOT_SENT}) AND created_at < :before"
        );
        let values = vec![
            (
                ":accepted",
                AttributeValue::S(RecordState::Accepted.as_str().into()),
            ),
            (":false", AttributeValue::Bool(false)),
            (":before", timestamp(created_before)),
        ];
        let mut pending = self.scan_payments(filter, values).await?;
        pending.sort_by_key(|r| (r.created_at, r.payment_id));
        pending.truncate(limit);
        Ok(pending)
    }

    async fn failed_invites(&self, limit: usize) -> Result<Vec<ProcessedPayment>, StoreError> {
        let values = vec![(
            ":failed",
            AttributeValue::S(RecordState::InviteFailed.as_str().into()),
        )];
        let mut failed = self
            .scan_payments("#state = :failed".into(), values)
            .await?;
        failed.sort_by_key(|r| std::cmp::Reverse((r.updated_at, r.payment_id)));
        failed.truncate(limit);
        Ok(failed)
    }

    async fn list_reviews(&self, limit: usize) -> Result<Vec<PaymentReview>, StoreError> {
        let mut reviews = Vec::new();
        let mut start_key = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.reviews_table)
                .consistent_read(true)
                .set_exclusive_start_key(start_key)
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items() {
                reviews.push(review_from_item(item)?);
            }
            start_key = page.last_evaluated_key;
            if start_key.is_none() {
                break;
            }
        }
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
        let result = self
            .client
            .update_item()
            .table_name(&self.reviews_table)
            .key("payment_id", number(payment_id.get()))
            .update_expression("SET decision = :decision, decided_at = :now")
            .condition_expression("attribute_exists(payment_id) AND attribute_not_exists(decision)")
            .expression_attribute_values(":decision", AttributeValue::S(decision.as_str().into()))
            .expression_attribute_values(":now", timestamp(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Decided::Done),
            Err(SdkError::ServiceError(failure)) => match failure.err() {
                UpdateItemError::ConditionalCheckFailedException(refusal) => {
                    Ok(match refusal.item() {
                        None => Decided::NotFound,
                        Some(item) => Decided::AlreadyDecided(review_from_item(item)?.decision),
                    })
                }
                _ => Err(unavailable(SdkError::ServiceError(failure))),
            },
            Err(other) => Err(unavailable(other)),
        }
    }

    async fn reopen_invite(
        &self,
        payment_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<Reopened, StoreError> {
        let update = self
            .update(
                payment_id,
                "SET #state = :accepted, telegram_invite_sent = :false, updated_at = :now \
                 REMOVE telegram_invite_sent_at, telegram_invite_link, invite_link_expires_at, \
                 invite_failure_reason, invite_lease_token, invite_lease_until",
                format!("attribute_exists(payment_id) AND {NO_LIVE_LEASE}"),
            )
            .value(
                ":accepted",
                AttributeValue::S(RecordState::Accepted.as_str().into()),
            )
            .value(":false", AttributeValue::Bool(false))
            .value(":now", timestamp(now))
            .value(":now_ms", number(now.timestamp_millis()));
        Ok(match update.send().await? {
            Update::Applied(_) => Reopened::Done,
            Update::Refused(None) => Reopened::NotFound,
            Update::Refused(Some(_)) => Reopened::Leased,
        })
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
                     AND (attribute_not_exists(updated_at) OR updated_at < :quiet_since)"
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

    async fn fail_invite(
        &self,
        lease: &InviteLease,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.fenced(
            lease,
            "SET #state = :failed, invite_failure_reason = :reason, updated_at = :now \
             REMOVE invite_lease_token, invite_lease_until",
            vec![
                (
                    ":failed",
                    AttributeValue::S(RecordState::InviteFailed.as_str().into()),
                ),
                (":reason", AttributeValue::S(reason.to_owned())),
                (":now", timestamp(now)),
            ],
        )
        .await
    }
}

fn unavailable<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(DisplayErrorContext(error).to_string())
}

// ---- item mapping -------------------------------------------------------------------------

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn timestamp(t: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn item_from_record(record: &ProcessedPayment) -> Item {
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
        AttributeValue::Bool(record.gcwebhook1_processed),
    );
    item.insert(
        "telegram_invite_sent".into(),
        AttributeValue::Bool(record.telegram_invite_sent),
    );
    let optional_times = [
        ("gcwebhook1_processed_at", record.gcwebhook1_processed_at),
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
        if let Some(amount) = purchase.outcome_amount {
            item.insert("outcome_amount".into(), number(amount));
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

impl ItemReader<'_> {
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

fn record_from_item(item: &Item) -> Result<ProcessedPayment, StoreError> {
    let id_reader = ItemReader {
        item,
        payment_id: 0,
    };
    let payment_id: i64 =
        id_reader.required("payment_id", id_reader.parse_number("payment_id")?)?;
    let r = ItemReader { item, payment_id };
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
            price_amount: r.required("price_amount", r.parse_number("price_amount")?)?,
            price_currency: r.required("price_currency", r.string("price_currency")?)?,
            outcome_amount: r.parse_number("outcome_amount")?,
            outcome_currency: r.string("outcome_currency")?,
        }),
    };
    let created_at = r.required("created_at", r.time("created_at")?)?;
    Ok(ProcessedPayment {
        payment_id: PaymentId::new(payment_id).map_err(|e| r.corrupt(e.to_string()))?,
        user_id: UserId::new(user_id).map_err(|e| r.corrupt(e.to_string()))?,
        channel_id: ChannelId::new(channel_id).map_err(|e| r.corrupt(e.to_string()))?,
        state,
        gcwebhook1_processed: r.flag("gcwebhook1_processed")?,
        gcwebhook1_processed_at: r.time("gcwebhook1_processed_at")?,
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
    })
}

fn review_from_item(item: &Item) -> Result<PaymentReview, StoreError> {
    let id_reader = ItemReader {
        item,
        payment_id: 0,
    };
    let payment_id: i64 =
        id_reader.required("payment_id", id_reader.parse_number("payment_id")?)?;
    let r = ItemReader { item, payment_id };
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

/// Creates both tables (payment_id Number hash key, on-demand) and waits until they are
/// active. For tests and local set-up; in AWS the SAM template owns the tables.
pub async fn create_tables(
    client: &Client,
    payments_table: &str,
    reviews_table: &str,
) -> Result<(), StoreError> {
    create_table(client, payments_table).await?;
    create_table(client, reviews_table).await
}

async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let attribute = AttributeDefinition::builder()
        .attribute_name("payment_id")
        .attribute_type(ScalarAttributeType::N)
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let key = KeySchemaElement::builder()
        .attribute_name("payment_id")
        .key_type(KeyType::Hash)
        .build()
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    client
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute)
        .key_schema(key)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(unavailable)?;
    client
        .wait_until_table_exists()
        .table_name(table)
        .wait(Duration::from_secs(120))
        .await
        .map_err(|e| StoreError::Unavailable(DisplayErrorContext(e).to_string()))?;
    Ok(())
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
        assert!(!read.gcwebhook1_processed && !read.telegram_invite_sent);
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
