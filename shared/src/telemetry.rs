//! Tracing setup: JSON lines in Lambda (`AWS_LAMBDA_LOG_FORMAT=JSON`) and on a server
//! that asks (`TELEPAY_LOG_FORMAT=json`, with the time), compact text elsewhere; level
//! from `RUST_LOG` (default `info`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use lambda_runtime::layers::TracingLayer;
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{Diagnostic, IntoFunctionResponse, LambdaEvent, LambdaInvocation};
use metrics_cloudwatch_embedded::Collector;
use serde::{Deserialize, Serialize};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Environment, ProcessEnvironment};

/// The runtime's own crates, capped at `info` whatever `RUST_LOG` says: at `trace`,
/// `lambda_runtime` logs each raw event, headers and all (`x-nowpayments-sig`,
/// `x-telegram-bot-api-secret-token`).
const RUNTIME_TARGETS: [&str; 3] = ["lambda_runtime", "lambda_runtime_api_client", "lambda_http"];

/// The log filter `RUST_LOG` asks for (default `info`), with [`RUNTIME_TARGETS`] capped;
/// the parse error, if it could not be read.
pub fn log_filter(
    configured: Option<&str>,
) -> (Targets, Option<tracing_subscriber::filter::ParseError>) {
    // `Targets` reads the usual `RUST_LOG` forms (`info`, `warn,np_webhook=debug`) without
    // `EnvFilter`'s regex engine, which cost every bootstrap 0.3 MB.
    let (asked, error) = match configured.map(str::parse::<Targets>) {
        Some(Ok(targets)) => (targets, None),
        Some(Err(error)) => (Targets::new().with_default(LevelFilter::INFO), Some(error)),
        None => (Targets::new().with_default(LevelFilter::INFO), None),
    };
    let default = asked.default_level().unwrap_or(LevelFilter::OFF);
    let is_runtime = |target: &str| {
        RUNTIME_TARGETS.iter().any(|runtime| {
            target == *runtime
                || target
                    .strip_prefix(runtime)
                    .is_some_and(|rest| rest.starts_with("::"))
        })
    };
    let mut filter = Targets::new().with_default(default);
    for (target, level) in &asked {
        let level = if is_runtime(target) {
            level.min(LevelFilter::INFO)
        } else {
            level
        };
        filter = filter.with_target(target.to_owned(), level);
    }
    for runtime in RUNTIME_TARGETS {
        if !asked.iter().any(|(target, _)| target == runtime) {
            filter = filter.with_target(runtime, default.min(LevelFilter::INFO));
        }
    }
    (filter, error)
}

pub fn init() {
    let configured = ProcessEnvironment.optional("RUST_LOG");
    let (filter, parse_error) = log_filter(configured.as_deref());

    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    // A server (`telepay serve`) asks for JSON lines with their time: what a log shipper
    // (journald, Docker, Loki) reads field by field.
    let server_json =
        std::env::var("TELEPAY_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(filter);
    // CloudWatch stamps every line itself, hence no time.
    let result = if server_json && !json {
        let lines = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_target(false);
        registry.with(lines).try_init()
    } else if json {
        let lines = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_target(false)
            .without_time();
        registry.with(lines).try_init()
    } else {
        let lines = tracing_subscriber::fmt::layer()
            .compact()
            .with_target(false)
            .without_time();
        registry.with(lines).try_init()
    };
    // A second init (tests, local runners hosting several handlers) keeps the first.
    drop(result);
    if let Some(error) = parse_error {
        tracing::warn!(%error, "RUST_LOG is not a filter this build reads; logging at info");
    }
}

/// The metrics exporter a Lambda function installs at cold start: CloudWatch Embedded
/// Metric Format on stdout, flushed after each invocation by [`run`], every metric with
/// the `Function` and `Stack` dimensions (the alarms in template.yaml name both).
pub fn metrics_exporter(function: &str, stack: &str) -> metrics_cloudwatch_embedded::Builder {
    use telepay_core::metrics::{FUNCTION_DIMENSION, NAMESPACE, STACK_DIMENSION};
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension(FUNCTION_DIMENSION, function.to_owned())
        .with_dimension(STACK_DIMENSION, stack.to_owned())
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

/// The EMF property that ties an invocation's metrics to its request.
pub const REQUEST_ID_PROPERTY: &str = "RequestId";

/// The Lambda runtime loop (with the runtime's own tracing layer) and the metrics flushed
/// after each invocation, for SQS and scheduled events.
///
/// The flush layer is ours rather than `metrics_cloudwatch_embedded`'s `lambda` feature:
/// that feature pulls `lambda_http` and `lambda_runtime` with every default feature, and
/// with them `tracing-subscriber`'s regex-based filter, into every bootstrap.
pub async fn run<A, R, B, S, D, E, F>(
    metrics: &'static Collector,
    handler: F,
) -> Result<(), lambda_runtime::Error>
where
    F: Service<LambdaEvent<A>, Response = R>,
    F::Future: Future<Output = Result<R, F::Error>>,
    F::Error: Into<Diagnostic> + std::fmt::Debug,
    A: for<'de> Deserialize<'de>,
    R: IntoFunctionResponse<B, S>,
    B: Serialize,
    S: futures_core::Stream<Item = Result<D, E>> + Unpin + Send + 'static,
    D: Into<bytes::Bytes> + Send,
    E: Into<lambda_runtime::Error> + Send + std::fmt::Debug,
{
    lambda_runtime::Runtime::new(handler)
        .layer(TracingLayer::new())
        .layer(FlushMetrics { metrics })
        .run()
        .await
}

/// [`run`] for an API Gateway handler.
pub async fn run_http<'a, R, S, E>(
    metrics: &'static Collector,
    handler: S,
) -> Result<(), lambda_runtime::Error>
where
    S: Service<lambda_http::Request, Response = R, Error = E>,
    S::Future: Send + 'a,
    R: lambda_http::IntoResponse,
    E: std::fmt::Debug + Into<Diagnostic>,
{
    run(metrics, lambda_http::Adapter::from(handler)).await
}

/// Counts the cold start once, tags each invocation's metrics with its request id, and
/// writes them to stdout when the handler is done.
#[derive(Clone, Copy)]
struct FlushMetrics {
    metrics: &'static Collector,
}

impl<S> Layer<S> for FlushMetrics {
    type Service = FlushMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FlushMetricsService {
            metrics: self.metrics,
            inner,
        }
    }
}

struct FlushMetricsService<S> {
    metrics: &'static Collector,
    inner: S,
}

impl<S: Service<LambdaInvocation>> Service<LambdaInvocation> for FlushMetricsService<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = Flushed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        use telepay_core::metrics::signal::COLD_START;
        self.metrics
            .set_property(REQUEST_ID_PROPERTY, invocation.context.request_id.clone());
        static COLD_START_COUNTED: std::sync::Once = std::sync::Once::new();
        COLD_START_COUNTED.call_once(|| {
            let written = self.metrics.write_single(
                COLD_START,
                Some(metrics::Unit::Count),
                1,
                std::io::stdout(),
            );
            if let Err(error) = written {
                tracing::warn!(%error, "cold start metric not written");
            }
        });
        Flushed {
            metrics: self.metrics,
            inner: self.inner.call(invocation),
        }
    }
}

pin_project_lite::pin_project! {
    /// The handler's future, then a flush of the metrics it recorded.
    struct Flushed<F> {
        metrics: &'static Collector,
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for Flushed<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = std::task::ready!(this.inner.poll(cx));
        if let Err(error) = this.metrics.flush(std::io::stdout()) {
            // Metrics lost to a closed stdout must not fail a payment that succeeded.
            tracing::warn!(%error, "metrics not flushed");
        }
        Poll::Ready(output)
    }
}

#[cfg(test)]
mod filter_tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn rust_log_trace_never_reaches_the_runtime_raw_events() {
        for asked in [
            "trace",
            "trace,lambda_runtime=trace",
            "info,lambda_runtime::layers=trace",
        ] {
            let (filter, error) = log_filter(Some(asked));
            assert!(error.is_none());
            assert!(
                !filter.would_enable("lambda_runtime::layers::api_response", &Level::TRACE),
                "{asked}"
            );
            assert!(
                !filter.would_enable("lambda_runtime", &Level::DEBUG),
                "{asked}"
            );
            assert!(
                filter.would_enable("lambda_runtime", &Level::INFO),
                "{asked}"
            );
        }
        let (filter, _) = log_filter(Some("trace"));
        assert!(filter.would_enable("np_webhook", &Level::TRACE));
        let (filter, _) = log_filter(None);
        assert!(filter.would_enable("np_webhook", &Level::INFO));
        assert!(!filter.would_enable("np_webhook", &Level::DEBUG));
        let (filter, _) = log_filter(Some("warn"));
        assert!(!filter.would_enable("lambda_runtime", &Level::INFO));
    }
}
