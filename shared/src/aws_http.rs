//! The AWS SDK's HTTP client on reqwest, the HTTP stack teloxide-core already links.
//!
//! The SDK's own client (`aws-smithy-http-client`) is a second hyper client with HTTP/2
//! and its own TLS set-up: about 1 MB of every bootstrap, twice over in the functions that
//! also talk to Telegram. DynamoDB, SQS and Secrets Manager speak HTTP/1.1 with small
//! bodies, so one HTTP/1.1 client with rustls on ring and Mozilla's roots compiled in
//! (no file read at cold start) serves both.
//!
//! What the SDK asks of a client, and where it is kept:
//! - connect and read timeouts from its settings (the operation timeouts it enforces
//!   itself): one reqwest client per distinct setting, built once and kept;
//! - a connection pool: reqwest's, shared by every service client of the configuration;
//! - errors it can classify: a timeout is a timeout, a connection that failed or broke is
//!   I/O (both retried by the standard retry strategy), a request it cannot build is a
//!   user error (not retried).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::timeout::TimeoutConfig;

/// The SDK's HTTP client for every service client of a configuration. The reqwest client
/// for `timeouts` (the connector settings the SDK will ask for) is built here, at cold
/// start, not on the first invocation's first call.
pub fn sdk_http_client(timeouts: &TimeoutConfig) -> SharedHttpClient {
    let client = ReqwestHttpClient::default();
    // A client that cannot be built now fails the same way on first use, with its reason.
    let _ = client.client((timeouts.connect_timeout(), timeouts.read_timeout()));
    SharedHttpClient::new(client)
}

type Timeouts = (Option<Duration>, Option<Duration>);

#[derive(Default)]
struct ReqwestHttpClient {
    clients: Mutex<HashMap<Timeouts, reqwest::Client>>,
}

impl fmt::Debug for ReqwestHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReqwestHttpClient")
    }
}

impl ReqwestHttpClient {
    fn client(&self, timeouts: Timeouts) -> Result<reqwest::Client, reqwest::Error> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(&timeouts) {
            return Ok(client.clone());
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .http1_only()
            // The SDK sends no proxy settings; a Lambda has none to find.
            .no_proxy();
        if let Some(connect) = timeouts.0 {
            builder = builder.connect_timeout(connect);
        }
        if let Some(read) = timeouts.1 {
            builder = builder.read_timeout(read);
        }
        let client = builder.build()?;
        clients.insert(timeouts, client.clone());
        Ok(client)
    }
}

impl HttpClient for ReqwestHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let client = self
            .client((settings.connect_timeout(), settings.read_timeout()))
            .map_err(|e| Arc::new(e.to_string()));
        SharedHttpConnector::new(ReqwestConnector { client })
    }
}

struct ReqwestConnector {
    /// A client that could not be built fails each request with the reason, as a user
    /// error the SDK does not retry.
    client: Result<reqwest::Client, Arc<String>>,
}

impl fmt::Debug for ReqwestConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReqwestConnector")
    }
}

impl HttpConnector for ReqwestConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        HttpConnectorFuture::new(async move {
            let client =
                client.map_err(|reason| ConnectorError::user(reason.to_string().into()))?;
            let request = into_reqwest(request)?;
            let response = client.execute(request).await.map_err(connector_error)?;
            from_reqwest(response)
        })
    }
}

fn into_reqwest(request: HttpRequest) -> Result<reqwest::Request, ConnectorError> {
    let request = request
        .try_into_http1x()
        .map_err(|e| ConnectorError::user(e.into()))?;
    let (parts, body) = request.into_parts();
    // Every request these services take is in memory; a stream would be a new use.
    let bytes = body
        .bytes()
        .map(bytes::Bytes::copy_from_slice)
        .ok_or_else(|| {
            ConnectorError::user("a streaming request body is not supported by this client".into())
        })?;
    reqwest::Request::try_from(http::Request::from_parts(parts, bytes))
        .map_err(|e| ConnectorError::user(e.into()))
}

/// The response with its body streamed, as the SDK's own client hands it over: the SDK
/// reads it (under the read timeout), and a streamed body's `Debug` shows no bytes. An
/// in-memory one would print a `GetSecretValue` answer, secret and all, in the SDK's
/// TRACE line of every response (tests/tests/secrets.rs caught it).
fn from_reqwest(response: reqwest::Response) -> Result<HttpResponse, ConnectorError> {
    let response: http::Response<reqwest::Body> = response.into();
    HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
        .map_err(|e| ConnectorError::other(e.into(), None))
}

/// How the SDK's retry strategy should see a failed exchange.
fn connector_error(error: reqwest::Error) -> ConnectorError {
    if error.is_timeout() {
        ConnectorError::timeout(error.into())
    } else if error.is_builder() {
        ConnectorError::user(error.into())
    } else {
        // Refused, reset or broken mid-body: transient, retried as the SDK's own client's
        // I/O errors are (every write here is conditional, every consumer idempotent).
        ConnectorError::io(error.into())
    }
}
