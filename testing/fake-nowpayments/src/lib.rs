//! A fake NOWPayments API for tests, the local run and `make demo-buy`.
//!
//! - `POST /v1/invoice` creates an invoice, as NOWPayments does, if `x-api-key` is the
//!   key the fake was started with (else 403 with NOWPayments' JSON error); a body
//!   without a positive `price_amount`, a `price_currency` or an `order_id` is a 400.
//! - Paying ([`FakeNowPayments::pay`], or `POST /fake/pay/<invoice id>`) sends the IPN
//!   sequence `waiting` → `confirming` → `finished` for one new payment to the
//!   invoice's `ipn_callback_url`, each signed with the IPN secret in
//!   `x-nowpayments-sig` (HMAC-SHA512 of the key-sorted JSON), each retried a few times
//!   while the webhook answers non-2xx, as NOWPayments retries.
//! - A short payment ([`FakeNowPayments::pay_short`], or `POST /fake/pay/<invoice
//!   id>?share=0.6`) sends `waiting` → `partially_paid`, `actually_paid` being that share
//!   of `pay_amount` (as NOWPayments reports a payment that brought less than asked).
//! - A repeat deposit ([`FakeNowPayments::repeat_deposit`]): the same amount sent again
//!   to a paid payment's address is a new finished payment whose `parent_payment_id`
//!   names the first, as NOWPayments reports one.
//! - `GET /payment/?iid=<id>` is the invoice page a buyer's Pay button opens.
//! - `GET /v1/payment/<payment id>` with the same `x-api-key` answers the payment's
//!   current state (the fields of its last IPN), as NOWPayments' "Get payment status"
//!   does; 403 without the key, 404 for a payment it does not know; a payment paid with
//!   [`Delivery::Dropped`] is known here though none of its IPNs reached the webhook.
//!   [`FakeNowPayments::fail_next_status`] answers 500s, [`FakeNowPayments::slow_status`]
//!   delays each answer.
//! - `GET /v1/merchant/coins` with the same `x-api-key`: the account's accepted coins
//!   (`{"selectedCurrencies": [...]}`), 403 without the key, as NOWPayments' "Get
//!   available checked currencies" does (`telepay doctor` checks the key with it).
//! - `POST /v1/auth` with the account's email and password (set by
//!   [`FakeNowPayments::set_account`]) answers a JWT (401 otherwise); `GET /v1/payment/`
//!   with `x-api-key` and `Authorization: Bearer <that token>` lists the payments
//!   (`limit`, `page`; `{"data", "limit", "page", "pagesCount", "total"}`), as NOWPayments'
//!   "Get list of payments" does; 401 without a valid token.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};
use telepay_core::signature::IpnSecret;

/// The statuses one payment goes through, in order.
pub const PAYMENT_SEQUENCE: [&str; 3] = ["waiting", "confirming", "finished"];

/// An invoice as the fake created it.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedInvoice {
    pub id: String,
    pub invoice_url: String,
    /// The request body as received.
    pub request: Value,
}

/// One IPN the fake sent: its status, payment and the webhook's HTTP answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentIpn {
    pub payment_id: i64,
    pub status: String,
    /// Each attempt's HTTP status (0: no answer).
    pub answers: Vec<u16>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayError {
    #[error("no invoice {0}")]
    UnknownInvoice(String),
    #[error("the webhook never took the {status} IPN of payment {payment_id}: {answers:?}")]
    NotTaken {
        payment_id: i64,
        status: String,
        answers: Vec<u16>,
    },
}

/// Which of a payment's IPNs reach the webhook: the ways a callback breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Every IPN, retried while the webhook fails.
    All,
    /// The first (`waiting`) only: the callback broke afterwards (an outage longer than
    /// NOWPayments' retries, a firewall change). The payment still finishes.
    FirstOnly,
    /// None: a wrong callback URL, a firewall. The payment still finishes at NOWPayments.
    Dropped,
}

/// A payment as the fake holds it: its invoice and last status.
#[derive(Debug, Clone)]
struct FakePayment {
    invoice: CreatedInvoice,
    status: String,
    /// The share of `pay_amount` that arrived (1 for a full payment).
    share: f64,
    /// A repeat deposit's first payment (`parent_payment_id`).
    parent: Option<i64>,
}

#[derive(Default)]
struct Books {
    payments: std::collections::HashMap<i64, FakePayment>,
    /// Every `GET /v1/payment/<id>`: the id and the status answered.
    status_requests: Vec<(i64, u16)>,
    /// Answer the next N status requests with 500.
    failing_status: u32,
    /// Delay every status answer by this much.
    status_delay: Duration,
    /// The account's login, and the tokens `POST /v1/auth` gave.
    account: Option<(String, String)>,
    tokens: Vec<String>,
    /// Every list request: the bearer token it carried and the status answered.
    list_requests: Vec<u16>,
    invoices: Vec<CreatedInvoice>,
    /// Every `POST /v1/invoice`, with the key it carried and the status answered.
    requests: Vec<(Option<String>, u16)>,
    ipns: Vec<SentIpn>,
    next_payment_id: i64,
    /// Answer the next N invoice requests with 500.
    failing: u32,
}

struct AppState {
    /// The key the account accepts now (`rotate_key` replaces it).
    api_key: Mutex<String>,
    secret: IpnSecret,
    base_url: String,
    books: Mutex<Books>,
    client: reqwest::Client,
}

/// A running fake. Dropping it stops the server.
pub struct FakeNowPayments {
    addr: SocketAddr,
    state: Arc<AppState>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeNowPayments {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeNowPayments {
    /// Starts on a free loopback port.
    pub async fn start(api_key: &str, ipn_secret: &str) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), api_key, ipn_secret)
            .await
            .expect("bind a loopback port")
    }

    pub async fn start_on(
        addr: SocketAddr,
        api_key: &str,
        ipn_secret: &str,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState {
            api_key: Mutex::new(api_key.to_owned()),
            secret: IpnSecret::new(ipn_secret).expect("a non-empty IPN secret"),
            base_url: format!("http://{addr}"),
            books: Mutex::new(Books {
                next_payment_id: 5_100_000_000,
                ..Books::default()
            }),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
        });
        let app = Router::new()
            .route("/v1/invoice", post(create_invoice))
            .route("/fake/pay/{invoice_id}", post(pay_route))
            .route("/payment/", get(invoice_page))
            .route("/v1/payment/{payment_id}", get(payment_status))
            .route("/v1/payment/", get(list_payments))
            .route("/v1/auth", post(auth))
            .route("/v1/merchant/coins", get(merchant_coins))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Ok(Self {
            addr,
            state,
            server,
        })
    }

    /// The API base URL (`TELEPAY_NOWPAYMENTS_API_URL`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn invoices(&self) -> Vec<CreatedInvoice> {
        self.state.books.lock().unwrap().invoices.clone()
    }

    /// Every invoice request: the `x-api-key` it carried and the status answered.
    pub fn invoice_requests(&self) -> Vec<(Option<String>, u16)> {
        self.state.books.lock().unwrap().requests.clone()
    }

    /// Every IPN sent so far.
    pub fn ipns(&self) -> Vec<SentIpn> {
        self.state.books.lock().unwrap().ipns.clone()
    }

    /// Answers the next `times` invoice requests with HTTP 500.
    pub fn fail_next_invoices(&self, times: u32) {
        self.state.books.lock().unwrap().failing = times;
    }

    /// The buyer pays invoice `invoice_id`: the signed IPN sequence for a new payment
    /// goes to its `ipn_callback_url`. Answers the payment id.
    pub async fn pay(&self, invoice_id: &str) -> Result<i64, PayError> {
        pay(&self.state, invoice_id, Delivery::All).await
    }

    /// The buyer pays, and `delivery` says which IPNs reach the webhook. The payment
    /// finishes at NOWPayments either way (its status endpoint says so).
    pub async fn pay_with(&self, invoice_id: &str, delivery: Delivery) -> Result<i64, PayError> {
        pay(&self.state, invoice_id, delivery).await
    }

    /// The buyer sends `share` (below 1) of what invoice `invoice_id` asks: `waiting`
    /// then `partially_paid`, each retried while the webhook fails. Answers the payment id.
    pub async fn pay_short(&self, invoice_id: &str, share: f64) -> Result<i64, PayError> {
        pay_share(&self.state, invoice_id, Delivery::All, share).await
    }

    /// The buyer sends the same amount again to the address of paid payment `payment_id`:
    /// NOWPayments records a new, finished payment whose `parent_payment_id` names the
    /// first (a repeat deposit). No IPN is sent; deliver it with [`Self::signed_ipn`].
    /// Answers the new payment's id.
    pub fn repeat_deposit(&self, payment_id: i64) -> Option<i64> {
        let mut books = self.state.books.lock().unwrap();
        let invoice = books.payments.get(&payment_id)?.invoice.clone();
        books.next_payment_id += 1;
        let repeat = books.next_payment_id;
        books.payments.insert(
            repeat,
            FakePayment {
                invoice,
                status: "finished".into(),
                share: 1.0,
                parent: Some(payment_id),
            },
        );
        Some(repeat)
    }

    /// The signed IPN NOWPayments sends for `payment_id` with `status`: a body and its
    /// `x-nowpayments-sig`, to deliver by hand (an IPN that got through late, or alone).
    pub fn signed_ipn(&self, payment_id: i64, status: &str) -> Option<(String, String)> {
        let books = self.state.books.lock().unwrap();
        let payment = books.payments.get(&payment_id)?;
        let body = ipn_body_of(
            &payment.invoice,
            payment_id,
            status,
            payment.share,
            payment.parent,
        );
        let signature = self.state.secret.sign(body.as_bytes());
        Some((body, signature))
    }

    /// Every status request: the payment id asked about and the HTTP status answered.
    pub fn status_requests(&self) -> Vec<(i64, u16)> {
        self.state.books.lock().unwrap().status_requests.clone()
    }

    /// Answers the next `times` status requests with HTTP 500.
    pub fn fail_next_status(&self, times: u32) {
        self.state.books.lock().unwrap().failing_status = times;
    }

    /// The owner made a new API key in the dashboard and deleted the old one: from now on
    /// only `key` is accepted (the old one is answered 403, as any unknown key).
    pub fn rotate_key(&self, key: &str) {
        *self.state.api_key.lock().unwrap() = key.to_owned();
    }

    /// The account's login `POST /v1/auth` accepts.
    pub fn set_account(&self, email: &str, password: &str) {
        self.state.books.lock().unwrap().account = Some((email.to_owned(), password.to_owned()));
    }

    /// The HTTP status of every list request.
    pub fn list_requests(&self) -> Vec<u16> {
        self.state.books.lock().unwrap().list_requests.clone()
    }

    /// Delays every status answer by `delay` (a slow NOWPayments).
    pub fn slow_status(&self, delay: Duration) {
        self.state.books.lock().unwrap().status_delay = delay;
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({"status": false, "statusCode": status.as_u16(), "code": "ERROR", "message": message});
    (status, axum::Json(body)).into_response()
}

async fn create_invoice(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let answer = invoice_answer(&state, key.as_deref(), &body);
    let status = answer.status().as_u16();
    state.books.lock().unwrap().requests.push((key, status));
    answer
}

fn invoice_answer(state: &AppState, key: Option<&str>, body: &[u8]) -> Response {
    if key != Some(state.api_key.lock().unwrap().as_str()) {
        return error(StatusCode::FORBIDDEN, "Invalid api key");
    }
    {
        let mut books = state.books.lock().unwrap();
        if books.failing > 0 {
            books.failing -= 1;
            return error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error");
        }
    }
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return error(StatusCode::BAD_REQUEST, "body is not JSON");
    };
    let positive = request["price_amount"].as_f64().is_some_and(|p| p > 0.0);
    let currency = request["price_currency"]
        .as_str()
        .is_some_and(|c| !c.is_empty());
    let order = request["order_id"].as_str().is_some_and(|o| !o.is_empty());
    if !(positive && currency && order) {
        return error(
            StatusCode::BAD_REQUEST,
            "price_amount, price_currency and order_id are required",
        );
    }
    let mut books = state.books.lock().unwrap();
    let id = (4_500_000_000u64 + books.invoices.len() as u64 + 1).to_string();
    let invoice_url = format!("{}/payment/?iid={id}", state.base_url);
    books.invoices.push(CreatedInvoice {
        id: id.clone(),
        invoice_url: invoice_url.clone(),
        request: request.clone(),
    });
    let now = chrono_like_now();
    axum::Json(json!({
        "id": id,
        "token_id": "fake",
        "order_id": request["order_id"],
        "order_description": request["order_description"],
        "price_amount": request["price_amount"].to_string(),
        "price_currency": request["price_currency"],
        "pay_currency": null,
        "ipn_callback_url": request["ipn_callback_url"],
        "invoice_url": invoice_url,
        "success_url": request["success_url"],
        "cancel_url": null,
        "created_at": now,
        "updated_at": now,
        "is_fixed_rate": false,
        "is_fee_paid_by_user": false
    }))
    .into_response()
}

fn chrono_like_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{secs}")
}

async fn pay_route(
    State(state): State<Arc<AppState>>,
    Path(invoice_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let share = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("share=")?.parse::<f64>().ok())
        .filter(|share| *share > 0.0 && *share < 1.0)
        .unwrap_or(1.0);
    match pay_share(&state, &invoice_id, Delivery::All, share).await {
        Ok(payment_id) => {
            let statuses = sequence(share);
            axum::Json(json!({"payment_id": payment_id, "statuses": statuses})).into_response()
        }
        Err(e @ PayError::UnknownInvoice(_)) => error(StatusCode::NOT_FOUND, &e.to_string()),
        Err(e) => error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

async fn invoice_page(RawQuery(query): RawQuery) -> Response {
    let id = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("iid=").map(str::to_owned))
        .unwrap_or_default();
    format!("Fake NOWPayments invoice {id}: POST /fake/pay/{id} to pay it.\n").into_response()
}

/// The IPN body for `status`, keys sorted (NOWPayments signs the sorted form).
fn ipn_body(invoice: &CreatedInvoice, payment_id: i64, status: &str, share: f64) -> String {
    ipn_body_of(invoice, payment_id, status, share, None)
}

/// The IPN body of a payment, a repeat deposit's naming its first payment.
fn ipn_body_of(
    invoice: &CreatedInvoice,
    payment_id: i64,
    status: &str,
    share: f64,
    parent: Option<i64>,
) -> String {
    let request = &invoice.request;
    let price = request["price_amount"].as_f64().unwrap_or_default();
    let paid = if status == "waiting" {
        0.0
    } else {
        price / 60_000.0 * share
    };
    let mut ipn = Map::new();
    for (key, value) in [
        ("actually_paid", json!(paid)),
        (
            "actually_paid_at_fiat",
            json!(if status == "waiting" {
                0.0
            } else {
                price * share
            }),
        ),
        (
            "fee",
            json!({"currency": "btc", "depositFee": 0, "serviceFee": 0, "withdrawalFee": 0}),
        ),
        (
            "invoice_id",
            json!(invoice.id.parse::<i64>().unwrap_or_default()),
        ),
        ("order_description", request["order_description"].clone()),
        ("order_id", request["order_id"].clone()),
        ("outcome_amount", json!(price / 60_000.0 * share)),
        ("outcome_currency", json!("btc")),
        (
            "parent_payment_id",
            parent.map_or(Value::Null, |id| json!(id)),
        ),
        (
            "pay_address",
            json!("bc1qfakefakefakefakefakefakefakefakefake"),
        ),
        ("pay_amount", json!(price / 60_000.0)),
        ("pay_currency", json!("btc")),
        ("payin_extra_id", Value::Null),
        ("payment_extra_ids", Value::Null),
        ("payment_id", json!(payment_id)),
        ("payment_status", json!(status)),
        ("price_amount", json!(price)),
        ("price_currency", request["price_currency"].clone()),
        ("purchase_id", json!(format!("{}", payment_id + 1))),
        (
            "updated_at",
            json!(1_774_390_831_880i64 + payment_id % 1000),
        ),
    ] {
        ipn.insert(key.into(), value);
    }
    serde_json::to_string(&ipn).expect("a JSON map serializes")
}

async fn payment_status(
    State(state): State<Arc<AppState>>,
    Path(payment_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    let id = payment_id.parse::<i64>().unwrap_or_default();
    let delay = state.books.lock().unwrap().status_delay;
    tokio::time::sleep(delay).await;
    let answer = {
        let mut books = state.books.lock().unwrap();
        if key != Some(state.api_key.lock().unwrap().as_str()) {
            error(StatusCode::FORBIDDEN, "Invalid api key")
        } else if books.failing_status > 0 {
            books.failing_status -= 1;
            error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
        } else {
            match books.payments.get(&id) {
                Some(payment) => {
                    let body = ipn_body_of(
                        &payment.invoice,
                        id,
                        &payment.status,
                        payment.share,
                        payment.parent,
                    );
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                        .into_response()
                }
                None => error(StatusCode::NOT_FOUND, "Payment not found"),
            }
        }
    };
    let status = answer.status().as_u16();
    state
        .books
        .lock()
        .unwrap()
        .status_requests
        .push((id, status));
    answer
}

/// "Get available checked currencies": the coins the account accepts, with the API key
/// (403 without it), as NOWPayments answers `GET /v1/merchant/coins`.
async fn merchant_coins(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if key != Some(state.api_key.lock().unwrap().as_str()) {
        return error(StatusCode::FORBIDDEN, "Invalid api key");
    }
    axum::Json(json!({"selectedCurrencies": ["btc", "ltc", "usdttrc20"]})).into_response()
}

async fn auth(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let login: Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut books = state.books.lock().unwrap();
    let matches = books.account.as_ref().is_some_and(|(email, password)| {
        login["email"].as_str() == Some(email.as_str())
            && login["password"].as_str() == Some(password.as_str())
    });
    if !matches {
        return error(StatusCode::UNAUTHORIZED, "Invalid credentials");
    }
    let token = format!("fake-jwt-{}", books.tokens.len() + 1);
    books.tokens.push(token.clone());
    axum::Json(json!({"token": token})).into_response()
}

async fn list_payments(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let mut books = state.books.lock().unwrap();
    let bearer = header("authorization").and_then(|v| v.strip_prefix("Bearer "));
    let answer = if header("x-api-key") != Some(state.api_key.lock().unwrap().as_str()) {
        error(StatusCode::FORBIDDEN, "Invalid api key")
    } else if !bearer.is_some_and(|t| books.tokens.iter().any(|issued| issued == t)) {
        error(
            StatusCode::UNAUTHORIZED,
            "Authorization header is empty or invalid",
        )
    } else {
        let param = |name: &str| {
            query
                .as_deref()
                .unwrap_or_default()
                .split('&')
                .find_map(|pair| {
                    pair.strip_prefix(name)
                        .and_then(|rest| rest.strip_prefix('='))
                        .and_then(|v| v.parse::<usize>().ok())
                })
        };
        let limit = param("limit").unwrap_or(10).clamp(1, 500);
        let page = param("page").unwrap_or(0);
        let mut ids: Vec<i64> = books.payments.keys().copied().collect();
        ids.sort_unstable();
        let data: Vec<Value> = ids
            .iter()
            .skip(page * limit)
            .take(limit)
            .map(|id| {
                let payment = &books.payments[id];
                serde_json::from_str(&ipn_body_of(
                    &payment.invoice,
                    *id,
                    &payment.status,
                    payment.share,
                    payment.parent,
                ))
                .expect("an IPN body is JSON")
            })
            .collect();
        axum::Json(json!({
            "data": data,
            "limit": limit,
            "page": page,
            "pagesCount": ids.len().div_ceil(limit),
            "total": ids.len(),
        }))
        .into_response()
    };
    books.list_requests.push(answer.status().as_u16());
    answer
}

async fn pay(state: &AppState, invoice_id: &str, delivery: Delivery) -> Result<i64, PayError> {
    pay_share(state, invoice_id, delivery, 1.0).await
}

/// The statuses a payment bringing `share` of its amount goes through.
fn sequence(share: f64) -> [&'static str; 3] {
    if share < 1.0 {
        ["waiting", "confirming", "partially_paid"]
    } else {
        PAYMENT_SEQUENCE
    }
}

async fn pay_share(
    state: &AppState,
    invoice_id: &str,
    delivery: Delivery,
    share: f64,
) -> Result<i64, PayError> {
    let (invoice, payment_id) = {
        let mut books = state.books.lock().unwrap();
        let invoice = books
            .invoices
            .iter()
            .find(|i| i.id == invoice_id)
            .cloned()
            .ok_or_else(|| PayError::UnknownInvoice(invoice_id.to_owned()))?;
        books.next_payment_id += 1;
        (invoice, books.next_payment_id)
    };
    let url = invoice.request["ipn_callback_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for status in sequence(share) {
        state.books.lock().unwrap().payments.insert(
            payment_id,
            FakePayment {
                invoice: invoice.clone(),
                status: status.to_owned(),
                share,
                parent: None,
            },
        );
        let dropped = match delivery {
            Delivery::All => false,
            Delivery::FirstOnly => status != PAYMENT_SEQUENCE[0],
            Delivery::Dropped => true,
        };
        if dropped {
            continue;
        }
        let body = ipn_body(&invoice, payment_id, status, share);
        let signature = state.secret.sign(body.as_bytes());
        let mut answers = Vec::new();
        let mut taken = false;
        for attempt in 0..5u32 {
            let answer = state
                .client
                .post(&url)
                .header("content-type", "application/json")
                .header("x-nowpayments-sig", &signature)
                .body(body.clone())
                .send()
                .await
                .map_or(0, |response| response.status().as_u16());
            answers.push(answer);
            if (200..300).contains(&answer) {
                taken = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
        state.books.lock().unwrap().ipns.push(SentIpn {
            payment_id,
            status: status.to_owned(),
            answers: answers.clone(),
        });
        if !taken {
            return Err(PayError::NotTaken {
                payment_id,
                status: status.to_owned(),
                answers,
            });
        }
    }
    Ok(payment_id)
}
