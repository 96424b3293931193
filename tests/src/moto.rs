//! AWS on moto: the SDK configuration (local endpoints only), fresh tables and queues
//! per test, queues with dead-letter queues, and counts of the requests that went out.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_types::SdkConfig;
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::{SAMPLE_DIRECTORY, SAMPLE_IPN_SECRET};
use telepay_core::signature::IpnSecret;
use telepay_core::webhook::PaymentWebhook;
use telepay_shared::dynamodb::{
    DynamoDbStore, create_bot_table, create_catalog_table, create_subscriptions_table,
    create_tables, create_watches_table,
};
use telepay_shared::sqs::SqsQueue;

/// The SDK configuration for moto. Refuses to run against anything but a local endpoint,
/// so a test can never touch a real AWS account.
pub async fn moto() -> SdkConfig {
    for variable in [
        "AWS_ENDPOINT_URL_DYNAMODB",
        "AWS_ENDPOINT_URL_SQS",
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    ] {
        let endpoint = std::env::var(variable).unwrap_or_default();
        assert!(
            endpoint.starts_with("http://127.0.0.1:") || endpoint.starts_with("http://localhost:"),
            "{variable} must point at a local moto server; run the tests with `make test`"
        );
    }
    // Generous timeouts: a loaded CI machine must not turn a slow moto into a failure.
    let timeouts = telepay_shared::aws::TimeoutConfig::builder()
        .operation_timeout(std::time::Duration::from_secs(20))
        .build();
    // The functions' own loader: what a test proves holds for a Lambda's configuration.
    telepay_shared::aws::lambda_sdk_config(&telepay_shared::config::ProcessEnvironment, timeouts)
        .expect("moto.sh exports the region, credentials and endpoints")
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
    pub subscriptions_table: String,
    pub bot_table: String,
    pub watches_table: String,
    pub catalog_table: String,
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
        let subscriptions_table = unique("subscriptions");
        create_subscriptions_table(&dynamodb, &subscriptions_table)
            .await
            .expect("moto creates the subscriptions table");
        let bot_table = unique("bot_once");
        create_bot_table(&dynamodb, &bot_table)
            .await
            .expect("moto creates the bot table");
        let watches_table = unique("payment_watches");
        create_watches_table(&dynamodb, &watches_table)
            .await
            .expect("moto creates the watches table");
        let catalog_table = unique("catalog");
        create_catalog_table(&dynamodb, &catalog_table)
            .await
            .expect("moto creates the catalog table");
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
            subscriptions_table,
            bot_table,
            watches_table,
            catalog_table,
            queue_url,
        }
    }

    pub fn store(&self) -> DynamoDbStore {
        DynamoDbStore::new(
            self.dynamodb.clone(),
            &self.payments_table,
            &self.reviews_table,
        )
        .with_subscriptions_table(&self.subscriptions_table)
        .with_bot_table(&self.bot_table)
        .with_watches_table(&self.watches_table)
        .with_catalog_table(&self.catalog_table)
    }

    pub fn queue(&self) -> SqsQueue {
        SqsQueue::new(self.sqs.clone(), &self.queue_url)
    }

    pub fn webhook(&self) -> PaymentWebhook<DynamoDbStore, SqsQueue> {
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
        record_operation(&self.0, context.request());
        Ok(())
    }
}

/// Every AWS request a configuration's clients put on the wire, by operation
/// (X-Amz-Target), retries included, whichever service client sent it: for code that
/// builds its clients from an [`SdkConfig`] itself, where an interceptor cannot reach.
#[derive(Debug, Clone)]
pub struct WireRequests {
    inner: SharedHttpClient,
    operations: Arc<Mutex<Vec<String>>>,
}

impl WireRequests {
    /// `sdk` with its HTTP client wrapped, and the log the wrapper writes.
    pub fn around(sdk: &SdkConfig) -> (SdkConfig, WireRequests) {
        let requests = WireRequests {
            inner: sdk
                .http_client()
                .expect("moto's configuration has an HTTP client"),
            operations: Arc::default(),
        };
        let counted = sdk.to_builder().http_client(requests.clone()).build();
        (counted, requests)
    }

    pub fn operations(&self) -> Vec<String> {
        self.operations.lock().unwrap().clone()
    }
}

impl HttpClient for WireRequests {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(WireConnector {
            inner: self.inner.http_connector(settings, components),
            operations: self.operations.clone(),
        })
    }
}

#[derive(Debug)]
struct WireConnector {
    inner: SharedHttpConnector,
    operations: Arc<Mutex<Vec<String>>>,
}

impl HttpConnector for WireConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        record_operation(&self.operations, &request);
        self.inner.call(request)
    }
}

/// Logs a request's operation, from its X-Amz-Target (`DynamoDB_20120810.PutItem`).
fn record_operation(log: &Mutex<Vec<String>>, request: &HttpRequest) {
    if let Some(target) = request.headers().get("x-amz-target") {
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        log.lock().unwrap().push(operation);
    }
}

/// A function's own SDK configuration (its loader, the given timeouts) with every
/// service at `endpoint`: for backends that are not moto.
pub fn sdk_at(endpoint: &str, timeouts: telepay_shared::aws::TimeoutConfig) -> SdkConfig {
    let env = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_ENDPOINT_URL", endpoint),
    ];
    telepay_shared::aws::lambda_sdk_config(&env, timeouts).expect("a complete configuration")
}

/// An endpoint on a port that was just bound and closed: nothing listens there, so a
/// connection is refused.
pub async fn refused_endpoint() -> String {
    let port = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port")
        .local_addr()
        .expect("an address")
        .port();
    format!("http://127.0.0.1:{port}")
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
