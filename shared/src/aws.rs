//! One SDK configuration for every client, loaded the standard way (`AWS_REGION`,
//! credentials, `AWS_ENDPOINT_URL[_SERVICE]`), so a local emulator needs no special mode.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

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
        .load()
        .await
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
