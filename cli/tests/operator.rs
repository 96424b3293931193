//! `telepay` as an operator runs it, on the SQLite backend (the local run's file) with
//! the fake Bot API: every command's effect, and a clear failure for bad input.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use fake_bot_api::FakeBotApi;
use telepay_core::fixtures::{SAMPLE_DIRECTORY, SAMPLE_IPN, SAMPLE_IPN_SECRET, sample_record};
use telepay_core::ipn::PaymentId;
use telepay_core::payment::{HoldReason, PaymentReview, RecordState, ReviewDecision};
use telepay_core::queue::MessageQueue;
use telepay_core::store::ports::*;
use telepay_shared::sql::SqliteStore;
use telepay_shared::sql_queue::SqliteQueue;

struct Shop {
    path: PathBuf,
    store: SqliteStore,
}

impl Shop {
    async fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "telepay-cli-{}-{}.sqlite",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let store = SqliteStore::open(&path).await.unwrap();
        store.migrate().await.unwrap();
        Self { path, store }
    }

    fn telepay(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_telepay"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TELEPAY_STORE_BACKEND", "sqlite")
            .env("TELEPAY_SQLITE_PATH", &self.path)
            .env("TELEPAY_CHANNEL_DIRECTORY", SAMPLE_DIRECTORY);
        for (key, value) in extra_env {
            command.env(key, value);
        }
        command.output().expect("run telepay")
    }

    fn ok(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let output = self.telepay(args, &[]);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON lines"))
            .collect()
    }

    fn fails(&self, args: &[&str]) -> String {
        let output = self.telepay(args, &[]);
        assert_eq!(output.status.code(), Some(1), "{args:?} must fail");
        String::from_utf8_lossy(&output.stderr).trim().to_owned()
    }

    fn queue(&self, name: &str) -> SqliteQueue {
        SqliteQueue::new(self.store.pool().clone(), name, Duration::from_millis(1), 1)
    }

    async fn queued(&self, name: &str) -> Vec<String> {
        let messages = self.queue(name).receive(10).await.unwrap();
        messages.into_iter().filter_map(|m| m.body).collect()
    }

    async fn record(&self, id: i64) -> telepay_core::payment::ProcessedPayment {
        self.store
            .get_payment(PaymentId::new(id).unwrap())
            .await
            .unwrap()
            .unwrap()
    }

    async fn hold(&self, id: i64, ipn: String) {
        let review = PaymentReview {
            payment_id: PaymentId::new(id).unwrap(),
            reason: HoldReason::PriceMismatch,
            ipn,
            received_at: Utc::now() - TimeDelta::minutes(5),
            decision: None,
            decided_at: None,
        };
        self.store.hold_for_review(&review).await.unwrap();
    }
}

#[tokio::test]
async fn payments_show_prints_the_record_and_names_an_unknown_payment() {
    let shop = Shop::new().await;
    shop.store
        .record_accepted(&sample_record(42))
        .await
        .unwrap();
    let shown = shop.ok(&["payments", "show", "42"]);
    assert_eq!(shown[0]["payment_id"], 42);
    assert_eq!(shown[0]["user_id"], 6271402111i64);
    assert_eq!(shown[0]["state"], "accepted");
    assert_eq!(
        shop.fails(&["payments", "show", "77"]),
        "telepay: payment 77 not found"
    );
}

#[tokio::test]
async fn payments_pending_lists_every_kind_of_attention_with_its_age() {
    let shop = Shop::new().await;
    let old = |id: i64| {
        let mut record = sample_record(id);
        record.created_at = Utc::now() - TimeDelta::minutes(90);
        record
    };
    shop.store.record_accepted(&old(1)).await.unwrap();
    let mut processed = old(2);
    processed.processed = true;
    shop.store.record_accepted(&processed).await.unwrap();
    let mut failed = old(3);
    failed.state = RecordState::InviteFailed;
    failed.invite_failure_reason = Some("Forbidden: bot was blocked by the user".into());
    shop.store.record_accepted(&failed).await.unwrap();
    shop.hold(4, SAMPLE_IPN.into()).await;

    let lines = shop.ok(&["payments", "pending"]);
    let stages: Vec<(i64, &str)> = lines
        .iter()
        .map(|l| {
            (
                l["payment_id"].as_i64().unwrap(),
                l["stage"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        vec![
            (1, "not_processed"),
            (2, "invite_not_sent"),
            (3, "invite_failed"),
            (4, "held_for_review")
        ]
    );
    assert_eq!(lines[0]["age_minutes"], 90);
    let recent_only = shop.ok(&["payments", "pending", "--older-than-minutes", "120"]);
    assert!(
        recent_only.iter().all(|l| l["stage"] == "invite_failed"),
        "{recent_only:?}"
    );
}

#[tokio::test]
async fn reviews_approve_turns_a_held_payment_into_a_queued_record_once() {
    let shop = Shop::new().await;
    let cheap = SAMPLE_IPN.replace("\"price_amount\":3.21", "\"price_amount\":1.5");
    shop.hold(4492847470, cheap).await;
    assert_eq!(shop.ok(&["reviews", "list"])[0]["reason"], "price_mismatch");

    let shown = shop.ok(&["reviews", "show", "4492847470"]);
    assert_eq!(shown[0]["reason"], "price_mismatch");
    assert_eq!(shown[0]["told"], serde_json::Value::Null, "not told yet");
    assert_eq!(
        shop.fails(&["reviews", "show", "5"]),
        "telepay: no review entry for payment 5"
    );

    let approved = shop.ok(&["reviews", "approve", "4492847470"]);
    assert_eq!(approved[0]["decision"], "approved");
    let record = shop.record(4492847470).await;
    assert_eq!(record.state, RecordState::Accepted);
    assert_eq!(record.user_id.get(), 6271402111);
    assert_eq!(
        shop.queued("processor").await.len(),
        1,
        "queued for processing"
    );

    assert_eq!(
        shop.fails(&["reviews", "approve", "4492847470"]),
        "telepay: payment 4492847470 was already approved"
    );
    assert_eq!(
        shop.fails(&["reviews", "reject", "4492847470"]),
        "telepay: payment 4492847470 is already granted: it cannot be rejected"
    );
    assert_eq!(
        shop.fails(&["reviews", "approve", "5"]),
        "telepay: no review entry for payment 5"
    );
}

#[tokio::test]
async fn reviews_reject_records_the_decision_and_grants_nothing() {
    let shop = Shop::new().await;
    shop.hold(7, SAMPLE_IPN.replace("4492847470", "7")).await;
    assert_eq!(
        shop.ok(&["reviews", "reject", "7"])[0]["decision"],
        "rejected"
    );
    let review = shop
        .store
        .get_review(PaymentId::new(7).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(review.decision, Some(ReviewDecision::Rejected));
    assert!(
        shop.store
            .get_payment(PaymentId::new(7).unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn payments_replay_requeues_a_failed_invite_but_never_a_sent_one() {
    let shop = Shop::new().await;
    let mut failed = sample_record(3);
    failed.processed = true;
    failed.state = RecordState::InviteFailed;
    shop.store.record_accepted(&failed).await.unwrap();
    shop.ok(&["payments", "replay", "3"]);
    assert_eq!(
        shop.record(3).await.state,
        RecordState::Accepted,
        "due again"
    );
    let queued = shop.queued("invite").await;
    assert_eq!(queued.len(), 1);
    assert!(queued[0].contains("\"payment_id\":3"));

    let mut sent = sample_record(4);
    sent.telegram_invite_sent = true;
    shop.store.record_accepted(&sent).await.unwrap();
    assert!(
        shop.fails(&["payments", "replay", "4"])
            .contains("use `telepay payments reissue`")
    );
}

// Multi-threaded: the fake Bot API must answer while this thread waits for the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_reissue_revokes_the_old_link_and_queues_a_new_invite() {
    let shop = Shop::new().await;
    let fake = FakeBotApi::start("9:reissue").await;
    let mut sent = sample_record(5);
    sent.processed = true;
    sent.telegram_invite_sent = true;
    sent.telegram_invite_link = Some("https://t.me/+lost".into());
    shop.store.record_accepted(&sent).await.unwrap();

    assert!(
        shop.fails(&["payments", "reissue", "5"])
            .contains("TELEGRAM_BOT_TOKEN"),
        "needs the bot to revoke"
    );
    let url = fake.url();
    let env = [
        ("TELEGRAM_BOT_TOKEN", "9:reissue"),
        ("TELEGRAM_API_URL", url.as_str()),
    ];
    let output = shop.telepay(&["payments", "reissue", "5"], &env);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let revoked = fake.delivered("revokeChatInviteLink");
    assert_eq!(revoked[0].params["invite_link"], "https://t.me/+lost");
    let record = shop.record(5).await;
    assert!(!record.telegram_invite_sent);
    assert_eq!(record.telegram_invite_link, None);
    assert_eq!(shop.queued("invite").await.len(), 1);
}

#[tokio::test]
async fn payments_resolve_gives_a_seed_row_its_purchase_or_marks_it_handled() {
    let shop = Shop::new().await;
    for id in [61, 62] {
        let mut seed = sample_record(id);
        seed.purchase = None;
        seed.created_at = Utc::now() - TimeDelta::days(400);
        shop.store.record_accepted(&seed).await.unwrap();
    }
    let pending = shop.ok(&["payments", "pending"]);
    assert!(
        pending.iter().all(|l| l["stage"] == "needs_operator"),
        "{pending:?}"
    );
    let partial = shop.telepay(&["payments", "resolve", "61", "--days", "30"], &[]);
    assert_eq!(
        partial.status.code(),
        Some(2),
        "a partial purchase is a bad argument"
    );
    assert!(String::from_utf8_lossy(&partial.stderr).contains("--private-channel"));

    shop.ok(&[
        "payments",
        "resolve",
        "61",
        "--private-channel",
        "-1003111266231",
        "--days",
        "30",
        "--price",
        "3.21",
        "--currency",
        "usd",
    ]);
    assert_eq!(
        shop.queued("processor").await.len(),
        1,
        "processed like any payment"
    );
    shop.ok(&["payments", "resolve", "62", "--already-handled"]);
    assert!(shop.record(62).await.telegram_invite_sent);
    assert!(
        shop.fails(&["payments", "resolve", "62", "--already-handled"])
            .contains("does not need an operator")
    );
}

#[tokio::test]
async fn payments_reconcile_requeues_stuck_payments_and_reports() {
    let shop = Shop::new().await;
    let mut stuck = sample_record(8);
    stuck.created_at = Utc::now() - TimeDelta::hours(1);
    stuck.updated_at = stuck.created_at;
    shop.store.record_accepted(&stuck).await.unwrap();
    let report = shop.ok(&["payments", "reconcile", "--stuck-after-minutes", "15"]);
    assert_eq!(report[0]["backlog"], 1);
    assert_eq!(report[0]["requeued_processing"], 1);
    assert_eq!(shop.queued("processor").await.len(), 1);
}

#[tokio::test]
async fn dlq_list_shows_dead_letters_and_redrive_moves_them_back() {
    let shop = Shop::new().await;
    let queue = shop.queue("processor");
    queue
        .send(PaymentId::new(1).unwrap(), "{\"poison\":true}")
        .await
        .unwrap();
    queue.receive(10).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(
        queue.receive(10).await.unwrap().is_empty(),
        "moved to the DLQ"
    );

    let listed = shop.ok(&["dlq", "list", "processor"]);
    assert_eq!(listed[0]["body"], "{\"poison\":true}");
    assert_eq!(shop.ok(&["dlq", "redrive", "processor"])[0]["redriven"], 1);
    assert!(shop.ok(&["dlq", "list", "processor"]).is_empty());
    assert_eq!(
        shop.queued("processor").await,
        vec!["{\"poison\":true}".to_string()]
    );
}

#[tokio::test]
async fn ipn_sign_matches_the_signature_nowpayments_would_send() {
    let shop = Shop::new().await;
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/sample-ipn.json");
    let output = shop.telepay(
        &["ipn", "sign", file],
        &[("TELEPAY_IPN_SECRET", SAMPLE_IPN_SECRET)],
    );
    let event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/np-webhook-finished.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        event["headers"]["x-nowpayments-sig"]
    );
    assert_eq!(
        std::fs::read_to_string(file).unwrap(),
        SAMPLE_IPN,
        "the sample file is the sample IPN"
    );
    let unset = shop.telepay(&["ipn", "sign", file], &[]);
    assert!(String::from_utf8_lossy(&unset.stderr).contains("TELEPAY_IPN_SECRET"));
}

#[tokio::test]
async fn migrate_is_safe_to_run_again_and_bad_input_is_refused_clearly() {
    let shop = Shop::new().await;
    for _ in 0..2 {
        let output = shop.telepay(&["migrate"], &[]);
        assert!(output.status.success());
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            "migrate: the store schema is up to date"
        );
    }
    let output = shop.telepay(&["migrate"], &[("TELEPAY_STORE_BACKEND", "postgres")]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "telepay: environment variable DATABASE_URL is missing or empty"
    );
    assert_eq!(
        shop.telepay(&["payments", "show", "abc"], &[])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        shop.telepay(&["dlq", "list", "nowhere"], &[]).status.code(),
        Some(2)
    );
    assert!(
        shop.fails(&["payments", "show", "0"])
            .contains("payment_id must be a positive integer")
    );
}

#[tokio::test]
async fn subscriptions_are_shown_listed_extended_and_ended_with_their_reasons() {
    use telepay_core::access::{LifecycleMessage, grant_time};
    use telepay_core::order::UserId;
    use telepay_core::subscription::{
        AccessDuration, GrantSource, LifecycleSettings, SubscriptionKey, Task, TimeGrant,
    };
    let shop = Shop::new().await;
    let key = SubscriptionKey::new(UserId::new(6271402111).unwrap(), -1003111266231);
    // GIVEN a buyer whose 30 days end in two days
    let grant = TimeGrant::new(
        GrantSource::Payment(1),
        Utc::now() - TimeDelta::days(28),
        AccessDuration::from_days(30).unwrap(),
    );
    grant_time(
        &shop.store,
        key,
        &grant,
        grant.accepted_at,
        &LifecycleSettings::default(),
    )
    .await
    .unwrap();

    let expiring = shop.ok(&["subscriptions", "list", "--expiring-within", "3d"]);
    assert_eq!(expiring.len(), 1);
    assert_eq!(expiring[0]["status"], "active");
    assert!(shop.ok(&["subscriptions", "list", "--expired"]).is_empty());

    // WHEN an operator extends it by 10 days
    let extended = shop.ok(&[
        "subscriptions",
        "extend",
        "6271402111",
        "-1003111266231",
        "--days",
        "10",
        "--reason",
        "outage credit",
    ]);
    let before: chrono::DateTime<Utc> =
        serde_json::from_value(expiring[0]["expires_at"].clone()).unwrap();
    let after: chrono::DateTime<Utc> =
        serde_json::from_value(extended[0]["expires_at"].clone()).unwrap();
    assert_eq!(after - before, TimeDelta::days(10));

    // AND then ends it
    let ended = shop.ok(&[
        "subscriptions",
        "end",
        "6271402111",
        "-1003111266231",
        "--reason",
        "chargeback",
    ]);
    assert_eq!(
        ended[0]["status"], "expired",
        "paid time stops now; removal follows"
    );
    let queued: Vec<LifecycleMessage> = shop
        .queued("lifecycle")
        .await
        .iter()
        .map(|body| serde_json::from_str(body).unwrap())
        .collect();
    assert_eq!(queued.len(), 1, "the removal is queued at once");
    assert_eq!(queued[0].task, Task::Removal);

    // THEN the history keeps both reasons
    let shown = shop.ok(&["subscriptions", "show", "6271402111", "-1003111266231"]);
    let history = shown[0]["record"]["history"].as_array().unwrap().clone();
    let reasons: Vec<&str> = history
        .iter()
        .filter_map(|h| h["reason"].as_str())
        .collect();
    assert_eq!(reasons, ["outage credit", "chargeback"]);

    // Bad input: a clear error, nothing changed
    let long = "x".repeat(201);
    let too_long = shop.fails(&[
        "subscriptions",
        "extend",
        "6271402111",
        "-1003111266231",
        "--days",
        "10",
        "--reason",
        &long,
    ]);
    assert!(too_long.contains("at most 200"), "{too_long}");
    let unchanged = shop.ok(&["subscriptions", "show", "6271402111", "-1003111266231"]);
    assert_eq!(
        unchanged[0]["record"]["history"].as_array().unwrap().len(),
        history.len()
    );
    let missing = shop.fails(&["subscriptions", "show", "42", "-1003111266231"]);
    assert!(missing.contains("no subscription for user 42"), "{missing}");
    let bad = shop.fails(&["subscriptions", "list", "--expiring-within", "3 months"]);
    assert!(bad.contains("--expiring-within"), "{bad}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_set_webhook_points_telegram_at_the_bot_with_its_secret_and_info_shows_it() {
    let shop = Shop::new().await;
    let fake = FakeBotApi::start("123:cli-bot").await;
    let url = fake.url();
    let secret = "cli-webhook-secret-0123456789abcdef";
    let env = [
        ("TELEGRAM_BOT_TOKEN", "123:cli-bot"),
        ("TELEGRAM_API_URL", url.as_str()),
        ("TELEPAY_BOT_WEBHOOK_SECRET", secret),
    ];
    let set = shop.telepay(
        &[
            "bot",
            "set-webhook",
            "--url",
            "https://abc.execute-api.eu-west-1.amazonaws.com/telegram-webhook",
        ],
        &env,
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let webhook = fake.webhook().expect("Telegram has the webhook");
    assert_eq!(
        webhook.url,
        "https://abc.execute-api.eu-west-1.amazonaws.com/telegram-webhook"
    );
    assert_eq!(webhook.secret_token.as_deref(), Some(secret));
    // No more deliveries at once than the stack's reserved concurrency (20 by default).
    assert_eq!(webhook.max_connections, 20);
    assert_eq!(
        webhook.allowed_updates,
        Some(vec![
            "message".into(),
            "callback_query".into(),
            "chat_join_request".into(),
            "my_chat_member".into(),
            "chat_member".into(),
            "pre_checkout_query".into()
        ])
    );

    // An update waits (the URL does not answer here): info says so, with the error.
    fake.user_writes(42, "/start");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let info = shop.telepay(&["bot", "info"], &env);
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(
        info["url"],
        "https://abc.execute-api.eu-west-1.amazonaws.com/telegram-webhook"
    );
    assert_eq!(info["pending_update_count"], 1);
    assert!(info["last_error_message"].as_str().is_some(), "{info}");
    assert_eq!(info["allowed_updates"][2], "chat_join_request");

    // A short secret or a plain-http URL is refused, and the secret is never printed.
    let short = shop.telepay(
        &[
            "bot",
            "set-webhook",
            "--url",
            "https://x.example/telegram-webhook",
        ],
        &[env[0], env[1], ("TELEPAY_BOT_WEBHOOK_SECRET", "too-short")],
    );
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("TELEPAY_BOT_WEBHOOK_SECRET"));
    assert!(!String::from_utf8_lossy(&short.stderr).contains("too-short"));
    let plain = shop.telepay(
        &["bot", "set-webhook", "--url", "http://x.example/hook"],
        &env,
    );
    assert!(!plain.status.success());
    let too_many = shop.telepay(
        &[
            "bot",
            "set-webhook",
            "--url",
            "https://x.example/telegram-webhook",
            "--max-connections",
            "101",
        ],
        &env,
    );
    assert!(!too_many.status.success());
    assert!(String::from_utf8_lossy(&too_many.stderr).contains("--max-connections"));
    assert_eq!(
        fake.webhook().unwrap().url,
        "https://abc.execute-api.eu-west-1.amazonaws.com/telegram-webhook"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_forget_deletes_only_the_records_past_their_keep_time() {
    use telepay_core::store::{BotStore, OnceClaim, OnceKey};
    let shop = Shop::new().await;
    let now = Utc::now();
    let claim = |keep: TimeDelta| OnceClaim {
        token: "t".into(),
        lease_until: now,
        keep_until: now + keep,
        now: now - TimeDelta::hours(49),
    };
    shop.store
        .claim_once(OnceKey::Update(1), &claim(TimeDelta::hours(-1)))
        .await
        .unwrap();
    shop.store
        .claim_once(OnceKey::Update(2), &claim(TimeDelta::hours(47)))
        .await
        .unwrap();
    assert_eq!(
        shop.ok(&["bot", "forget"]),
        vec![serde_json::json!({"forgotten": 1})]
    );
    assert!(
        shop.store
            .read_once(OnceKey::Update(1))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        shop.store
            .read_once(OnceKey::Update(2))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        shop.ok(&["bot", "forget"]),
        vec![serde_json::json!({"forgotten": 0})]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_recover_admits_a_paid_payment_whose_ipns_were_all_lost_once() {
    use fake_nowpayments::{Delivery, FakeNowPayments};
    use telepay_core::bot::{InvoiceApi, InvoiceRequest};
    use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsInvoices};

    let shop = Shop::new().await;
    let key = "np-cli-recover-key";
    let nowpayments = FakeNowPayments::start(key, SAMPLE_IPN_SECRET).await;
    let url = nowpayments.url();
    let invoices =
        NowPaymentsInvoices::new(NowPaymentsApiKey::new(key).unwrap(), Some(&url)).unwrap();
    let invoice = invoices
        .create_invoice(&InvoiceRequest {
            price_amount: 3.21,
            price_currency: "usd".into(),
            order_id: "PGP-6271402111|-1003111266231".into(),
            order_description: "Demo channel, 30 days".into(),
            ipn_callback_url: "http://127.0.0.1:9/np-webhook".into(),
            success_url: None,
        })
        .await
        .unwrap();
    let id = nowpayments
        .pay_with(&invoice.id, Delivery::Dropped)
        .await
        .unwrap()
        .to_string();
    let env = [
        ("TELEPAY_NOWPAYMENTS_API_KEY", key),
        ("TELEPAY_NOWPAYMENTS_API_URL", url.as_str()),
    ];
    let recover = |env: &[(&str, &str)]| shop.telepay(&["payments", "recover", &id], env);

    let first = recover(&env);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(
        (&answer["status"], &answer["outcome"], &answer["recovered"]),
        (&"finished".into(), &"queued".into(), &true.into()),
        "{answer}"
    );
    assert_eq!(
        shop.queued("processor").await.len(),
        1,
        "queued for its grant"
    );

    let again: serde_json::Value = serde_json::from_slice(&recover(&env).stdout).unwrap();
    assert_eq!(again["recovered"], false, "{again}");

    let wrong = recover(&[
        ("TELEPAY_NOWPAYMENTS_API_KEY", "an-old-key"),
        ("TELEPAY_NOWPAYMENTS_API_URL", url.as_str()),
    ]);
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(said.contains("TELEPAY_NOWPAYMENTS_API_KEY"), "{said}");
    assert!(
        !said.contains("an-old-key"),
        "the key never printed: {said}"
    );
}

#[tokio::test]
async fn reviews_show_prints_a_short_payments_purchase_and_approve_closes_it() {
    use telepay_core::store::{OpenPurchase, PurchasePartsStore};
    let shop = Shop::new().await;
    shop.hold(4492847470, SAMPLE_IPN.to_owned()).await;
    let id = PaymentId::new(4492847470).unwrap();
    let open = OpenPurchase {
        purchase_id: id,
        user_id: 6271402111,
        channel_id: -1003111266231,
        price_amount: 3.21,
        price_currency: "usd".into(),
        first_paid: 2.25,
        first_outcome: None,
        opened_at: Utc::now(),
    };
    shop.store.open_purchase(&open).await.unwrap();
    let shown = shop.ok(&["reviews", "show", "4492847470"]);
    let purchase = &shown[0]["purchase"];
    assert_eq!(purchase["price"], "3.21 USD");
    assert_eq!(
        (purchase["paid"].as_str(), purchase["missing"].as_str()),
        (Some("2.25"), Some("0.96"))
    );
    assert_eq!(purchase["parts"], serde_json::json!([4492847470_i64]));
    assert_eq!(purchase["settled_by"], serde_json::Value::Null);

    // Approved by hand: the purchase is decided, and no top-up can complete it after.
    shop.ok(&["reviews", "approve", "4492847470"]);
    assert!(!shop.store.purchase_of(id).await.unwrap().unwrap().is_open());
}

#[tokio::test]
async fn a_person_at_a_terminal_reads_a_table_and_a_script_gets_json_lines() {
    let shop = Shop::new().await;
    shop.hold(4492847470, SAMPLE_IPN.to_owned()).await;
    shop.hold(4492847471, SAMPLE_IPN.replace("4492847470", "4492847471"))
        .await;
    // What a terminal shows (TELEPAY_OUTPUT=table stands in for one here).
    let output = shop.telepay(&["reviews", "list"], &[("TELEPAY_OUTPUT", "table")]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("payment_id  ") && lines[0].contains("reason"),
        "{text}"
    );
    assert!(lines[1].starts_with("----------  "), "{text}");
    assert_eq!(lines.len(), 4, "a header, a rule, two rows: {text}");
    assert!(
        lines[2].starts_with("4492847471  ") && lines[2].contains("price_mismatch"),
        "{text}"
    );
    assert!(
        lines[2].chars().count() < 400,
        "long fields are cut: {text}"
    );
    // A script: JSON lines, through a pipe or with --json.
    for (args, env) in [
        (vec!["reviews", "list"], vec![]),
        (
            vec!["--json", "reviews", "list"],
            vec![("TELEPAY_OUTPUT", "")],
        ),
    ] {
        let output = shop.telepay(&args, &env);
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        for line in text.lines() {
            let row: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            assert_eq!(row["reason"], "price_mismatch");
        }
    }
}

// Multi-threaded: the fake Bot API must answer while this thread waits for the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_refund_gives_a_stars_charge_back_and_takes_its_time_back_once() {
    use telepay_core::order::{ChannelId, UserId};
    use telepay_core::stars::{StarsCharge, StarsOrder};
    use telepay_core::subscription::{GrantSource, LifecycleSettings, SubscriptionKey, TimeGrant};
    use telepay_core::telegram::{StarsInvoice, StarsPayments};
    use telepay_shared::telegram::{BotToken, TelegramBotApi};

    let shop = Shop::new().await;
    let fake = FakeBotApi::start("9:refund").await;
    let buyer = UserId::new(6271402111).unwrap();
    let order = StarsOrder {
        user_id: buyer,
        channel_id: ChannelId::new(-1003111266231).unwrap(),
        tier_seconds: 2_592_000,
        catalog_version: 0,
        stars: 250,
        recurring: true,
    };
    let bot = TelegramBotApi::new(BotToken::new("9:refund").unwrap(), Some(&fake.url())).unwrap();
    let link = bot
        .create_stars_invoice_link(&StarsInvoice {
            title: "Signals".into(),
            description: "30 days".into(),
            payload: order.to_payload(),
            stars: 250,
            recurring: true,
        })
        .await
        .unwrap();
    let charge_id = fake.charge_stars(buyer.get(), &link).unwrap();
    // Recorded and granted, as the processor leaves it, beside a crypto month.
    let charge = StarsCharge {
        charge_id: charge_id.clone(),
        order,
        stars_paid: 250,
        paid_at: Utc::now(),
    };
    let record = charge.record(-1002222222222).unwrap();
    let id = record.payment_id.get();
    shop.store.record_accepted(&record).await.unwrap();
    shop.store.record_accepted(&sample_record(7)).await.unwrap();
    let key = SubscriptionKey::new(buyer, -1002222222222);
    let settings = LifecycleSettings::default();
    let paid_at = Utc::now();
    for source in [id, 7] {
        let grant = TimeGrant::new(
            GrantSource::Payment(source),
            paid_at,
            telepay_core::subscription::AccessDuration::from_days(30).unwrap(),
        );
        telepay_core::access::grant_time(&shop.store, key, &grant, paid_at, &settings)
            .await
            .unwrap();
    }
    let before = shop.store.get_subscription(key).await.unwrap().unwrap();

    let url = fake.url();
    let env = [
        ("TELEGRAM_BOT_TOKEN", "9:refund"),
        ("TELEGRAM_API_URL", url.as_str()),
    ];
    let refund = |payment: i64| shop.telepay(&["payments", "refund", &payment.to_string()], &env);
    let output = refund(id);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(said["charge_id"], charge_id.as_str());
    assert_eq!(said["time_taken_back"], true);
    assert!(fake.star_charges()[0].refunded, "the Stars went back");
    let after = shop.store.get_subscription(key).await.unwrap().unwrap();
    assert_eq!(before.expires_at - after.expires_at, TimeDelta::days(30));

    // Again (a lost answer, a second person): Telegram's "already refunded" is done,
    // and no second month is taken.
    let again: serde_json::Value = serde_json::from_slice(&refund(id).stdout).unwrap();
    assert_eq!(again["time_taken_back"], false);
    let last = shop.store.get_subscription(key).await.unwrap().unwrap();
    assert_eq!(last.expires_at, after.expires_at);

    // A crypto payment is refunded at NOWPayments; the command says so and changes nothing.
    let crypto = refund(7);
    assert_eq!(crypto.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&crypto.stderr).contains("NOWPayments dashboard"),
        "{}",
        String::from_utf8_lossy(&crypto.stderr)
    );
    assert!(
        shop.fails(&["payments", "refund", &id.to_string()])
            .contains("TELEGRAM_BOT_TOKEN"),
        "needs the bot to refund"
    );
}
