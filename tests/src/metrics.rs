//! The real metrics exporter (the one each function's `main` installs), writing its
//! Embedded Metric Format documents to a buffer instead of stdout, and what they say.
//!
//! The exporter is process-wide (the `metrics` facade has one global recorder), so a
//! capture holds a lock: code that must be counted runs inside [`capture`], one at a time.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;

use metrics_cloudwatch_embedded::Collector;
use serde_json::Value;
use telepay_core::metrics::{OPERATION, OUTCOME};

/// The dimension values the test exporter stamps on every metric.
pub const TEST_FUNCTION: &str = "telepay-test-function";
pub const TEST_STACK: &str = "telepay-test-stack";

fn collector() -> &'static Collector {
    static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();
    COLLECTOR.get_or_init(|| {
        let collector = telepay_shared::telemetry::metrics_exporter(TEST_FUNCTION, TEST_STACK)
            .init()
            .expect("the only metrics recorder of this test process");
        telepay_core::metrics::describe();
        collector
    })
}

/// Runs `work` with the exporter installed and returns what it flushed afterwards (as a
/// function's invocation would).
pub async fn capture<F: Future>(work: F) -> (F::Output, Emitted) {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = LOCK.lock().await;
    let collector = collector();
    // Whatever was recorded outside a capture is not this work's.
    collector.flush(std::io::sink()).unwrap();
    let output = work.await;
    let mut buffer = Vec::new();
    collector.flush(&mut buffer).unwrap();
    (output, Emitted::parse(&buffer))
}

/// One EMF document: one set of dimensions and the metrics recorded with it.
#[derive(Debug, Clone)]
pub struct Document {
    pub namespace: String,
    /// The dimension names, in the order CloudWatch is told.
    pub dimension_names: Vec<String>,
    /// The dimension values.
    pub dimensions: BTreeMap<String, String>,
    /// Each metric's unit (if told) and its value (a number, or a list for a histogram).
    pub metrics: BTreeMap<String, (Option<String>, Value)>,
}

#[derive(Debug, Clone, Default)]
pub struct Emitted {
    pub documents: Vec<Document>,
}

impl Emitted {
    /// Parses EMF lines as CloudWatch would, refusing anything that is not EMF.
    pub fn parse(buffer: &[u8]) -> Self {
        let text = std::str::from_utf8(buffer).expect("EMF is UTF-8");
        let documents = text
            .lines()
            .map(|line| {
                let doc: Value = serde_json::from_str(line).expect("each line one JSON document");
                let directive = &doc["_aws"]["CloudWatchMetrics"][0];
                assert!(
                    doc["_aws"]["Timestamp"].is_u64(),
                    "EMF needs a timestamp: {line}"
                );
                let dimension_names: Vec<String> = directive["Dimensions"][0]
                    .as_array()
                    .expect("one dimension set")
                    .iter()
                    .map(|name| name.as_str().unwrap().to_owned())
                    .collect();
                let dimensions = dimension_names
                    .iter()
                    .map(|name| {
                        let value = doc[name].as_str().unwrap_or_else(|| {
                            panic!("dimension {name} has no string value: {line}")
                        });
                        (name.clone(), value.to_owned())
                    })
                    .collect();
                let metrics = directive["Metrics"]
                    .as_array()
                    .expect("a metric list")
                    .iter()
                    .map(|metric| {
                        let name = metric["Name"].as_str().unwrap().to_owned();
                        let unit = metric["Unit"].as_str().map(str::to_owned);
                        let value = doc[&name].clone();
                        assert!(!value.is_null(), "metric {name} has no value: {line}");
                        (name, (unit, value))
                    })
                    .collect();
                Document {
                    namespace: directive["Namespace"].as_str().unwrap().to_owned(),
                    dimension_names,
                    dimensions,
                    metrics,
                }
            })
            .collect();
        Self { documents }
    }

    fn sum(&self, metric: &str, label: Option<(&str, &str)>) -> f64 {
        self.documents
            .iter()
            .filter(|doc| match label {
                Some((name, value)) => doc.dimensions.get(name).is_some_and(|v| v == value),
                None => doc.dimension_names.len() == 2,
            })
            .filter_map(|doc| doc.metrics.get(metric))
            .map(|(_, value)| match value {
                Value::Array(values) => values.len() as f64,
                other => other.as_f64().unwrap(),
            })
            .sum()
    }

    /// A counter or reading without a label (the alarm signals).
    pub fn count(&self, metric: &str) -> f64 {
        self.sum(metric, None)
    }

    /// One outcome of a stage counter.
    pub fn outcome(&self, stage: &str, word: &str) -> f64 {
        self.sum(stage, Some((OUTCOME, word)))
    }

    /// Every outcome word of a stage counter, with its count.
    pub fn outcomes(&self, stage: &str) -> BTreeMap<String, f64> {
        let mut words = BTreeMap::new();
        for doc in &self.documents {
            if let (Some((_, value)), Some(word)) =
                (doc.metrics.get(stage), doc.dimensions.get(OUTCOME))
            {
                *words.entry(word.clone()).or_default() += value.as_f64().unwrap();
            }
        }
        words
    }

    /// How many latencies a histogram recorded for one operation.
    pub fn latencies(&self, metric: &str, operation: &str) -> usize {
        self.sum(metric, Some((OPERATION, operation))) as usize
    }

    /// The documents that carry `metric`.
    pub fn carrying(&self, metric: &str) -> Vec<&Document> {
        self.documents
            .iter()
            .filter(|doc| doc.metrics.contains_key(metric))
            .collect()
    }
}
