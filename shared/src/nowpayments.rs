//! The NOWPayments API with `x-api-key`: invoices (`POST /v1/invoice`) for the bot's Pay
//! button, and a payment's status (`GET /v1/payment/{id}`) for the recovery pass.
//! Failures are classified by what the caller must do: network, timeouts, 429 and 5xx are
//! worth a retry; any other refusal needs an operator (key, currency, amount).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use telepay_core::bot::{Invoice, InvoiceApi, InvoiceError, InvoiceRequest};
use telepay_core::ipn::PaymentId;
use telepay_core::recovery::{PaymentStatusApi, StatusError};

pub const DEFAULT_API_URL: &str = "https://api.nowpayments.io";
/// The bot answers Telegram within its own bound; an invoice call gets this much of it.
pub const INVOICE_CALL_TIMEOUT: Duration = Duration::from_secs(6);
/// The recovery pass runs on a schedule, not in front of a buyer: more patience.
pub const STATUS_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The NOWPayments API key. Never printed.
#[derive(Clone)]
pub struct NowPaymentsApiKey(String);

impl NowPaymentsApiKey {
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into();
        (!key.trim().is_empty()).then_some(Self(key))
    }
}

impl fmt::Debug for NowPaymentsApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NowPaymentsApiKey(<redacted>)")
    }
}

#[derive(Clone)]
pub struct NowPaymentsInvoices {
    client: reqwest::Client,
    invoice_url: reqwest::Url,
    key: NowPaymentsApiKey,
}

impl fmt::Debug for NowPaymentsInvoices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NowPaymentsInvoices({})", self.invoice_url)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the NOWPayments API URL is not a valid URL")]
pub struct BadNowPaymentsUrl;

#[derive(Deserialize)]
struct Created {
    id: IdText,
    invoice_url: String,
}

/// NOWPayments sends the invoice id as a string; accept a number too.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdText {
    Text(String),
    Number(i64),
}

impl NowPaymentsInvoices {
    /// On `api_url` (the real API when None, or a fake in tests).
    pub fn new(key: NowPaymentsApiKey, api_url: Option<&str>) -> Result<Self, BadNowPaymentsUrl> {
        let base = reqwest::Url::parse(api_url.unwrap_or(DEFAULT_API_URL))
            .map_err(|_| BadNowPaymentsUrl)?;
        let invoice_url = base.join("/v1/invoice").map_err(|_| BadNowPaymentsUrl)?;
        let client = reqwest::Client::builder()
            .timeout(INVOICE_CALL_TIMEOUT)
            .build()
            .map_err(|_| BadNowPaymentsUrl)?;
        Ok(Self {
            client,
            invoice_url,
            key,
        })
    }
}

impl InvoiceApi for NowPaymentsInvoices {
    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, InvoiceError> {
        let body = serde_json::to_vec(request).expect("an invoice request serializes");
        let response = self
            .client
            .post(self.invoice_url.clone())
            .header("x-api-key", &self.key.0)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            // reqwest's error names the URL, never the headers.
            .map_err(|e| InvoiceError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| InvoiceError::Unavailable(e.without_url().to_string()))?;
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(InvoiceError::Unavailable(format!("HTTP {status}")));
        }
        if !status.is_success() {
            // NOWPayments says why in `message`; keep only that, never echo the key.
            let why = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|body| body["message"].as_str().map(str::to_owned))
                .unwrap_or_default()
                .replace(&self.key.0, "<api key>");
            return Err(InvoiceError::Refused(format!("HTTP {status}: {why}")));
        }
        let created: Created = serde_json::from_str(&text).map_err(|_| {
            InvoiceError::Unavailable(
                "NOWPayments answered something that is not an invoice".into(),
            )
        })?;
        Ok(Invoice {
            id: match created.id {
                IdText::Text(id) => id,
                IdText::Number(id) => id.to_string(),
            },
            invoice_url: created.invoice_url,
            created_at: None,
        })
    }
}

/// NOWPayments' "Get payment status" (`GET /v1/payment/{payment_id}`, `x-api-key`): the
/// recovery pass's question about a payment whose finish is overdue.
#[derive(Clone)]
pub struct NowPaymentsPayments {
    client: reqwest::Client,
    base: reqwest::Url,
    key: NowPaymentsApiKey,
}

impl fmt::Debug for NowPaymentsPayments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NowPaymentsPayments({})", self.base)
    }
}

impl NowPaymentsPayments {
    /// On `api_url` (the real API when None, the sandbox's or a fake's otherwise).
    pub fn new(key: NowPaymentsApiKey, api_url: Option<&str>) -> Result<Self, BadNowPaymentsUrl> {
        let base = reqwest::Url::parse(api_url.unwrap_or(DEFAULT_API_URL))
            .map_err(|_| BadNowPaymentsUrl)?;
        let client = reqwest::Client::builder()
            .timeout(STATUS_CALL_TIMEOUT)
            .build()
            .map_err(|_| BadNowPaymentsUrl)?;
        Ok(Self { client, base, key })
    }
}

impl PaymentStatusApi for NowPaymentsPayments {
    async fn payment_status(&self, payment_id: PaymentId) -> Result<String, StatusError> {
        let url = self
            .base
            .join(&format!("/v1/payment/{payment_id}"))
            .map_err(|_| {
                StatusError::Refused("the NOWPayments API URL is not a valid URL".into())
            })?;
        let response = self
            .client
            .get(url)
            .header("x-api-key", &self.key.0)
            .send()
            .await
            .map_err(|e| StatusError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| StatusError::Unavailable(e.without_url().to_string()))?;
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(StatusError::Unavailable(format!("HTTP {status}")));
        }
        if !status.is_success() {
            let why = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|body| body["message"].as_str().map(str::to_owned))
                .unwrap_or_default()
                .replace(&self.key.0, "<api key>");
            return Err(StatusError::Refused(format!("HTTP {status}: {why}")));
        }
        Ok(text)
    }
}
