//! One SDK configuration for every client. A Lambda function builds it from the
//! environment Lambda gives every function (`AWS_REGION`, the execution role's
//! credentials), plus `AWS_ENDPOINT_URL[_SERVICE]` so a local emulator needs no special
//! mode. Without `aws-config`'s credential chain (profiles, SSO, STS, IMDS) a bootstrap
//! links about 0.5 MB less and probes nothing at cold start; the CLI and the local run,
//! which run on a workstation, keep the chain (feature `credential-chain`).

use std::collections::HashMap;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_sdk_sqs::config::BehaviorVersion;
use aws_types::SdkConfig;
use aws_types::region::Region;
pub use aws_types::sdk_config::TimeoutConfig;
use aws_types::sdk_config::{RetryConfig, SharedCredentialsProvider};
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

use crate::config::{ConfigError, Environment};

/// The region Lambda sets for every function (`AWS_DEFAULT_REGION` is read after it).
pub const AWS_REGION: &str = "AWS_REGION";
pub const AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
/// The execution role's credentials, which Lambda puts in every function's environment.
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// One endpoint for every service (an emulator), and its per-service forms.
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
/// The services the functions call, by the SDK's service id.
const SERVICE_IDS: [&str; 3] = ["DynamoDB", "SQS", "Secrets Manager"];

/// The SDK configuration of a Lambda function, read once from its environment: the
/// region, the execution role's credentials, the endpoints, standard retries, the given
/// timeouts and the one HTTP client ([`crate::aws_http`]). A missing variable is named.
pub fn lambda_sdk_config<E: Environment>(
    env: &E,
    timeouts: TimeoutConfig,
) -> Result<SdkConfig, ConfigError> {
    let region = env
        .optional(AWS_REGION)
        .or_else(|| env.optional(AWS_DEFAULT_REGION))
        .ok_or(ConfigError::Missing(AWS_REGION))?;
    let credentials = Credentials::new(
        env.required(AWS_ACCESS_KEY_ID)?,
        env.required(AWS_SECRET_ACCESS_KEY)?,
        env.optional(AWS_SESSION_TOKEN),
        // Lambda keeps these valid for the execution environment's whole life.
        None,
        "LambdaEnvironment",
    );
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .retry_config(RetryConfig::standard())
        .http_client(crate::aws_http::sdk_http_client(&timeouts))
        .timeout_config(timeouts)
        .service_config(EndpointUrls::read(env));
    if let Some(url) = env.optional(AWS_ENDPOINT_URL) {
        builder.set_endpoint_url(Some(url));
    }
    Ok(builder.build())
}

/// `AWS_ENDPOINT_URL_<SERVICE>` for the services the functions call, read once; the SDK
/// asks for a service's endpoint when it builds that service's client.
#[derive(Debug)]
struct EndpointUrls(HashMap<String, String>);

impl EndpointUrls {
    fn read<E: Environment>(env: &E) -> Self {
        let urls = SERVICE_IDS
            .iter()
            .map(|id| service_variable(AWS_ENDPOINT_URL, id))
            .filter_map(|variable| {
                let url = env.optional(&variable)?;
                Some((variable, url))
            })
            .collect();
        EndpointUrls(urls)
    }
}

impl LoadServiceConfig for EndpointUrls {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        self.0
            .get(&service_variable(key.env(), key.service_id()))
            .cloned()
    }
}

/// The SDK's per-service variable name: `AWS_ENDPOINT_URL` and "Secrets Manager" give
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER`.
fn service_variable(base: &str, service_id: &str) -> String {
    format!(
        "{base}_{}",
        service_id.to_ascii_uppercase().replace(' ', "_")
    )
}

/// The SDK configuration by `aws-config`'s whole chain (profiles, SSO, environment), for
/// the CLI and the local run on a workstation.
#[cfg(feature = "credential-chain")]
pub async fn load_sdk_config(timeouts: TimeoutConfig) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(crate::aws_http::sdk_http_client(&timeouts))
        .timeout_config(timeouts)
        .load()
        .await
}

/// Timeouts that let the webhook answer within NOWPayments' 3 s budget even when a
/// backend hangs: a hung call fails fast and the IPN is retried by NOWPayments.
pub fn webhook_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(500))
        .operation_attempt_timeout(Duration::from_millis(600))
        .operation_timeout(Duration::from_millis(1200))
        .build()
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

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: [(&str, &str); 4] = [
        (AWS_REGION, "eu-west-1"),
        (AWS_ACCESS_KEY_ID, "ASIAEXAMPLEKEY"),
        (AWS_SECRET_ACCESS_KEY, "role-secret-value"),
        (AWS_SESSION_TOKEN, "role-session-token"),
    ];

    fn without(name: &str) -> Vec<(&'static str, &'static str)> {
        ROLE.iter().copied().filter(|(n, _)| *n != name).collect()
    }

    #[test]
    fn a_lambda_configuration_takes_region_and_role_from_the_environment() {
        let sdk = lambda_sdk_config(&ROLE, consumer_timeouts()).unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert!(sdk.credentials_provider().is_some());
        assert_eq!(
            sdk.endpoint_url(),
            None,
            "real AWS unless an endpoint is set"
        );
    }

    #[test]
    fn a_missing_variable_is_named_and_no_value_is_shown() {
        for missing in [AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY] {
            let error = lambda_sdk_config(&without(missing), consumer_timeouts())
                .unwrap_err()
                .to_string();
            assert!(error.contains(missing), "{error}");
            for (_, value) in ROLE {
                assert!(!error.contains(value), "{error} shows {value}");
            }
        }
        // The session token is optional (long-lived keys on a workstation have none).
        assert!(lambda_sdk_config(&without(AWS_SESSION_TOKEN), consumer_timeouts()).is_ok());
    }

    #[test]
    fn the_default_region_stands_in_for_a_missing_region() {
        let mut env = without(AWS_REGION);
        env.push((AWS_DEFAULT_REGION, "ap-south-1"));
        let sdk = lambda_sdk_config(&env, consumer_timeouts()).unwrap();
        assert_eq!(sdk.region().map(|r| r.as_ref()), Some("ap-south-1"));
    }

    #[test]
    fn each_service_finds_its_own_endpoint() {
        let mut env = ROLE.to_vec();
        env.push(("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:4001"));
        env.push(("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:4002"));
        env.push((AWS_ENDPOINT_URL, "http://127.0.0.1:4000"));
        let sdk = lambda_sdk_config(&env, consumer_timeouts()).unwrap();
        let endpoint = |service_id| {
            let key = ServiceConfigKey::builder()
                .service_id(service_id)
                .env(AWS_ENDPOINT_URL)
                .profile("endpoint_url")
                .build()
                .unwrap();
            sdk.service_config().unwrap().load_config(key)
        };
        assert_eq!(
            endpoint("Secrets Manager").as_deref(),
            Some("http://127.0.0.1:4001")
        );
        assert_eq!(
            endpoint("DynamoDB").as_deref(),
            Some("http://127.0.0.1:4002")
        );
        // SQS has no endpoint of its own, so the SDK falls back to the shared one.
        assert_eq!(endpoint("SQS"), None);
        assert_eq!(sdk.endpoint_url(), Some("http://127.0.0.1:4000"));
    }
}
