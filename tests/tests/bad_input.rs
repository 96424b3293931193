//! The bad-input corpus, table-driven, through np-webhook's handler as API Gateway calls
//! it, with a real SQLite store behind it. Two kinds, kept apart:
//! - forged or broken: each gets its documented status, a clear log line, and no write;
//! - signed with the real secret but unusual: accepted when unambiguous; otherwise held
//!   for review (an order we cannot map) or 400 with an error log naming the payment_id
//!   and the `SignedIpnRefused` metric. A real paid IPN is never lost to strictness.
//!
//! The SQS consumers' corpus (unknown schema versions, broken bodies) is at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use fake_bot_api::FakeBotApi;
use lambda_http::{Request, http};
use serde_json::{Value, json};
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::{SAMPLE_DIRECTORY, SAMPLE_IPN, SAMPLE_IPN_SECRET, sample_record};
use telepay_core::invite::{InviteSender, InviteSettings};
use telepay_core::metrics::{signal, stage};
use telepay_core::processor::PaymentProcessor;
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::signature::IpnSecret;
use telepay_core::store::ports::*;
use telepay_core::webhook::PaymentWebhook;
use telepay_integration_tests::metrics::capture;
use telepay_integration_tests::{
    LogBuffer, ipn_request, outcome, sample_with as with, sign, sqlite_store,
};
use telepay_shared::sql::SqliteStore;
use telepay_shared::sqs_event::{sqs_batch, sqs_message};
use telepay_shared::telegram::{BotToken, TelegramBotApi};

/// The sample IPN's payment id, as it must appear in error logs.
const PAYMENT_ID: &str = "4492847470";

/// What a case must leave behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// No record, no review, nothing queued.
    Nothing,
    /// Ignored (a status that grants nothing): no write.
    Ignored,
    /// A payment under way: nothing granted, held or queued; its watch written (the
    /// recovery pass asks about it if its finish never comes).
    Watched,
    /// Recorded as accepted and queued for processing.
    Granted,
    /// One review entry with this reason, nothing granted.
    Held(&'static str),
    /// 400: an error log naming this payment_id (when the body has a readable one) and
    /// the `SignedIpnRefused` metric.
    Refused(Option<&'static str>),
}

struct Case {
    name: &'static str,
    request: Request,
    status: u16,
    effect: Effect,
}

/// A body signed with the real IPN secret, as NOWPayments posts it.
fn signed(body: impl Into<Vec<u8>>) -> Request {
    let body = body.into();
    let signature = IpnSecret::new(SAMPLE_IPN_SECRET).unwrap().sign(&body);
    ipn_request(body, Some(&signature), Some("application/json"))
}

/// `body`, signed over `signed_over` (what NOWPayments' canonical form would be).
fn signed_over(body: &str, signed_over: &str) -> Request {
    ipn_request(body, Some(&sign(signed_over)), Some("application/json"))
}

/// The sample IPN with `field` removed.
fn without(field: &str) -> String {
    let mut ipn: serde_json::Map<String, Value> = serde_json::from_str(SAMPLE_IPN).unwrap();
    ipn.remove(field);
    serde_json::to_string(&ipn).unwrap()
}

/// An API Gateway HTTP API (v2) event with a base64-encoded body, as API Gateway sends
/// bodies it considers binary.
fn api_gateway_base64(body: &str, content_type: &str) -> Request {
    let event = json!({
        "version": "2.0",
        "routeKey": "POST /np-webhook",
        "rawPath": "/np-webhook",
        "rawQueryString": "",
        "headers": {"content-type": content_type, "x-nowpayments-sig": sign(body)},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "example.com",
            "domainPrefix": "api", "requestId": "req-b64", "routeKey": "POST /np-webhook",
            "stage": "$default", "time": "28/Nov/2026:00:00:00 +0000", "timeEpoch": 1795824000000_i64,
            "http": {"method": "POST", "path": "/np-webhook", "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.1", "userAgent": "NOWPayments"}
        },
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true
    });
    lambda_http::request::from_str(&event.to_string()).expect("an API Gateway v2 event")
}

fn forged_cases() -> Vec<Case> {
    let body = SAMPLE_IPN;
    let good = sign(body);
    let other_secret = IpnSecret::new("a-different-secret")
        .unwrap()
        .sign(body.as_bytes());
    let case = |name, request, status| Case {
        name,
        request,
        status,
        effect: Effect::Nothing,
    };
    let json = Some("application/json");
    let deep = format!("{}{}", "[".repeat(20_000), "]".repeat(20_000));
    let big = with("order_description", json!("x".repeat(70 * 1024)));
    let mut get = ipn_request(body, Some(&good), json);
    *get.method_mut() = http::Method::GET;
    vec![
        case("missing signature", ipn_request(body, None, json), 401),
        case("empty signature", ipn_request(body, Some(""), json), 401),
        case("blank signature", ipn_request(body, Some("   "), json), 401),
        case(
            "truncated signature (half)",
            ipn_request(body, Some(&good[..64]), json),
            401,
        ),
        case(
            "truncated signature (one digit)",
            ipn_request(body, Some(&good[..127]), json),
            401,
        ),
        case(
            "signature with an extra digit",
            ipn_request(body, Some(&format!("{good}0")), json),
            401,
        ),
        case(
            "uppercase-hex signature",
            ipn_request(body, Some(&good.to_uppercase()), json),
            401,
        ),
        case(
            "non-hex signature",
            ipn_request(body, Some(&"z".repeat(128)), json),
            401,
        ),
        case(
            "0x-prefixed signature",
            ipn_request(body, Some(&format!("0x{}", &good[2..])), json),
            401,
        ),
        case(
            "base64 signature",
            ipn_request(
                body,
                Some(
                    &base64::engine::general_purpose::STANDARD.encode(hex::decode(&good).unwrap()),
                ),
                json,
            ),
            401,
        ),
        case(
            "signature by another secret",
            ipn_request(body, Some(&other_secret), json),
            401,
        ),
        case(
            "valid signature of another body",
            ipn_request(body, Some(&sign(&with("payment_id", json!(1)))), json),
            401,
        ),
        case(
            "price changed after signing",
            ipn_request(with("price_amount", json!(0.01)), Some(&good), json),
            401,
        ),
        case(
            "buyer changed after signing",
            ipn_request(
                with("order_id", json!("PGP-666|-1003111266231")),
                Some(&good),
                json,
            ),
            401,
        ),
        case(
            "status changed after signing",
            {
                let waiting = with("payment_status", json!("waiting"));
                ipn_request(body, Some(&sign(&waiting)), json)
            },
            401,
        ),
        case(
            "field added after signing",
            ipn_request(with("note", json!("free")), Some(&good), json),
            401,
        ),
        case("empty body", ipn_request("", Some(&good), json), 401),
        case("empty body, no signature", ipn_request("", None, json), 401),
        case(
            "invalid UTF-8",
            ipn_request(b"\xff\xfe{\"payment_id\":1}".to_vec(), Some(&good), json),
            401,
        ),
        case("body over 64 KiB, validly signed", signed(big.clone()), 413),
        case(
            "body over 64 KiB, unsigned",
            ipn_request(big, None, json),
            413,
        ),
        case(
            "deep nesting, unsigned",
            ipn_request(deep.clone(), Some(&good), json),
            401,
        ),
        case(
            // The canonical form (last value wins, as in Node) still matches the genuine
            // signature; the parser refuses duplicates, so no reading of it is acted on.
            "duplicate key smuggled into a signed body",
            ipn_request(
                body.replacen(
                    "\"payment_status\":\"finished\"",
                    "\"payment_status\":\"waiting\",\"payment_status\":\"finished\"",
                    1,
                ),
                Some(&good),
                json,
            ),
            400,
        ),
        case(
            "duplicate key overriding the signed value",
            ipn_request(
                body.replacen(
                    "\"payment_status\":\"finished\"",
                    "\"payment_status\":\"finished\",\"payment_status\":\"waiting\"",
                    1,
                ),
                Some(&good),
                json,
            ),
            401,
        ),
        case("GET instead of POST", get, 405),
        case(
            "not JSON at all",
            ipn_request("payment_id=4492847470&status=finished", Some(&good), None),
            401,
        ),
    ]
}

fn unusual_cases() -> Vec<Case> {
    let case = |name, request, status, effect| Case {
        name,
        request,
        status,
        effect,
    };
    let refused = Effect::Refused(Some(PAYMENT_ID));
    let sorted_pretty = {
        let value: Value = serde_json::from_str(SAMPLE_IPN).unwrap();
        serde_json::to_string_pretty(&value).unwrap()
    };
    let duplicate_keys = SAMPLE_IPN.replacen(
        "\"payment_status\":\"finished\"",
        "\"payment_status\":\"waiting\",\"payment_status\":\"finished\"",
        1,
    );
    let order = |order_id: &str| signed(with("order_id", json!(order_id)));
    vec![
        case(
            "base64 body from API Gateway",
            api_gateway_base64(SAMPLE_IPN, "application/json"),
            200,
            Effect::Granted,
        ),
        case(
            "base64 body, octet-stream",
            api_gateway_base64(SAMPLE_IPN, "application/octet-stream"),
            200,
            Effect::Granted,
        ),
        case(
            "content-type text/plain",
            ipn_request(SAMPLE_IPN, Some(&sign(SAMPLE_IPN)), Some("text/plain")),
            200,
            Effect::Granted,
        ),
        case(
            "content-type form-urlencoded",
            ipn_request(
                SAMPLE_IPN,
                Some(&sign(SAMPLE_IPN)),
                Some("application/x-www-form-urlencoded"),
            ),
            200,
            Effect::Granted,
        ),
        case(
            "no content-type",
            ipn_request(SAMPLE_IPN, Some(&sign(SAMPLE_IPN)), None),
            200,
            Effect::Granted,
        ),
        case(
            "signature with surrounding spaces",
            ipn_request(SAMPLE_IPN, Some(&format!(" {} ", sign(SAMPLE_IPN))), None),
            200,
            Effect::Granted,
        ),
        case(
            "pretty-printed by a proxy (canonical form signed)",
            signed_over(&sorted_pretty, SAMPLE_IPN),
            200,
            Effect::Granted,
        ),
        case(
            "trailing newline (canonical form signed)",
            signed_over(&format!("{SAMPLE_IPN}\n"), SAMPLE_IPN),
            200,
            Effect::Granted,
        ),
        case(
            "payment_id as a string",
            signed(with("payment_id", json!(PAYMENT_ID))),
            200,
            Effect::Granted,
        ),
        case(
            "payment_id as 4492847470.0",
            signed(with("payment_id", json!(4492847470.0))),
            200,
            Effect::Granted,
        ),
        case(
            "unknown extra fields",
            signed(with("brand_new_field", json!({"nested": [1, 2]}))),
            200,
            Effect::Granted,
        ),
        case(
            "price_amount as a string",
            signed(with("price_amount", json!("3.21"))),
            200,
            Effect::Granted,
        ),
        case(
            "outcome_amount null",
            signed(with("outcome_amount", Value::Null)),
            200,
            Effect::Granted,
        ),
        case(
            "updated_at as an ISO string",
            signed(with("updated_at", json!("2026-11-28T00:00:00.000Z"))),
            200,
            Effect::Granted,
        ),
        case(
            "status waiting",
            signed(with("payment_status", json!("waiting"))),
            200,
            Effect::Watched,
        ),
        case(
            "status expired",
            signed(with("payment_status", json!("expired"))),
            200,
            Effect::Ignored,
        ),
        case(
            "status partially_paid (money arrived, short)",
            signed(with("payment_status", json!("partially_paid"))),
            200,
            Effect::Held("underpaid"),
        ),
        case(
            "unknown status",
            signed(with("payment_status", json!("finished_partially"))),
            400,
            refused,
        ),
        case(
            "status in capitals",
            signed(with("payment_status", json!("FINISHED"))),
            400,
            refused,
        ),
        case(
            "status missing",
            signed(without("payment_status")),
            400,
            refused,
        ),
        case(
            "payment_id zero",
            signed(with("payment_id", json!(0))),
            400,
            Effect::Refused(Some("0")),
        ),
        case(
            "payment_id negative",
            signed(with("payment_id", json!(-4492847470_i64))),
            400,
            Effect::Refused(Some("-4492847470")),
        ),
        case(
            "payment_id fractional",
            signed(with("payment_id", json!(4492847470.5))),
            400,
            Effect::Refused(Some("4492847470.5")),
        ),
        case(
            "payment_id beyond 64 bits",
            signed(SAMPLE_IPN.replace(
                "\"payment_id\":4492847470",
                "\"payment_id\":99999999999999999999999",
            )),
            400,
            Effect::Refused(Some("99999999999999999999999")),
        ),
        case(
            "payment_id missing",
            signed(without("payment_id")),
            400,
            Effect::Refused(None),
        ),
        case(
            "duplicate keys, signed",
            signed(duplicate_keys),
            400,
            refused,
        ),
        case(
            "deep nesting, signed",
            signed(format!("{}{}", "[".repeat(20_000), "]".repeat(20_000))),
            400,
            Effect::Refused(None),
        ),
        case("empty body, signed", signed(""), 400, Effect::Refused(None)),
        case(
            "a JSON array, signed",
            signed("[1,2,3]"),
            400,
            Effect::Refused(None),
        ),
        case(
            "price_amount out of f64 range",
            signed(SAMPLE_IPN.replace("\"price_amount\":3.21", "\"price_amount\":1e400")),
            400,
            refused,
        ),
        case(
            "price_amount NaN as text",
            signed(with("price_amount", json!("NaN"))),
            400,
            refused,
        ),
        case(
            "huge price_amount",
            signed(with("price_amount", json!(1e300))),
            200,
            Effect::Held("price_mismatch"),
        ),
        case(
            "negative price_amount",
            signed(with("price_amount", json!(-3.21))),
            200,
            Effect::Held("price_mismatch"),
        ),
        case(
            "zero price_amount",
            signed(with("price_amount", json!(0))),
            200,
            Effect::Held("price_mismatch"),
        ),
        case(
            "another currency",
            signed(with("price_currency", json!("eur"))),
            200,
            Effect::Held("price_mismatch"),
        ),
        case(
            "repeat deposit",
            signed(with("parent_payment_id", json!(4492847469_i64))),
            200,
            Effect::Held("repeat_deposit"),
        ),
        case(
            "user id zero",
            order("PGP-0|-1003111266231"),
            200,
            Effect::Held("unparseable_order_id"),
        ),
        case(
            "user id negative",
            order("PGP--6271402111|-1003111266231"),
            200,
            Effect::Held("unparseable_order_id"),
        ),
        case(
            "unknown channel",
            order("PGP-6271402111|-1009999999999"),
            200,
            Effect::Held("unknown_channel"),
        ),
        case(
            "SQL injection in order_id",
            order("PGP-6271402111|-1003111266231'; DROP TABLE processed_payments;--"),
            200,
            Effect::Held("unparseable_order_id"),
        ),
        case(
            "SQL injection as the user id",
            order("PGP-1 OR 1=1|-1003111266231"),
            200,
            Effect::Held("unparseable_order_id"),
        ),
        case(
            "NUL byte in order_id",
            order("PGP-6271402111\u{0}|-1003111266231"),
            200,
            Effect::Held("unparseable_order_id"),
        ),
        case(
            "emoji in order_id",
            order("PGP-6271402111|-1003111266231🙂"),
            200,
            Effect::Held("unparseable_order_id"),
        ),
        case(
            "order_id of 10,000 characters",
            order(&"9".repeat(10_000)),
            200,
            Effect::Held("unparseable_order_id"),
        ),
        case(
            "order_id missing",
            signed(without("order_id")),
            200,
            Effect::Held("unparseable_order_id"),
        ),
        case(
            "order_id null",
            signed(with("order_id", Value::Null)),
            200,
            Effect::Held("unparseable_order_id"),
        ),
        case(
            "a top-up naming purchase 0",
            order("PGP-6271402111|-1003111266231|2592000|0"),
            200,
            Effect::Held("unparseable_order_id"),
        ),
        case(
            "a top-up naming no purchase there is",
            order("PGP-6271402111|-1003111266231|2592000|4492847400"),
            200,
            Effect::Held("price_mismatch"),
        ),
    ]
}

struct World {
    webhook: PaymentWebhook<SqliteStore, MemoryQueue>,
}

impl World {
    async fn new() -> Self {
        Self {
            webhook: PaymentWebhook::new(
                IpnSecret::new(SAMPLE_IPN_SECRET).unwrap(),
                ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
                sqlite_store(true).await,
                MemoryQueue::new(),
            ),
        }
    }

    /// (records, reviews) in the store.
    async fn rows(&self) -> (i64, i64) {
        let pool = self.webhook.store.pool();
        let count = |table: &'static str| {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {table}"
            )))
            .fetch_one(pool)
        };
        (
            count("processed_payments").await.unwrap(),
            count("payment_reviews").await.unwrap(),
        )
    }
}

/// Runs one case in a fresh world; returns what went wrong, if anything.
async fn check(case: Case) -> Option<String> {
    let world = World::new().await;
    let logs = LogBuffer::default();
    let (response, metrics) = {
        let _capture = logs.capture();
        capture(np_webhook::handle(&world.webhook, case.request)).await
    };
    let response = response.unwrap();
    let (status, word) = outcome(&response);
    let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
    let (records, reviews) = world.rows().await;
    let queued = world.webhook.processor_queue.bodies().len();
    let mut wrong = Vec::new();
    if status != case.status {
        wrong.push(format!(
            "status {status} ({word}), expected {}",
            case.status
        ));
    }
    let counted = metrics.outcomes(stage::IPN);
    if counted != BTreeMap::from([(word.clone(), 1.0)]) {
        wrong.push(format!("IpnOutcome counted {counted:?}, not {word} once"));
    }
    if !body.starts_with("{\"outcome\":") {
        wrong.push(format!("the answer is not the outcome JSON: {body}"));
    }
    let writes = (records, reviews, queued);
    match case.effect {
        Effect::Nothing | Effect::Ignored => {
            if writes != (0, 0, 0) {
                wrong.push(format!(
                    "expected no write, got (records, reviews, queued) = {writes:?}"
                ));
            }
            let says_why = match case.effect {
                Effect::Ignored => !logs.lines_at("INFO").is_empty(),
                _ => !(logs.lines_at("WARN").is_empty() && logs.lines_at("ERROR").is_empty()),
            };
            if case.status != 405 && !says_why {
                wrong.push("no log line says why".into());
            }
        }
        Effect::Watched => {
            if writes != (0, 0, 0) {
                wrong.push(format!(
                    "expected no record, review or message, got {writes:?}"
                ));
            }
            let id = telepay_core::ipn::PaymentId::new(4492847470).unwrap();
            let watch = world.webhook.store.watch_of(id).await.unwrap();
            if watch.is_none_or(|w| w.user_id != 6271402111 || w.last_status != "waiting") {
                wrong.push("no watch of the sample buyer's payment under way".into());
            }
        }
        Effect::Granted => {
            if writes != (1, 0, 1) {
                wrong.push(format!("expected one record queued, got {writes:?}"));
            }
            let stored = world
                .webhook
                .store
                .get_payment(telepay_core::ipn::PaymentId::new(4492847470).unwrap())
                .await
                .unwrap();
            if stored.is_none_or(|r| r.user_id.get() != 6271402111) {
                wrong.push("the record is not the sample buyer's".into());
            }
        }
        Effect::Held(reason) => {
            if writes != (0, 1, 0) {
                wrong.push(format!("expected one review, got {writes:?}"));
            }
            let review = world
                .webhook
                .store
                .get_review(telepay_core::ipn::PaymentId::new(4492847470).unwrap())
                .await
                .unwrap();
            if review.is_none_or(|r| r.reason.as_str() != reason) {
                wrong.push(format!("expected a review with reason {reason}"));
            }
            if metrics.count(signal::PAYMENT_HELD) != 1.0 {
                wrong.push("PaymentHeld not counted".into());
            }
        }
        Effect::Refused(payment_id) => {
            if writes != (0, 0, 0) {
                wrong.push(format!("expected no write, got {writes:?}"));
            }
            let errors = logs.lines_at("ERROR");
            if errors.is_empty() {
                wrong.push("no error log".into());
            }
            let named = format!("\"payment_id\":\"{}\"", payment_id.unwrap_or_default());
            if payment_id.is_some() && !errors.iter().any(|line| line.contains(&named)) {
                wrong.push(format!("the error log does not name {named}: {errors:?}"));
            }
            if metrics.count(signal::SIGNED_IPN_REFUSED) != 1.0 {
                wrong.push("SignedIpnRefused not counted".into());
            }
        }
    }
    (!wrong.is_empty()).then(|| format!("{}: {}", case.name, wrong.join("; ")))
}

async fn run_corpus(cases: Vec<Case>, minimum: usize) {
    assert!(
        cases.len() >= minimum,
        "the corpus has {} cases",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in cases {
        failures.extend(check(case).await);
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn forged_or_broken_ipns_get_their_status_and_change_nothing() {
    run_corpus(forged_cases(), 25).await;
}

#[tokio::test]
async fn signed_but_unusual_ipns_are_accepted_when_unambiguous_and_otherwise_held_or_refused_loudly()
 {
    run_corpus(unusual_cases(), 45).await;
}

// ---- the SQS consumers ----------------------------------------------------------------

const TOKEN: &str = "123:bad-input-bot";

/// Bodies no consumer may act on: each fails alone (SQS retries it, then dead-letters
/// it), and nothing is written or sent for it.
fn broken_sqs_bodies() -> Vec<(&'static str, String)> {
    let processor = json!({"v": 1, "payment_id": 1, "user_id": 6271402111_i64, "channel_id": -1003111266231_i64,
        "purchase": {"private_channel_id": -1003111266231_i64, "subscription_days": 30, "price_amount": 3.21, "price_currency": "usd"}});
    let invite = json!({"v": 1, "payment_id": 1, "user_id": 6271402111_i64, "channel_id": -1003111266231_i64});
    let version = |mut body: Value, v: Value| {
        body["v"] = v;
        body.to_string()
    };
    vec![
        (
            "processor message of schema version 2",
            version(processor.clone(), json!(2)),
        ),
        (
            "processor message of schema version 0",
            version(processor.clone(), json!(0)),
        ),
        ("processor message without a version", {
            let mut body = processor.clone();
            body.as_object_mut().unwrap().remove("v");
            body.to_string()
        }),
        (
            "processor message with a string version",
            version(processor.clone(), json!("1")),
        ),
        (
            "invite request of schema version 99",
            version(invite.clone(), json!(99)),
        ),
        ("invite request with payment_id 0", {
            let mut body = invite.clone();
            body["payment_id"] = json!(0);
            body.to_string()
        }),
        ("empty body", String::new()),
        ("not JSON", "payment 1 please".into()),
        ("a JSON array", "[1]".into()),
        ("truncated JSON", processor.to_string()[..20].to_owned()),
    ]
}

#[tokio::test]
async fn sqs_bodies_of_unknown_schema_or_shape_fail_alone_and_change_nothing() {
    let fake = FakeBotApi::start(TOKEN).await;
    let store = sqlite_store(true).await;
    store.record_accepted(&sample_record(1)).await.unwrap();
    let before = store
        .get_payment(telepay_core::ipn::PaymentId::new(1).unwrap())
        .await
        .unwrap();
    let processor = PaymentProcessor::new(store, MemoryQueue::new(), MemoryQueue::new());
    let telegram = TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap();
    let sender = InviteSender::new(
        sqlite_store(true).await,
        telegram,
        ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap(),
        InviteSettings::default(),
    );
    let bodies = broken_sqs_bodies();
    let messages: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, (_, body))| sqs_message(format!("m{i}"), format!("r{i}"), body.clone(), 1))
        .collect();
    let failed = |response: aws_lambda_events::event::sqs::SqsBatchResponse| {
        response.batch_item_failures.len()
    };
    let event = sqs_batch(messages.clone(), Duration::from_secs(30));
    let processed = payment_processor::handle(&processor, event).await.unwrap();
    assert_eq!(
        failed(processed),
        bodies.len(),
        "every broken body fails alone in the processor"
    );
    let event = sqs_batch(messages, Duration::from_secs(30));
    let queue = MemoryQueue::new();
    let invited = invite_sender::handle(&sender, &queue, event).await.unwrap();
    assert_eq!(failed(invited), bodies.len(), "and in the invite sender");
    assert!(
        processor.payout_queue.bodies().is_empty() && processor.invite_queue.bodies().is_empty()
    );
    assert!(fake.calls().is_empty(), "no Bot API call for a broken body");
    let after = processor
        .store
        .get_payment(telepay_core::ipn::PaymentId::new(1).unwrap())
        .await
        .unwrap();
    assert_eq!(before, after, "the stored payment is untouched");
}
