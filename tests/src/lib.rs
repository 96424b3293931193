//! Helpers for the integration tests: AWS clients pointed at moto, a fresh table pair and
//! queue per test, and API Gateway-shaped requests.

pub mod chaos;

use aws_config::SdkConfig;
use lambda_http::{Body, Request, http};
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::{SAMPLE_DIRECTORY, SAMPLE_IPN_SECRET};
use telepay_core::signature::IpnSecret;
use telepay_core::webhook::PaymentWebhook;
use telepay_shared::dynamodb::{DynamoDbPaymentStore, create_tables};
use telepay_shared::sqs::SqsQueue;

/// The SDK configuration for moto. Refuses to run against anything but a local endpoint,
/// so a test can never touch a real AWS account.
pub async fn moto() -> SdkConfig {
    for variable in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"] {
        let endpoint = std::env::var(variable).unwrap_or_default();
        assert!(
            endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
            "{variable} must point at a local moto server; run the tests with `make test`"
        );
    }
    // Generous timeouts: a loaded CI machine must not turn a slow moto into a failure.
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_timeout(std::time::Duration::from_secs(20))
        .build();
    telepay_shared::aws::load_sdk_config(timeouts).await
}

/// A name no other test uses, so tests run in parallel against one moto.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{:08x}", std::process::id(), fastrand::u32(..))
}

/// A fresh pair of tables and a fresh queue on moto.
pub struct MotoResources {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub payments_table: String,
    pub reviews_table: String,
    pub queue_url: String,
}

impl MotoResources {
    pub async fn new() -> Self {
        let sdk = moto().await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let payments_table = unique("processed_payments");
        let reviews_table = unique("payment_reviews");
        create_tables(&dynamodb, &payments_table, &reviews_table)
            .await
            .expect("moto creates the tables");
        let queue_url = sqs
            .create_queue()
            .queue_name(unique("processor"))
            .send()
            .await
            .expect("moto creates the queue")
            .queue_url
            .expect("a queue URL");
        Self {
            dynamodb,
            sqs,
            payments_table,
            reviews_table,
            queue_url,
        }
    }

    pub fn store(&self) -> DynamoDbPaymentStore {
        DynamoDbPaymentStore::new(
            self.dynamodb.clone(),
            &self.payments_table,
            &self.reviews_table,
        )
    }

    pub fn queue(&self) -> SqsQueue {
        SqsQueue::new(self.sqs.clone(), &self.queue_url)
    }

    pub fn webhook(&self) -> PaymentWebhook<DynamoDbPaymentStore, SqsQueue> {
        PaymentWebhook::new(
            IpnSecret::new(SAMPLE_IPN_SECRET).unwrap(),
            ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
            self.store(),
            self.queue(),
        )
    }

    /// Every message on the queue now (received, not deleted).
    pub async fn drain_queue(&self) -> Vec<aws_sdk_sqs::types::Message> {
        let mut all = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .visibility_timeout(60)
                .send()
                .await
                .expect("receive from moto");
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return all;
            }
            all.extend(messages);
        }
    }
}

pub fn sign(body: &str) -> String {
    IpnSecret::new(SAMPLE_IPN_SECRET)
        .unwrap()
        .sign(body.as_bytes())
}

/// A POST to np-webhook as API Gateway hands it to the function, with the given
/// `x-nowpayments-sig` and content-type headers, if any.
pub fn ipn_request(
    body: impl Into<Vec<u8>>,
    signature: Option<&str>,
    content_type: Option<&str>,
) -> Request {
    let mut builder = http::Request::builder().method("POST").uri("/np-webhook");
    if let Some(signature) = signature {
        builder = builder.header(np_webhook::SIGNATURE_HEADER, signature);
    }
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.body(Body::from(body.into())).unwrap()
}

/// A signed POST as API Gateway hands it to the function.
pub fn signed_ipn(body: &str) -> Request {
    ipn_request(body, Some(&sign(body)), Some("application/json"))
}

pub use telepay_core::fixtures::sample_ipn_with as sample_with;

/// (status, outcome word) of a handler response.
pub fn outcome(response: &http::Response<Body>) -> (u16, String) {
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    (
        response.status().as_u16(),
        body["outcome"].as_str().unwrap_or_default().to_owned(),
    )
}

// ---- the whole chain ------------------------------------------------------------------

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_sqs::types::QueueAttributeName;
use fake_bot_api::FakeBotApi;
use telepay_core::chain::{ChainSettings, StageQueues, Stages};
use telepay_core::invite::{InviteSender, InviteSettings};
use telepay_core::processor::PaymentProcessor;
use telepay_shared::batch::succeeded;
use telepay_shared::sqs_event::sqs_batch;
use telepay_shared::telegram::{BotApiInviter, BotToken};

pub const BOT_TOKEN: &str = "424242:chain-test-token";

/// Every DynamoDB request that went over the wire, by operation (X-Amz-Target), retries
/// included: the real request count, not trait calls.
#[derive(Debug, Default, Clone)]
pub struct DynamoDbRequests(Arc<Mutex<Vec<String>>>);

impl DynamoDbRequests {
    pub fn operations(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Intercept for DynamoDbRequests {
    fn name(&self) -> &'static str {
        "DynamoDbRequests"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(target) = context.request().headers().get("x-amz-target") {
            let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
            self.0.lock().unwrap().push(operation);
        }
        Ok(())
    }
}

/// Creates a queue with a dead-letter queue (`max_receives` deliveries, then the DLQ) and
/// the given visibility timeout; returns (queue URL, DLQ URL).
pub async fn queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    max_receives: u32,
    visibility_secs: u32,
) -> (String, String) {
    let dlq_url = sqs
        .create_queue()
        .queue_name(unique(&format!("{name}-dlq")))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let redrive =
        serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receives});
    let url = sqs
        .create_queue()
        .queue_name(unique(name))
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_secs.to_string(),
        )
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (url, dlq_url)
}

/// The three stages wired as in Lambda: DynamoDB and SQS on moto, Telegram on the fake.
pub struct Chain {
    pub aws: MotoResources,
    pub requests: DynamoDbRequests,
    pub fake: FakeBotApi,
    pub payout_queue_url: String,
    pub invite_queue_url: String,
    pub webhook: PaymentWebhook<DynamoDbPaymentStore, SqsQueue>,
    pub processor: PaymentProcessor<DynamoDbPaymentStore, SqsQueue, SqsQueue>,
    pub invite_sender: InviteSender<DynamoDbPaymentStore, BotApiInviter>,
    pub invite_queue: SqsQueue,
}

impl Chain {
    pub async fn new() -> Self {
        let aws = MotoResources::new().await;
        let requests = DynamoDbRequests::default();
        let counted = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&moto().await)
                .interceptor(requests.clone())
                .build(),
        );
        let store = DynamoDbPaymentStore::new(counted, &aws.payments_table, &aws.reviews_table);
        let (payout_queue_url, _) = queue_with_dlq(&aws.sqs, "payout", 5, 30).await;
        let (invite_queue_url, _) = queue_with_dlq(&aws.sqs, "invite", 5, 30).await;
        let fake = FakeBotApi::start(BOT_TOKEN).await;
        let telegram =
            BotApiInviter::new(BotToken::new(BOT_TOKEN).unwrap(), Some(&fake.url())).unwrap();
        let settings = ChainSettings {
            invite: InviteSettings {
                call_timeout: Duration::from_secs(2),
                lease_grace: Duration::ZERO,
                ..InviteSettings::default()
            },
            ..ChainSettings::new(
                IpnSecret::new(SAMPLE_IPN_SECRET).unwrap(),
                ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
            )
        };
        let queues = StageQueues {
            processor: aws.queue(),
            invite: SqsQueue::new(aws.sqs.clone(), &invite_queue_url),
            payout: SqsQueue::new(aws.sqs.clone(), &payout_queue_url),
        };
        let stages = Stages::wire(settings, store, queues, telegram);
        Self {
            webhook: stages.webhook,
            processor: stages.processor,
            invite_sender: stages.invite_sender,
            invite_queue: SqsQueue::new(aws.sqs.clone(), &invite_queue_url),
            requests,
            fake,
            payout_queue_url,
            invite_queue_url,
            aws,
        }
    }

    /// Receives up to 10 messages as the event source mapping does, hiding them for
    /// `visibility_secs`.
    pub async fn receive(&self, queue_url: &str, visibility_secs: i32) -> Vec<SqsMessage> {
        let queue = SqsQueue::new(self.aws.sqs.clone(), queue_url);
        queue
            .receive_hidden_for(10, Duration::ZERO, Some(visibility_secs))
            .await
            .expect("receive from moto")
    }

    /// Deletes what the handler did not report failed, as the event source mapping does.
    pub async fn delete_succeeded(
        &self,
        queue_url: &str,
        batch: &[SqsMessage],
        response: &SqsBatchResponse,
    ) {
        let queue = SqsQueue::new(self.aws.sqs.clone(), queue_url);
        for message in succeeded(batch, response) {
            let receipt = message.receipt_handle.as_deref().unwrap_or_default();
            queue.delete(receipt).await.expect("delete from moto");
        }
    }

    /// Runs the processor over its queue until empty; each batch is handed over
    /// `deliveries` times (SQS delivers at least once).
    pub async fn run_processor(&self, deliveries: usize) {
        loop {
            let batch = self.receive(&self.aws.queue_url, 30).await;
            if batch.is_empty() {
                return;
            }
            let mut response = SqsBatchResponse::default();
            for _ in 0..deliveries {
                let event = sqs_batch(batch.clone(), Duration::from_secs(30));
                response = payment_processor::handle(&self.processor, event)
                    .await
                    .unwrap();
            }
            self.delete_succeeded(&self.aws.queue_url, &batch, &response)
                .await;
        }
    }

    /// Runs the invite sender over its queue until empty, `deliveries` times per batch.
    pub async fn run_invite_sender(&self, deliveries: usize) {
        loop {
            let batch = self.receive(&self.invite_queue_url, 30).await;
            if batch.is_empty() {
                return;
            }
            let mut response = SqsBatchResponse::default();
            for _ in 0..deliveries {
                response = self.invoke_invite_sender(batch.clone()).await;
            }
            self.delete_succeeded(&self.invite_queue_url, &batch, &response)
                .await;
        }
    }

    /// The stored record of a payment that must exist.
    pub async fn stored(&self, payment_id: i64) -> telepay_core::payment::ProcessedPayment {
        use telepay_core::store::ports::*;
        let id = telepay_core::ipn::PaymentId::new(payment_id).unwrap();
        self.aws
            .store()
            .get_payment(id)
            .await
            .unwrap()
            .expect("the record")
    }

    pub async fn invoke_invite_sender(&self, batch: Vec<SqsMessage>) -> SqsBatchResponse {
        let event = sqs_batch(batch, Duration::from_secs(30));
        invite_sender::handle(&self.invite_sender, &self.invite_queue, event)
            .await
            .unwrap()
    }
}

// ---- SQL backends -----------------------------------------------------------------------

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use telepay_shared::sql::{PostgresPaymentStore, SqlitePaymentStore};

/// The Postgres server the test script started (or the one DATABASE_URL names).
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must name a Postgres server; run the tests with `make test`")
}

/// A Postgres store in a schema of its own, so tests run in parallel on one server.
/// With `migrated`, the schema has every migration applied.
pub async fn postgres_store(migrated: bool) -> PostgresPaymentStore {
    let url = database_url();
    let schema = unique("t").replace('-', "_");
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("connect to the test Postgres");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let options = PgConnectOptions::from_str(&url).unwrap().options([
        ("search_path", schema.as_str()),
        ("statement_timeout", "10000"),
    ]);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .unwrap();
    let store = PostgresPaymentStore::from_pool(pool);
    if migrated {
        store.migrate().await.expect("migrations apply");
    }
    store
}

/// A SQLite store in a fresh file. With `migrated`, every migration is applied.
pub async fn sqlite_store(migrated: bool) -> SqlitePaymentStore {
    let path = std::env::temp_dir().join(format!("{}.sqlite", unique("telepay-test")));
    let store = SqlitePaymentStore::open(&path).await.expect("open SQLite");
    if migrated {
        store.migrate().await.expect("migrations apply");
    }
    store
}

/// The seed's DDL (the first migration's file), applied as the seed applied it: by hand,
/// with no migration bookkeeping.
pub const SEED_DDL: &str = include_str!("../../migrations/0001_seed_processed_payments.sql");

// ---- captured logs ----------------------------------------------------------------------

/// Log lines written while a [`CapturedLogs`] is installed, as JSON lines like Lambda's.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The lines at `level` (ERROR, WARN, INFO, ...).
    pub fn lines_at(&self, level: &str) -> Vec<String> {
        let needle = format!("\"level\":\"{level}\"");
        self.text()
            .lines()
            .filter(|line| line.contains(&needle))
            .map(str::to_owned)
            .collect()
    }

    /// A subscriber writing every event at every level here, in the Lambda JSON format
    /// (`telepay_shared::telemetry`), spans included.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let buffer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || buffer.clone())
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .finish()
    }

    /// Captures this thread's logs until the guard is dropped.
    pub fn capture(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(self.subscriber())
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
