//! Captured logs: every event a test's code writes, as Lambda's JSON lines.

use std::sync::{Arc, Mutex};

/// Log lines written while a [`CapturedLogs`] is installed, as JSON lines like Lambda's.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The lines at `level` (ERROR, WARN, INFO, ...).
    pub fn lines_at(&self, level: &str) -> Vec<String> {
        let needle = format!("\"level\":\"{level}\"");
        self.text()
            .lines()
            .filter(|line| line.contains(&needle))
            .map(str::to_owned)
            .collect()
    }

    /// A subscriber writing every event at every level here, in the Lambda JSON format
    /// (`telepay_shared::telemetry`), spans included.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let buffer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || buffer.clone())
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .finish()
    }

    /// [`Self::subscriber`] behind `filter` (what the functions' `RUST_LOG` makes).
    pub fn subscriber_with(
        &self,
        filter: tracing_subscriber::filter::Targets,
    ) -> impl tracing::Subscriber + Send + Sync + 'static {
        use tracing_subscriber::layer::SubscriberExt;
        self.subscriber().with(filter)
    }

    /// Captures this thread's logs until the guard is dropped.
    pub fn capture(&self) -> tracing::subscriber::DefaultGuard {
        tracing::subscriber::set_default(self.subscriber())
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
