//! What every function's cold start begins with, said once: logs and metrics set up, the
//! SDK configuration from the environment Lambda gives, and that environment with the
//! secrets the template names read from Secrets Manager (else the plain variables).
//! Each `main.rs` goes on from here with its own configuration, clients and stage.

use aws_types::SdkConfig;
use metrics_cloudwatch_embedded::Collector;

use crate::aws::{TimeoutConfig, lambda_sdk_config};
use crate::config::{ConfigError, ProcessEnvironment};
use crate::secrets::{WithSecrets, read_secrets};
use crate::telemetry::{self, MetricsInitError};

pub struct ColdStart {
    /// The metrics exporter the runtime loop flushes after each invocation.
    pub metrics: &'static Collector,
    pub sdk: SdkConfig,
    /// The process environment with the secrets read in.
    pub env: WithSecrets<ProcessEnvironment>,
}

#[derive(Debug, thiserror::Error)]
pub enum ColdStartError {
    #[error(transparent)]
    Metrics(#[from] MetricsInitError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// Sets up `function`'s telemetry, then reads its SDK configuration (with `timeouts`)
/// and secrets; fails naming the variable that is missing or wrong.
pub async fn begin(function: &str, timeouts: TimeoutConfig) -> Result<ColdStart, ColdStartError> {
    telemetry::init();
    let metrics = telemetry::init_metrics(function)?;
    let sdk = lambda_sdk_config(&ProcessEnvironment, timeouts)?;
    let env = read_secrets(ProcessEnvironment, &sdk).await?;
    Ok(ColdStart { metrics, sdk, env })
}
