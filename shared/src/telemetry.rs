//! Tracing setup: JSON lines in Lambda (`AWS_LAMBDA_LOG_FORMAT=JSON`), compact text
//! elsewhere; level from `RUST_LOG` (default `info`).

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // CloudWatch stamps every line itself.
        .without_time();
    let result = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.compact().try_init()
    };
    // A second init (tests, local runners hosting several handlers) keeps the first.
    drop(result);
}

/// The metrics exporter a Lambda function installs at cold start: CloudWatch Embedded
/// Metric Format on stdout, flushed after each invocation by
/// [`metrics_cloudwatch_embedded::lambda`], every metric with the `Function` and `Stack`
/// dimensions (the alarms in template.yaml name both), and a `ColdStart` count.
pub fn metrics_exporter(function: &str, stack: &str) -> metrics_cloudwatch_embedded::Builder {
    use telepay_core::metrics::{FUNCTION_DIMENSION, NAMESPACE, STACK_DIMENSION, signal};
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension(FUNCTION_DIMENSION, function.to_owned())
        .with_dimension(STACK_DIMENSION, stack.to_owned())
        .lambda_cold_start_metric(signal::COLD_START)
        .with_lambda_request_id("RequestId")
}

/// Installs [`metrics_exporter`] for this process: the function's name as Lambda gives it
/// (`AWS_LAMBDA_FUNCTION_NAME`, else `fallback`, as under `cargo lambda watch`) and the
/// stack's (`TELEPAY_STACK_NAME`, set by template.yaml).
pub fn init_metrics(
    fallback: &str,
) -> Result<&'static metrics_cloudwatch_embedded::Collector, MetricsInitError> {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| fallback.into());
    let stack = std::env::var("TELEPAY_STACK_NAME").unwrap_or_else(|_| "local".into());
    let collector = metrics_exporter(&function, &stack)
        .init()
        .map_err(|e| MetricsInitError(e.to_string()))?;
    telepay_core::metrics::describe();
    Ok(collector)
}

#[derive(Debug, thiserror::Error)]
#[error("metrics exporter not installed: {0}")]
pub struct MetricsInitError(String);

/// The Lambda runtime loop with the metrics flushed after each invocation (and the
/// runtime's own tracing layer): `run` for SQS and scheduled events, `run_http` for API
/// Gateway.
pub use metrics_cloudwatch_embedded::lambda::service::{run, run_http};
