//! The NOWPayments API with `x-api-key`: invoices (`POST /v1/invoice`) for the bot's Pay
//! button, and a payment's status (`GET /v1/payment/{id}`) for the recovery pass.
//! Failures are classified by what the caller must do: network, timeouts, 429 and 5xx are
//! worth a retry; any other refusal needs an operator (key, currency, amount).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use telepay_core::bot::{Invoice, InvoiceApi, InvoiceError, InvoiceRequest};
use telepay_core::ipn::PaymentId;
use telepay_core::recovery::{ListedPayment, PaymentStatusApi, StatusError};
use telepay_core::rotation::{Rotating, SecretSource};

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

/// Read again from its store when NOWPayments refuses it (`telepay_core::rotation`).
impl telepay_core::rotation::Renewable for NowPaymentsApiKey {
    const WHAT: &'static str = "the NOWPayments API key";
    const RENEWED: &'static str = telepay_core::metrics::signal::NOWPAYMENTS_KEY_RENEWED;
    fn from_text(text: String) -> Option<Self> {
        Self::new(text)
    }
    fn same_as(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl fmt::Debug for NowPaymentsApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NowPaymentsApiKey(<redacted>)")
    }
}

/// Network trouble on NOWPayments' side (5xx) or its rate limit (429): ask again later.
fn worth_a_retry(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status.as_u16() == 429
}

/// NOWPayments says why it refused in `message`: keep only that, with each secret we sent
/// replaced by its name, so no answer echoes one into a log.
fn why_refused(text: &str, secrets: &[(&str, &str)]) -> String {
    let message = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|body| body["message"].as_str().map(str::to_owned))
        .unwrap_or_default();
    secrets
        .iter()
        .fold(message, |why, (secret, name)| why.replace(secret, name))
}

#[derive(Clone)]
pub struct NowPaymentsInvoices {
    client: reqwest::Client,
    invoice_url: reqwest::Url,
    /// Read again from its secret when NOWPayments refuses it (401/403), and once held
    /// its maximum age: a key rotated in the dashboard and its secret reaches a warm bot.
    key: Arc<Rotating<NowPaymentsApiKey>>,
}

/// One invoice call's failure: the key refused (worth reading it again), or anything else.
enum Attempt {
    KeyRefused(String),
    Failed(InvoiceError),
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
            key: Arc::new(Rotating::fixed(key)),
        })
    }

    /// The key is read again from `source` when NOWPayments refuses it (at most once per
    /// `pause`), and at its next use once held `max_age`.
    pub fn with_key_source(
        mut self,
        source: Arc<dyn SecretSource>,
        pause: std::time::Duration,
        max_age: std::time::Duration,
    ) -> Self {
        self.key = Arc::new(Rotating::fixed(self.key.current()).renewing(source, pause, max_age));
        self
    }
}

impl InvoiceApi for NowPaymentsInvoices {
    async fn create_invoice(&self, request: &InvoiceRequest) -> Result<Invoice, InvoiceError> {
        self.key.refresh_if_due().await;
        match self.attempt(&self.key.current(), request).await {
            Ok(invoice) => Ok(invoice),
            Err(Attempt::Failed(err)) => Err(err),
            // The owner may have rotated the key: read it again (once a pause) and retry.
            Err(Attempt::KeyRefused(why)) => match self.key.renewed_after_refusal().await {
                Some(renewed) => match self.attempt(&renewed, request).await {
                    Ok(invoice) => Ok(invoice),
                    Err(Attempt::Failed(err)) => Err(err),
                    Err(Attempt::KeyRefused(why)) => Err(InvoiceError::Refused(why)),
                },
                None => Err(InvoiceError::Refused(why)),
            },
        }
    }
}

impl NowPaymentsInvoices {
    async fn attempt(
        &self,
        key: &NowPaymentsApiKey,
        request: &InvoiceRequest,
    ) -> Result<Invoice, Attempt> {
        let failed = Attempt::Failed;
        let body = serde_json::to_vec(request).expect("an invoice request serializes");
        let response = self
            .client
            .post(self.invoice_url.clone())
            .header("x-api-key", &key.0)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            // reqwest's error names the URL, never the headers.
            .map_err(|e| failed(InvoiceError::Unavailable(e.without_url().to_string())))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| failed(InvoiceError::Unavailable(e.without_url().to_string())))?;
        if worth_a_retry(status) {
            return Err(failed(InvoiceError::Unavailable(format!("HTTP {status}"))));
        }
        if !status.is_success() {
            let why = format!(
                "HTTP {status}: {}",
                why_refused(&text, &[(&key.0, "<api key>")])
            );
            return Err(match status.as_u16() {
                401 | 403 => Attempt::KeyRefused(why),
                _ => failed(InvoiceError::Refused(why)),
            });
        }
        let created: Created = serde_json::from_str(&text).map_err(|_| {
            failed(InvoiceError::Unavailable(
                "NOWPayments answered something that is not an invoice".into(),
            ))
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

/// The NOWPayments account's login (its dashboard email and password): `POST /v1/auth`
/// gives the JWT the payment list needs. Never printed.
#[derive(Clone)]
pub struct NowPaymentsAccount {
    email: String,
    password: String,
}

impl NowPaymentsAccount {
    pub fn new(email: impl Into<String>, password: impl Into<String>) -> Option<Self> {
        let (email, password) = (email.into(), password.into());
        (!email.trim().is_empty() && !password.is_empty()).then_some(Self { email, password })
    }
}

impl fmt::Debug for NowPaymentsAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NowPaymentsAccount(<redacted>)")
    }
}

/// How many pages of 500 one listing reads at most (a day of a busy shop is far less).
const LIST_PAGES: u32 = 20;

/// NOWPayments' "Get payment status" (`GET /v1/payment/{payment_id}`, `x-api-key`): the
/// recovery pass's question about a payment whose finish is overdue; with the account's
/// login, "Get list of payments" (`GET /v1/payment/` with `Authorization: Bearer`).
#[derive(Clone)]
pub struct NowPaymentsPayments {
    client: reqwest::Client,
    base: reqwest::Url,
    /// Read again once held its maximum age, and after NOWPayments refuses it (the next
    /// question then carries the new one): a rotated key reaches the recovery pass.
    key: Arc<Rotating<NowPaymentsApiKey>>,
    account: Option<NowPaymentsAccount>,
}

#[derive(Deserialize)]
struct Token {
    token: String,
}

#[derive(Deserialize)]
struct PaymentPage {
    #[serde(default)]
    data: Vec<serde_json::Value>,
    #[serde(default, rename = "pagesCount")]
    pages_count: u32,
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
        Ok(Self {
            client,
            base,
            key: Arc::new(Rotating::fixed(key)),
            account: None,
        })
    }

    /// The key is read again from `source` once held `max_age`, and after NOWPayments
    /// refuses it (at most once per `pause`).
    pub fn with_key_source(
        mut self,
        source: Arc<dyn SecretSource>,
        pause: std::time::Duration,
        max_age: std::time::Duration,
    ) -> Self {
        self.key = Arc::new(Rotating::fixed(self.key.current()).renewing(source, pause, max_age));
        self
    }

    /// The key for the next question (read again first if held past its age).
    async fn key(&self) -> NowPaymentsApiKey {
        self.key.refresh_if_due().await;
        self.key.current()
    }

    /// Lists the account's recent payments too (the recovery pass finds those whose every
    /// IPN was lost).
    pub fn with_account(mut self, account: NowPaymentsAccount) -> Self {
        self.account = Some(account);
        self
    }

    /// Classifies a non-2xx answer, keeping NOWPayments' `message` and never a secret.
    fn refusal(&self, status: reqwest::StatusCode, text: &str) -> StatusError {
        if worth_a_retry(status) {
            return StatusError::Unavailable(format!("HTTP {status}"));
        }
        let key = self.key.current();
        let mut secrets = vec![(key.0.as_str(), "<api key>")];
        if let Some(account) = &self.account {
            secrets.push((account.password.as_str(), "<password>"));
        }
        StatusError::Refused(format!("HTTP {status}: {}", why_refused(text, &secrets)))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<String, StatusError> {
        let response = request
            .send()
            .await
            .map_err(|e| StatusError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| StatusError::Unavailable(e.without_url().to_string()))?;
        if !status.is_success() {
            let refused = self.refusal(status, &text);
            if matches!(status.as_u16(), 401 | 403) {
                // The owner may have rotated the key: the next question carries the new one.
                let _ = self.key.renewed_after_refusal().await;
            }
            return Err(refused);
        }
        Ok(text)
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, StatusError> {
        self.base
            .join(path)
            .map_err(|_| StatusError::Refused("the NOWPayments API URL is not a valid URL".into()))
    }

    /// The account's JWT (`POST /v1/auth`): valid for minutes, so asked once per listing.
    async fn token(&self, account: &NowPaymentsAccount) -> Result<String, StatusError> {
        let body = serde_json::json!({"email": account.email, "password": account.password});
        let request = self
            .client
            .post(self.url("/v1/auth")?)
            .header("content-type", "application/json")
            .body(body.to_string());
        let text = self.send(request).await?;
        serde_json::from_str::<Token>(&text)
            .map(|t| t.token)
            .map_err(|_| StatusError::Refused("NOWPayments' login answer has no token".into()))
    }
}

/// What `telepay doctor` asks NOWPayments: "Get available checked currencies" (`GET
/// /v1/merchant/coins` with the API key), the key's check.
impl telepay_core::doctor::AccountCheck for NowPaymentsPayments {
    async fn accepted_coins(&self) -> Result<Vec<String>, StatusError> {
        let request = self
            .client
            .get(self.url("/v1/merchant/coins")?)
            .header("x-api-key", &self.key().await.0);
        let text = self.send(request).await?;
        let answer: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
            StatusError::Unavailable("NOWPayments answered something that is not JSON".into())
        })?;
        Ok(answer["selectedCurrencies"]
            .as_array()
            .map(|coins| {
                coins
                    .iter()
                    .filter_map(|coin| coin.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }
}

impl PaymentStatusApi for NowPaymentsPayments {
    async fn payment_status(&self, payment_id: PaymentId) -> Result<String, StatusError> {
        let request = self
            .client
            .get(self.url(&format!("/v1/payment/{payment_id}"))?)
            .header("x-api-key", &self.key().await.0);
        self.send(request).await
    }

    async fn recent_payments(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Option<Vec<ListedPayment>>, StatusError> {
        let Some(account) = &self.account else {
            return Ok(None);
        };
        let token = self.token(account).await?;
        let date_from = since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut listed = Vec::new();
        for page in 0..LIST_PAGES {
            let mut url = self.url("/v1/payment/")?;
            url.query_pairs_mut()
                .append_pair("limit", "500")
                .append_pair("page", &page.to_string())
                .append_pair("sortBy", "created_at")
                .append_pair("orderBy", "asc")
                .append_pair("dateFrom", &date_from);
            let request = self
                .client
                .get(url)
                .header("x-api-key", &self.key().await.0)
                .header("authorization", format!("Bearer {token}"));
            let text = self.send(request).await?;
            let answer: PaymentPage = serde_json::from_str(&text).map_err(|_| {
                StatusError::Unavailable("NOWPayments answered something that is not a list".into())
            })?;
            for payment in &answer.data {
                let Some(payment_id) = payment["payment_id"]
                    .as_i64()
                    .or_else(|| payment["payment_id"].as_str()?.parse().ok())
                    .and_then(|id| PaymentId::new(id).ok())
                else {
                    continue;
                };
                listed.push(ListedPayment {
                    payment_id,
                    status: payment["payment_status"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    order_id: payment["order_id"].as_str().map(str::to_owned),
                });
            }
            if page + 1 >= answer.pages_count {
                break;
            }
        }
        Ok(Some(listed))
    }
}
