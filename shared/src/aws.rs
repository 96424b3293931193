//! One SDK configuration for every client, loaded the standard way (`AWS_REGION`,
//! credentials, `AWS_ENDPOINT_URL[_SERVICE]`), so a local emulator needs no special mode.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use base64::Engine;

/// Timeouts that let the webhook answer within NOWPayments' 3 s budget even when a
/// backend hangs: a hung call fails fast and the IPN is retried by NOWPayments.
pub fn webhook_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(Duration::from_millis(600))
        .operation_timeout(Duration::from_millis(1200))
        .build()
}

pub async fn load_sdk_config(timeouts: TimeoutConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        // The SDK's HTTPS client, as the default one (rustls on aws-lc) but for its roots.
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
                .tls_context(compiled_in_roots())
                .build_https(),
        )
        .load()
        .await
}

/// Mozilla's root certificates compiled in (`webpki-root-certs`), the set the system
/// store holds. The SDK's default client reads and parses the whole system store at every
/// cold start: the bundle, then each file of `/etc/ssl/certs`, about 15 ms of a 30 ms start
/// on this machine.
fn compiled_in_roots() -> TlsContext {
    let mut roots = TrustStore::empty().with_native_roots(false);
    for certificate in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        roots.add_pem_certificate(pem(certificate));
    }
    TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .expect("compiled-in root certificates always make a TLS context")
}

/// One DER certificate as PEM, the form the SDK's trust store takes.
fn pem(der: &[u8]) -> Vec<u8> {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::with_capacity(body.len() + body.len() / 64 + 64);
    pem.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem.into_bytes()
}

/// Timeouts for the SQS consumers: generous, but a hung call still fails well inside the
/// function timeout so the message is reported failed rather than the invocation lost.
pub fn consumer_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(3))
        .operation_timeout(Duration::from_secs(8))
        .build()
}
