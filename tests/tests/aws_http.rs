//! The SDK's HTTP client (shared/src/aws_http.rs) against backends that fail the way real
//! networks do: one that accepts and never answers, one that drops every connection. The
//! webhook's budget and the SDK's retries depend on the client reporting each for what it
//! is. (Every moto test covers the answers that do come.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::SdkError;
use telepay_integration_tests::{refused_endpoint, sdk_at};
use telepay_shared::aws::{TimeoutConfig, consumer_timeouts, webhook_timeouts};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// A DynamoDB client with a function's timeouts, its endpoint at `url`.
fn dynamodb(url: &str, timeouts: TimeoutConfig) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_at(url, timeouts))
}

/// As np-webhook builds it.
fn webhook_dynamodb(url: &str) -> aws_sdk_dynamodb::Client {
    dynamodb(url, webhook_timeouts())
}

/// As the SQS consumers build it: an operation budget (8 s) that outlasts the standard
/// strategy's three attempts and their jittered back-off (at most 1 s, then 2 s), so the
/// error the caller sees is the last attempt's own. Under the webhook's 1.2 s budget the
/// back-off may run the clock out first, and the caller sees a timeout instead.
fn consumer_dynamodb(url: &str) -> aws_sdk_dynamodb::Client {
    dynamodb(url, consumer_timeouts())
}

async fn get_item(client: &aws_sdk_dynamodb::Client) -> Result<(), String> {
    let result = client
        .get_item()
        .table_name("processed_payments")
        .key(
            "payment_id",
            aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
        )
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(SdkError::TimeoutError(_)) => Err("timeout".into()),
        Err(SdkError::DispatchFailure(failure)) if failure.is_timeout() => Err("timeout".into()),
        Err(SdkError::DispatchFailure(failure)) if failure.is_io() => Err("io".into()),
        Err(other) => Err(format!("other: {other:?}")),
    }
}

#[tokio::test]
async fn a_backend_that_never_answers_fails_within_the_webhook_budget() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accepts, reads the request, and never answers.
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            held.push(socket);
        }
    });
    let started = Instant::now();
    let outcome = get_item(&webhook_dynamodb(&url)).await;
    let took = started.elapsed();
    assert_eq!(outcome, Err("timeout".into()));
    // The operation timeout (1.2 s) ends it, well inside NOWPayments' 3 s.
    assert!(
        took >= Duration::from_millis(1100),
        "gave up early: {took:?}"
    );
    assert!(took < Duration::from_millis(2500), "took {took:?}");
}

#[tokio::test]
async fn a_dropped_connection_is_io_and_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    // Reads each request, then closes without a response.
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            drop(socket);
        }
    });
    let outcome = get_item(&consumer_dynamodb(&url)).await;
    assert_eq!(outcome, Err("io".into()));
    // The standard strategy's three attempts, each on a fresh connection.
    assert_eq!(connections.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_refused_connection_is_io() {
    let outcome = get_item(&consumer_dynamodb(&refused_endpoint().await)).await;
    assert_eq!(outcome, Err("io".into()));
}
