//! `make run` as a newcomer uses it: the local binary over HTTP with the README's sample
//! IPN, sent five times, prints exactly one invite; a restart keeps every payment.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use telepay_core::fixtures::SAMPLE_IPN_SECRET;
use telepay_core::signature::IpnSecret;

const SAMPLE_IPN_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/sample-ipn.json");

struct LocalRun {
    child: Child,
    port: u16,
    /// The fake Bot API's and the fake NOWPayments' ports.
    fake_ports: (u16, u16),
    output: Arc<Mutex<Vec<String>>>,
}

impl LocalRun {
    fn start(db: &std::path::Path) -> Self {
        Self::start_with(&[], &[("TELEPAY_LOCAL_DB", db.to_str().unwrap())])
    }

    fn start_with(args: &[&str], envs: &[(&str, &str)]) -> Self {
        // Three free ports at once: the run's and its two fakes' (PORT+1 may be a
        // client socket's on a busy machine).
        let listeners: Vec<_> = (0..3)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().unwrap().port())
            .collect();
        drop(listeners);
        let (port, telegram_port, nowpayments_port) = (ports[0], ports[1], ports[2]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_telepay-local"))
            .arg("--demo")
            .args(args)
            .env("PORT", port.to_string())
            .env("FAKE_TELEGRAM_PORT", telegram_port.to_string())
            .env("FAKE_NOWPAYMENTS_PORT", nowpayments_port.to_string())
            .env("RUST_LOG", "warn")
            .env_remove("TELEGRAM_BOT_TOKEN")
            .env_remove("TELEPAY_IPN_SECRET")
            .env_remove("TELEPAY_CHANNEL_DIRECTORY")
            .env_remove("TELEPAY_CHANNEL_DIRECTORY_FILE")
            // What the test sets wins over what was removed.
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start telepay-local");
        let output = Arc::new(Mutex::new(Vec::new()));
        let lines = output.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let run = Self {
            child,
            port,
            fake_ports: (telegram_port, nowpayments_port),
            output,
        };
        assert!(
            run.wait_for("TelePay: POST", 1, Duration::from_secs(30)),
            "it starts"
        );
        run
    }

    fn count(&self, needle: &str) -> usize {
        self.output
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    fn wait_for(&self, needle: &str, count: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.count(needle) >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// The sample IPN sent `times` times: the first is queued, and the buyer gets exactly
    /// one invite within `within` (and none more in the 2 s after it). The outcomes.
    fn pays_and_invites_once(&self, times: usize, within: Duration) -> Vec<String> {
        let (body, signature) = sample_ipn();
        let outcomes: Vec<String> = (0..times)
            .map(|_| self.post_ipn(&body, &signature))
            .collect();
        assert_eq!(outcomes[0], "queued", "{outcomes:?}");
        assert!(self.wait_for("[fake Telegram] message to user 6271402111", 1, within));
        // Give any duplicate every chance to show up.
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(
            self.count("[fake Telegram] message to user"),
            1,
            "exactly one invite"
        );
        outcomes
    }

    /// POSTs `body` to /np-webhook with `signature`; the JSON outcome word.
    fn post_ipn(&self, body: &[u8], signature: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let head = format!(
            "POST /np-webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             x-nowpayments-sig: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let json = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        value["outcome"].as_str().unwrap_or_default().to_owned()
    }
}

impl Drop for LocalRun {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn sample_ipn() -> (Vec<u8>, String) {
    let body = std::fs::read(SAMPLE_IPN_FILE).unwrap();
    let signature = IpnSecret::new(SAMPLE_IPN_SECRET).unwrap().sign(&body);
    (body, signature)
}

#[test]
fn the_sample_ipn_sent_five_times_prints_exactly_one_invite_and_survives_a_restart() {
    let db = std::env::temp_dir().join(format!("telepay-local-{}.sqlite", std::process::id()));
    let (body, signature) = sample_ipn();
    {
        let run = LocalRun::start(&db);
        let outcomes = run.pays_and_invites_once(5, Duration::from_secs(30));
        assert!(
            outcomes.iter().all(|o| o == "queued" || o == "duplicate"),
            "{outcomes:?}"
        );
        assert_eq!(run.count("https://t.me/+fake"), 1, "carrying one link");
        assert_eq!(
            run.count("[payout]"),
            1,
            "one payout, the repeats deduped on payment_id"
        );
        assert_eq!(
            run.post_ipn(&body, "0".repeat(128).as_str()),
            "bad_signature"
        );
    }
    let restarted = LocalRun::start(&db);
    assert_eq!(
        restarted.post_ipn(&body, &signature),
        "duplicate",
        "the payment survived the restart"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        restarted.count("[fake Telegram] message"),
        0,
        "and is not invited twice"
    );
}

/// `telepay serve` on Postgres (`TELEPAY_STORE_BACKEND=postgres`): the store and the
/// queues in one fresh database, migrated at start; the sample IPN five times gives one
/// invite, and after a `kill -9` and a restart the payment is there and not invited again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_the_store_and_queues_share_the_database_and_survive_a_kill() {
    let admin_url = std::env::var("DATABASE_URL").expect("DATABASE_URL: run `make test`");
    let database = format!(
        "serve_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&admin)
        .await
        .unwrap();
    let (base, _) = admin_url.rsplit_once('/').unwrap();
    let url = format!("{base}/{database}");
    let envs = [
        ("TELEPAY_STORE_BACKEND", "postgres"),
        ("DATABASE_URL", url.as_str()),
    ];
    let (body, signature) = sample_ipn();
    {
        let run = LocalRun::start_with(&[], &envs);
        run.pays_and_invites_once(5, Duration::from_secs(30));
        // Dropped: SIGKILL, no drain.
    }
    let restarted = LocalRun::start_with(&[], &envs);
    assert_eq!(restarted.post_ipn(&body, &signature), "duplicate");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        restarted.count("[fake Telegram] message"),
        0,
        "not invited twice"
    );
    // Every message is handled and deleted, none dead-lettered: one the kill caught in
    // flight comes back after its visibility timeout (the demo's 30 s at most) and
    // changes nothing.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let left = loop {
        let left: Vec<(String, i64)> =
            sqlx::query_as("SELECT queue, count(*) FROM queue_messages GROUP BY queue")
                .fetch_all(&pool)
                .await
                .unwrap();
        if left.is_empty() || Instant::now() > deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(left.is_empty(), "left in the queues: {left:?}");
    assert_eq!(
        restarted.count("[fake Telegram] message"),
        0,
        "what came back after the kill invited nobody again"
    );
    drop(restarted);
}

/// `TELEPAY_BOT_UPDATES=polling`: no public bot URL. The server removes the webhook and
/// asks Telegram (`getUpdates`) itself; each update reaches the bot as a webhook's would,
/// once. Killed (`kill -9`) after handling one update, it carries on from the stored
/// offset: the update written while it was down is answered, the one before is not
/// answered again. The fake Bot API runs in this test, so it outlives the server as
/// Telegram does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_answers_each_update_once_and_carries_on_from_its_offset_after_a_kill() {
    let telegram = fake_bot_api::FakeBotApi::start("polling-token").await;
    let db = std::env::temp_dir().join(format!(
        "telepay-polling-{}-{}.sqlite",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    ));
    let url = telegram.url();
    let db_path = db.display().to_string();
    let envs = [
        ("TELEPAY_BOT_UPDATES", "polling"),
        ("TELEGRAM_BOT_TOKEN", "polling-token"),
        ("TELEGRAM_API_URL", url.as_str()),
        ("TELEPAY_SQLITE_PATH", db_path.as_str()),
    ];
    let buyer = 4_100_000_001;
    let replies = |telegram: &fake_bot_api::FakeBotApi| {
        telegram
            .delivered("sendMessage")
            .iter()
            .filter(|c| c.params["chat_id"].as_i64() == Some(buyer))
            .count()
    };
    let first = telegram.user_writes(buyer, "/start");
    {
        let _server = tokio::task::block_in_place(|| LocalRun::start_with(&[], &envs));
        assert!(
            telegram
                .wait_for_calls("sendMessage", 1, Duration::from_secs(30))
                .await,
            "the bot answers /start without a webhook"
        );
        // The offset is written after the round: give it its moment.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(replies(&telegram), 1);
        assert!(telegram.webhook().is_none(), "no webhook while polling");
        // Dropped: SIGKILL.
    }
    let second = telegram.user_writes(buyer, "/start");
    let calls_before = telegram.calls().len();
    let _restarted = tokio::task::block_in_place(|| LocalRun::start_with(&[], &envs));
    assert!(
        telegram
            .wait_for_calls("sendMessage", 2, Duration::from_secs(30))
            .await,
        "the update written while it was down is answered"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(replies(&telegram), 2, "one answer per update, none twice");
    // It asked from the stored offset: past the first update, not from the start.
    let resumed_at = telegram.calls()[calls_before..]
        .iter()
        .find(|c| c.method == "getUpdates")
        .and_then(|c| c.params["offset"].as_i64());
    assert_eq!(
        resumed_at,
        Some(first + 1),
        "resumed from the stored offset"
    );
    assert!(second > first);
    let _ = std::fs::remove_file(&db);
}

/// `--aws`: the same chain on DynamoDB and SQS (moto, through the normal SDK settings),
/// the consumers long-polling SQS as the event source mapping does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_aws_the_chain_runs_on_dynamodb_and_sqs_and_still_sends_one_invite() {
    for variable in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS"] {
        let endpoint = std::env::var(variable).unwrap_or_default();
        assert!(
            endpoint.starts_with("http://127.0.0.1:"),
            "{variable} must point at moto: run `make test`"
        );
    }
    let sdk = telepay_shared::aws::load_sdk_config(telepay_shared::aws::consumer_timeouts()).await;
    let suffix = format!(
        "{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let (payments, reviews) = (format!("payments-{suffix}"), format!("reviews-{suffix}"));
    telepay_shared::dynamodb::create_tables(
        &aws_sdk_dynamodb::Client::new(&sdk),
        &payments,
        &reviews,
    )
    .await
    .unwrap();
    let subscriptions = format!("subscriptions-{suffix}");
    telepay_shared::dynamodb::create_subscriptions_table(
        &aws_sdk_dynamodb::Client::new(&sdk),
        &subscriptions,
    )
    .await
    .unwrap();
    let bot_table = format!("bot-{suffix}");
    telepay_shared::dynamodb::create_bot_table(&aws_sdk_dynamodb::Client::new(&sdk), &bot_table)
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut urls = Vec::new();
    for name in ["processor", "invite", "payout", "lifecycle", "admission"] {
        let created = sqs
            .create_queue()
            .queue_name(format!("{name}-{suffix}"))
            .send()
            .await
            .unwrap();
        urls.push(created.queue_url.unwrap());
    }
    let run = LocalRun::start_with(
        &["--aws"],
        &[
            ("TELEPAY_PAYMENTS_TABLE", &payments),
            ("TELEPAY_REVIEWS_TABLE", &reviews),
            ("TELEPAY_SUBSCRIPTIONS_TABLE", &subscriptions),
            ("TELEPAY_PROCESSOR_QUEUE_URL", &urls[0]),
            ("TELEPAY_INVITE_QUEUE_URL", &urls[1]),
            ("TELEPAY_PAYOUT_QUEUE_URL", &urls[2]),
            ("TELEPAY_LIFECYCLE_QUEUE_URL", &urls[3]),
            ("TELEPAY_ADMISSION_QUEUE_URL", &urls[4]),
            ("TELEPAY_BOT_TABLE", &bot_table),
            // Created by the run's own migrate (the functions' table set).
            ("TELEPAY_WATCHES_TABLE", &format!("watches-{suffix}")),
        ],
    );
    run.pays_and_invites_once(3, Duration::from_secs(40));
    let left = sqs
        .get_queue_attributes()
        .queue_url(&urls[2])
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap();
    let waiting = left.attributes.unwrap()
        [&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages]
        .clone();
    assert_ne!(
        waiting, "0",
        "payout instructions wait for the payout service, untouched"
    );
}

/// `make demo-buy` against `make run`: a buyer goes from /start to an approved join
/// request through both fakes, and a stranger with the forwarded link is declined.
#[test]
fn demo_buy_plays_a_buyer_end_to_end_and_a_forwarded_link_is_declined() {
    let db = std::env::temp_dir().join(format!("telepay-demo-{}.sqlite", std::process::id()));
    let run = LocalRun::start(&db);
    let demo = Command::new(env!("CARGO_BIN_EXE_demo-buy"))
        .env("TELEPAY_LOCAL_DB", &db)
        .env("PORT", run.port.to_string())
        .env("FAKE_TELEGRAM_PORT", run.fake_ports.0.to_string())
        .env("FAKE_NOWPAYMENTS_PORT", run.fake_ports.1.to_string())
        .output()
        .expect("run demo-buy");
    let printed = String::from_utf8_lossy(&demo.stdout);
    assert!(
        demo.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    for step in [
        "[Demo club] -> channel:-1004000000001",
        "[Pay] -> http://127.0.0.1:",
        "finished",
        "https://t.me/+fake",
        "Telegram: \"requested\"",
        "is in the channel",
        "declined: the forwarded link let nobody else in",
        "\"partially_paid\"",
        "1.93 USD of 3.21 USD reached us (1.28 USD missing",
        "Send /topup",
        "1.29 USD is missing",
        "11. The two payments add up",
        // A price change reaches the running chain; the open invoice keeps its price.
        "catalog version 1",
        "catalog version 2",
        "Demo channel: 30 days from 3.21 to 4.21 USD",
        "15. Buyer",
    ] {
        assert!(printed.contains(step), "{step:?} missing from:\n{printed}");
    }
    let step = |n: &str| printed.split(n).nth(1).unwrap_or_default().to_owned();
    let (paid_open, new_invoice) = (step("15. Buyer"), step("16. Buyer"));
    assert!(
        paid_open.contains("finished") && paid_open.contains("https://t.me/+"),
        "the invoice made at 3.21 is granted after the change:\n{paid_open}"
    );
    assert!(
        new_invoice.contains("4.21"),
        "a new invoice has the new price:\n{new_invoice}"
    );
    // What the fake Telegram saw: one approval, one decline, and the owner told once.
    assert!(run.wait_for("approved", 1, Duration::from_secs(5)));
    assert_eq!(run.count("join request of user"), 2);
    assert_eq!(
        run.count("] message to user 1000:"),
        1,
        "the owner hears of the sale"
    );
}

/// Without `--demo` the run is for real money: each variable the demo would default
/// (the IPN secret, the bot token, the webhook secret, the NOWPayments key, our callback
/// URL) stops the start when missing, named; a misspelt one never falls back to a demo
/// value; no catalog, no start. With all of them (Telegram and NOWPayments being fakes
/// here) and a catalog applied, it starts where `--bind` says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_demo_it_refuses_every_demo_default_and_names_what_is_missing() {
    use telepay_core::store::CatalogStore;

    let telegram = fake_bot_api::FakeBotApi::start("777:production-token").await;
    let nowpayments = fake_nowpayments::FakeNowPayments::start("np-key", "np-ipn-secret").await;
    // A fresh store of its own: nothing applied yet.
    let dir = std::env::temp_dir().join(format!("telepay-production-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("telepay.sqlite");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let full: Vec<(&str, String)> = vec![
        ("TELEPAY_IPN_SECRET", "a-real-ipn-secret-0123".into()),
        ("TELEGRAM_BOT_TOKEN", "777:production-token".into()),
        ("TELEGRAM_API_URL", telegram.url()),
        (
            "TELEPAY_BOT_WEBHOOK_SECRET",
            "a-real-webhook-secret-0123456789abcdef".into(),
        ),
        ("TELEPAY_NOWPAYMENTS_API_KEY", "np-key".into()),
        ("TELEPAY_NOWPAYMENTS_API_URL", nowpayments.url()),
        (
            "TELEPAY_IPN_CALLBACK_URL",
            "https://pay.example.com/np-webhook".into(),
        ),
    ];
    let run = move |env: Vec<(&'static str, String)>, wait: Duration| {
        let db = db.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let mut child = Command::new(env!("CARGO_BIN_EXE_telepay-local"))
                    .args(["--bind", "127.0.0.1"])
                    .env_clear()
                    .env("PATH", std::env::var("PATH").unwrap_or_default())
                    .env("PORT", port.to_string())
                    .env("TELEPAY_LOCAL_DB", &db)
                    .env("RUST_LOG", "info")
                    .envs(env)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start telepay-local");
                let deadline = Instant::now() + wait;
                while Instant::now() < deadline {
                    if child.try_wait().unwrap().is_some() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                let running = child.try_wait().unwrap().is_none();
                child.kill().ok();
                let output = child.wait_with_output().unwrap();
                (
                    running,
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&output.stdout),
                        String::from_utf8_lossy(&output.stderr)
                    ),
                )
            })
            .await
            .unwrap()
        }
    };
    let demo_words = [
        "demo secret",
        "fake Telegram",
        "fake NOWPayments",
        "demo channel",
    ];
    for (variable, _) in &full {
        if variable.ends_with("_API_URL") {
            continue;
        }
        let without: Vec<_> = full
            .iter()
            .filter(|(v, _)| v != variable)
            .cloned()
            .collect();
        let (running, said) = run(without, Duration::from_secs(20)).await;
        assert!(!running, "started without {variable}:\n{said}");
        assert!(said.contains(variable), "{variable} not named:\n{said}");
        assert!(
            demo_words.iter().all(|w| !said.contains(w)),
            "fell back to a demo value:\n{said}"
        );
    }
    // A misspelt variable is a missing one, never the demo's value.
    let mut misspelt: Vec<_> = full
        .iter()
        .filter(|(v, _)| *v != "TELEPAY_IPN_SECRET")
        .cloned()
        .collect();
    misspelt.push(("TELEPAY_IPN_SECRETT", "a-real-ipn-secret-0123".into()));
    let (running, said) = run(misspelt, Duration::from_secs(20)).await;
    assert!(
        !running && said.contains("TELEPAY_IPN_SECRET must be set"),
        "{said}"
    );

    // Everything set, but nothing to sell yet: no start on a demo catalog.
    let (running, said) = run(full.clone(), Duration::from_secs(20)).await;
    assert!(!running, "{said}");
    assert!(said.contains("no catalog applied yet"), "{said}");

    // The owner applies a catalog: it starts, bound where --bind says.
    let store = telepay_shared::sql::SqliteStore::open(&dir.join("telepay.sqlite"))
        .await
        .unwrap();
    let catalog = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../events/demo-bot-directory.json"
    ))
    .unwrap();
    telepay_core::catalog::apply(&store, &catalog, "", chrono::Utc::now())
        .await
        .unwrap();
    assert!(store.latest_catalog().await.unwrap().is_some());
    // A pace beyond Telegram's limit is a typo, never an unpaced bot.
    let mut too_fast = full.clone();
    too_fast.push(("TELEPAY_MESSAGES_PER_SECOND", "280".into()));
    let (running, said) = run(too_fast, Duration::from_secs(20)).await;
    assert!(
        !running && said.contains("TELEPAY_MESSAGES_PER_SECOND: messages a second, 1 to 30"),
        "{said}"
    );
    let (running, said) = run(full, Duration::from_secs(8)).await;
    assert!(running, "{said}");
    assert!(
        said.contains(&format!("TelePay: POST http://127.0.0.1:{port}/np-webhook")),
        "{said}"
    );
    assert!(demo_words.iter().all(|w| !said.contains(w)), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A GET on the local run; the status and the body.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, body.to_owned())
}

/// A supervisor's view: alive and ready while up; SIGTERM (what systemd and Docker send)
/// stops new work, lets the work in hand finish, and exits cleanly within the bound.
#[test]
fn health_checks_answer_and_sigterm_stops_it_cleanly() {
    let db = std::env::temp_dir().join(format!("telepay-term-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&db);
    let mut run = LocalRun::start(&db);
    assert_eq!(
        get(run.port, "/healthz"),
        (200, r#"{"status":"alive"}"#.into())
    );
    let (status, ready) = get(run.port, "/readyz");
    assert_eq!(status, 200, "{ready}");
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    for part in [
        "store",
        "processor_queue",
        "invite_queue",
        "lifecycle_queue",
    ] {
        assert_eq!(ready[part], "ok", "{part}: {ready}");
    }
    let (body, signature) = sample_ipn();
    assert_eq!(run.post_ipn(&body, &signature), "queued");
    // Prometheus sees what CloudWatch would: the IPN's outcome under the same name, and
    // each queue's depth.
    let (status, metrics) = get(run.port, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("IpnOutcome{") && l.contains("Outcome=\"queued\"")),
        "{metrics}"
    );
    assert!(
        metrics.contains("QueueDepth{queue=\"processor\"}"),
        "{metrics}"
    );

    let stopped_at = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &run.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(status) = run.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped_at.elapsed() < Duration::from_secs(15),
            "still running 15 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(run.wait_for("TelePay stopped", 1, Duration::from_secs(2)));
    let _ = std::fs::remove_file(&db);
}
