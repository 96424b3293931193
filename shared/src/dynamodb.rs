//! The DynamoDB backend of [`PaymentStore`].
//!
//! `processed_payments` items carry the seed's ten columns under their names (flags as
//! BOOL, timestamps as RFC 3339 UTC strings) plus the extras: `state`, `payload_hash`,
//! `private_channel_id`, `subscription_days`, `price_amount`, `price_currency`,
//! `outcome_amount`, `outcome_currency`. A missing or NULL flag reads as false.
//! `payment_reviews` items: `payment_id`, `reason`, `ipn` (raw body), `received_at`.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType,
};
use chrono::{DateTime, SecondsFormat, Utc};
use telepay_core::ipn::PaymentId;
use telepay_core::order::{ChannelId, UserId};
use telepay_core::payment::{PaymentReview, ProcessedPayment, Purchase, RecordState};
use telepay_core::store::{Held, PaymentStore, Recorded, StoreError};

type Item = HashMap<String, AttributeValue>;

const NOT_YET_STORED: &str = "attribute_not_exists(payment_id)";

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

    /// Reads one record (consistent read): for operators and tests, never on the
    /// happy path.
    pub async fn payment(
        &self,
        payment_id: PaymentId,
    ) -> Result<Option<ProcessedPayment>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.payments_table)
            .key("payment_id", number(payment_id.get()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item.as_ref().map(record_from_item).transpose()
    }

    /// Reads one review entry (consistent read): for operators and tests.
    pub async fn review(&self, payment_id: PaymentId) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.reviews_table)
            .key("payment_id", number(payment_id.get()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(output.item)
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
    })
}

/// Creates both tables (payment_id Number hash key, on-demand) and waits until they are
/// active. For tests and local set-up; in AWS the SAM template owns the tables.
pub async fn create_tables(
    client: &Client,
    payments_table: &str,
    reviews_table: &str,
) -> Result<(), StoreError> {
    for table in [payments_table, reviews_table] {
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
    }
    for table in [payments_table, reviews_table] {
        client
            .wait_until_table_exists()
            .table_name(table)
            .wait(Duration::from_secs(120))
            .await
            .map_err(|e| StoreError::Unavailable(DisplayErrorContext(e).to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ProcessedPayment {
        ProcessedPayment::accepted(
            PaymentId::new(4492847470).unwrap(),
            UserId::new(6271402111).unwrap(),
            ChannelId::new(-1003111266231).unwrap(),
            "ab".repeat(32),
            Purchase {
                private_channel_id: -1003111266231,
                subscription_days: 30,
                price_amount: 3.21,
                price_currency: "usd".into(),
                outcome_amount: Some(0.001408),
                outcome_currency: Some("eth".into()),
            },
            "2026-03-24T22:20:31.880Z".parse().unwrap(),
        )
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
