//! Counters published as CloudWatch Embedded Metric Format lines on stdout (Lambda turns
//! them into metrics without an API call; printed only in Lambda), and kept in memory so
//! tests can read them.

use std::sync::atomic::{AtomicU64, Ordering};

pub const NAMESPACE: &str = "TelePay";

/// Writes one EMF line counting `metric` once.
pub fn emit_count(metric: &str) {
    emit_value(metric, 1.0, "Count");
}

/// EMF lines mean something only to CloudWatch: elsewhere (tests, the local run) they
/// would be noise on stdout.
fn in_lambda() -> bool {
    static IN_LAMBDA: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IN_LAMBDA.get_or_init(|| std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some())
}

/// Writes one EMF line with `metric` = `value` in `unit` (a CloudWatch unit name).
pub fn emit_value(metric: &str, value: f64, unit: &str) {
    if !in_lambda() {
        return;
    }
    let line = serde_json::json!({
        "_aws": {
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{ "Name": metric, "Unit": unit }]
            }]
        },
        metric: value
    });
    println!("{line}");
}

/// The webhook's counters that alarms are built on.
#[derive(Debug, Default)]
pub struct WebhookMetrics {
    payload_mismatches: AtomicU64,
    rejected_signed_like_ipn: AtomicU64,
    signed_ipns_refused: AtomicU64,
    payments_held: AtomicU64,
}

impl WebhookMetrics {
    /// A finished IPN arrived again with different payload fields.
    pub fn payload_mismatch(&self) {
        self.payload_mismatches.fetch_add(1, Ordering::Relaxed);
        emit_count("PayloadHashMismatch");
    }

    /// A body that parses as an IPN failed the signature: likely a wrong IPN secret, and
    /// every payment is being refused.
    pub fn ipn_signature_rejected(&self) {
        self.rejected_signed_like_ipn
            .fetch_add(1, Ordering::Relaxed);
        emit_count("IpnSignatureRejected");
    }

    /// A correctly signed body we cannot act on (unknown status, bad payment_id, not an
    /// IPN): answered 400, and possibly a real payment, so a human must look.
    pub fn signed_ipn_refused(&self) {
        self.signed_ipns_refused.fetch_add(1, Ordering::Relaxed);
        emit_count("SignedIpnRefused");
    }

    /// A finished payment held for review instead of granted.
    pub fn payment_held(&self) {
        self.payments_held.fetch_add(1, Ordering::Relaxed);
        emit_count("PaymentHeld");
    }

    pub fn signed_ipns_refused(&self) -> u64 {
        self.signed_ipns_refused.load(Ordering::Relaxed)
    }

    pub fn payments_held(&self) -> u64 {
        self.payments_held.load(Ordering::Relaxed)
    }

    pub fn payload_mismatches(&self) -> u64 {
        self.payload_mismatches.load(Ordering::Relaxed)
    }

    pub fn ipn_signatures_rejected(&self) -> u64 {
        self.rejected_signed_like_ipn.load(Ordering::Relaxed)
    }
}
