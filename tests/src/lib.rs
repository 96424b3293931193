//! Helpers for the integration tests: AWS clients pointed at moto, a fresh table pair and
//! queue per test, and API Gateway-shaped requests.

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

/// A signed POST as API Gateway hands it to the function.
pub fn signed_ipn(body: &str) -> Request {
    http::Request::builder()
        .method("POST")
        .uri("/np-webhook")
        .header("x-nowpayments-sig", sign(body))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

/// The sample IPN with one field replaced.
pub fn sample_with(field: &str, value: serde_json::Value) -> String {
    let mut ipn: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(telepay_core::fixtures::SAMPLE_IPN).unwrap();
    ipn.insert(field.into(), value);
    serde_json::to_string(&ipn).unwrap()
}

/// (status, outcome word) of a handler response.
pub fn outcome(response: &http::Response<Body>) -> (u16, String) {
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    (
        response.status().as_u16(),
        body["outcome"].as_str().unwrap_or_default().to_owned(),
    )
}
