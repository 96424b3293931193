//! `telepay doctor` as an owner runs it, against a deployment in miniature: the real
//! np-webhook and bot-webhook handlers served over HTTP, the fake Bot API and the fake
//! NOWPayments, the local run's SQLite store and queues. All green first; then each
//! broken thing is named by doctor, and nothing else is.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use fake_bot_api::{BotStanding, FakeBotApi};
use fake_nowpayments::FakeNowPayments;
use telepay_core::bot::{BotFrontDoor, BotSetup, WebhookSecret};
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::{SAMPLE_CHANNEL_ID, SAMPLE_DIRECTORY};
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::signature::IpnSecret;
use telepay_core::store::memory::MemoryStore;
use telepay_core::webhook::PaymentWebhook;
use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsInvoices};
use telepay_shared::sql::SqliteStore;
use telepay_shared::telegram::{BotToken, TelegramBotApi};

const TOKEN: &str = "424242:doctor-test-token";
const BOT_SECRET: &str = "doctor-test-webhook-secret-0123456789";
const NP_KEY: &str = "doctor-test-np-key";
const IPN_SECRET: &str = "doctor-test-ipn-secret";

type Bot = BotFrontDoor<MemoryStore, TelegramBotApi, NowPaymentsInvoices, MemoryQueue, MemoryQueue>;

/// Our two endpoints, as API Gateway would hand them to the functions.
struct Endpoints {
    webhook: PaymentWebhook<MemoryStore, MemoryQueue>,
    bot: Bot,
}

/// The deployment in miniature, and where doctor finds it.
struct World {
    telegram: FakeBotApi,
    _nowpayments: FakeNowPayments,
    db: PathBuf,
    addr: SocketAddr,
    env: Vec<(&'static str, String)>,
    _server: tokio::task::JoinHandle<()>,
}

fn lambda_request(method: Method, headers: HeaderMap, body: Bytes) -> lambda_http::Request {
    let mut builder = lambda_http::http::Request::builder()
        .method(method.as_str())
        .uri("https://example.execute-api.us-east-1.amazonaws.com/");
    for (name, value) in &headers {
        builder = builder.header(name.as_str(), value.as_bytes());
    }
    builder
        .body(lambda_http::Body::from(body.to_vec()))
        .unwrap()
}

fn axum_response(response: lambda_http::Response<lambda_http::Body>) -> Response {
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.body().to_vec()).into_response()
}

async fn ipn(
    State(endpoints): State<Arc<Endpoints>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = lambda_request(method, headers, body);
    let Ok(response) = np_webhook::handle(&endpoints.webhook, request).await;
    axum_response(response)
}

async fn update(
    State(endpoints): State<Arc<Endpoints>>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = lambda_request(method, headers, body);
    let Ok(response) = bot_webhook::handle(&endpoints.bot, request).await;
    axum_response(response)
}

impl World {
    async fn new() -> Self {
        let telegram = FakeBotApi::start(TOKEN).await;
        let nowpayments = FakeNowPayments::start(NP_KEY, IPN_SECRET).await;
        let directory = ChannelDirectory::from_json(SAMPLE_DIRECTORY).unwrap();
        let api =
            || TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&telegram.url())).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let setup = BotSetup::new(
            WebhookSecret::new(BOT_SECRET).unwrap(),
            directory.clone(),
            format!("http://{addr}/np-webhook"),
        );
        let endpoints = Arc::new(Endpoints {
            webhook: PaymentWebhook::new(
                IpnSecret::new(IPN_SECRET).unwrap(),
                directory,
                MemoryStore::new(),
                MemoryQueue::new(),
            ),
            bot: BotFrontDoor::new(
                setup,
                MemoryStore::new(),
                api(),
                NowPaymentsInvoices::new(
                    NowPaymentsApiKey::new(NP_KEY).unwrap(),
                    Some(&nowpayments.url()),
                )
                .unwrap(),
                MemoryQueue::new(),
                MemoryQueue::new(),
            ),
        });
        let app = axum::Router::new()
            .route("/np-webhook", post(ipn))
            .route("/telegram-webhook", post(update))
            .with_state(endpoints);
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        // As `telepay bot set-webhook` does.
        api()
            .set_webhook(&format!("http://{addr}/telegram-webhook"), BOT_SECRET, 40)
            .await
            .unwrap();
        let db = std::env::temp_dir().join(format!(
            "telepay-doctor-{}-{}.sqlite",
            std::process::id(),
            Utc::now().timestamp_nanos_opt().unwrap_or_default()
        ));
        let store = SqliteStore::open(&db).await.unwrap();
        store.migrate().await.unwrap();
        let env = vec![
            ("TELEPAY_STORE_BACKEND", "sqlite".to_owned()),
            ("TELEPAY_SQLITE_PATH", db.display().to_string()),
            ("TELEPAY_CHANNEL_DIRECTORY", SAMPLE_DIRECTORY.to_owned()),
            ("TELEGRAM_BOT_TOKEN", TOKEN.to_owned()),
            ("TELEGRAM_API_URL", telegram.url()),
            (
                "TELEPAY_BOT_WEBHOOK_URL",
                format!("http://{addr}/telegram-webhook"),
            ),
            ("TELEPAY_NOWPAYMENTS_API_KEY", NP_KEY.to_owned()),
            ("TELEPAY_NOWPAYMENTS_API_URL", nowpayments.url()),
            ("TELEPAY_IPN_SECRET", IPN_SECRET.to_owned()),
            (
                "TELEPAY_IPN_CALLBACK_URL",
                format!("http://{addr}/np-webhook"),
            ),
        ];
        Self {
            telegram,
            _nowpayments: nowpayments,
            db,
            addr,
            env,
            _server: server,
        }
    }

    /// `telepay doctor`, with `changed` overriding the deployment's configuration.
    async fn doctor(&self, changed: &[(&str, &str)]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_telepay"));
        command
            .arg("doctor")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        for (name, value) in changed {
            command.env(name, value);
        }
        tokio::task::spawn_blocking(move || command.output().expect("run telepay doctor"))
            .await
            .unwrap()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.db);
    }
}

/// The checks doctor says to fix, by name.
fn fixes(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("FIX  "))
        .map(|line| line.split(':').next().unwrap_or_default().to_owned())
        .collect()
}

fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The line doctor printed for `check`.
fn line_of(output: &Output, check: &str) -> String {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find(|line| line.contains(check))
        .unwrap_or_default()
        .to_owned()
}

const CHANNEL: &str = "channel Demo channel (-1003111266231)";

#[tokio::test]
async fn a_healthy_deployment_is_all_green_and_exits_zero() {
    let world = World::new().await;
    let output = world.doctor(&[]).await;
    assert!(output.status.success(), "{}", printed(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    for check in [
        "ok   secrets",
        "ok   catalog: 1 channel(s), 1 tier(s)",
        "ok   bot token: @telepay_fake_bot",
        "ok   bot webhook",
        &format!("ok   {CHANNEL}"),
        "ok   NOWPayments API key: valid; 3 coin(s) accepted",
        "ok   IPN callback",
        "ok   store",
        "ok   invite dead-letter queue: empty",
    ] {
        assert!(text.contains(check), "{check:?} missing from:\n{text}");
    }
    assert!(fixes(&output).is_empty());
    // JSON lines for scripts.
    let mut command = Command::new(env!("CARGO_BIN_EXE_telepay"));
    command.args(["doctor", "--json"]).env_clear();
    for (name, value) in &world.env {
        command.env(name, value);
    }
    let json = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&json.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["verdict"], "ok");
}

#[tokio::test]
async fn each_broken_thing_is_named_alone_with_what_to_fix() {
    // The bot's standing in the private channel.
    for (standing, says) in [
        (BotStanding::Member, "a member, not an administrator"),
        (
            BotStanding::Admin {
                invite: true,
                restrict: false,
            },
            "lacks the right Ban users",
        ),
        (
            BotStanding::Admin {
                invite: false,
                restrict: true,
            },
            "lacks the right Invite users",
        ),
        (BotStanding::Left, "not in the channel"),
    ] {
        let world = World::new().await;
        world.telegram.set_bot_standing(SAMPLE_CHANNEL_ID, standing);
        let output = world.doctor(&[]).await;
        assert_eq!(output.status.code(), Some(1), "{}", printed(&output));
        assert_eq!(
            fixes(&output),
            vec![CHANNEL.to_owned()],
            "{}",
            printed(&output)
        );
        assert!(
            line_of(&output, CHANNEL).contains(says),
            "{}",
            printed(&output)
        );
    }

    // The webhook unset.
    let world = World::new().await;
    let api =
        TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&world.telegram.url())).unwrap();
    reqwest_delete_webhook(&world.telegram.url()).await;
    let output = world.doctor(&[]).await;
    assert_eq!(
        fixes(&output),
        vec!["bot webhook".to_owned()],
        "{}",
        printed(&output)
    );
    assert!(line_of(&output, "bot webhook").contains("no webhook is set"));

    // The webhook set with another secret: Telegram's deliveries are refused.
    api.set_webhook(
        &format!("http://{}/telegram-webhook", world.addr),
        "another-secret-0123456789",
        40,
    )
    .await
    .unwrap();
    let update = world.telegram.user_writes(6271402111, "/start");
    assert!(
        !world
            .telegram
            .wait_delivered(update, std::time::Duration::from_secs(3))
            .await
    );
    let output = world.doctor(&[]).await;
    assert_eq!(
        fixes(&output),
        vec!["bot webhook".to_owned()],
        "{}",
        printed(&output)
    );
    assert!(
        line_of(&output, "bot webhook").contains("refuses Telegram's secret token"),
        "{}",
        printed(&output)
    );

    // A wrong IPN secret, a refused NOWPayments key, a bad token, an invalid catalog.
    let world = World::new().await;
    for (changed, check, says) in [
        (
            ("TELEPAY_IPN_SECRET", "not-the-deployed-secret"),
            "IPN callback",
            "IPN secret differs",
        ),
        (
            ("TELEPAY_NOWPAYMENTS_API_KEY", "a-wrong-key"),
            "NOWPayments API key",
            "refuses TELEPAY_NOWPAYMENTS_API_KEY",
        ),
        (
            (
                "TELEPAY_CHANNEL_DIRECTORY",
                r#"{"channels": [{"channel_id": 5}]}"#,
            ),
            "catalog",
            "TELEPAY_CHANNEL_DIRECTORY",
        ),
    ] {
        let output = world.doctor(&[changed]).await;
        assert_eq!(
            fixes(&output),
            vec![check.to_owned()],
            "{}",
            printed(&output)
        );
        assert!(
            line_of(&output, check).contains(says),
            "{}",
            printed(&output)
        );
    }
    let output = world
        .doctor(&[("TELEGRAM_BOT_TOKEN", "999:not-the-token")])
        .await;
    assert_eq!(
        fixes(&output),
        vec!["bot token".to_owned()],
        "{}",
        printed(&output)
    );
    assert!(
        line_of(&output, "bot token").contains("Telegram refuses TELEGRAM_BOT_TOKEN"),
        "{}",
        printed(&output)
    );
}

/// `deleteWebhook`, as an owner clearing it by hand would.
async fn reqwest_delete_webhook(api_url: &str) {
    let answer = reqwest::Client::new()
        .post(format!("{api_url}/bot{TOKEN}/deleteWebhook"))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
}

const OWNER: i64 = 900_001;

impl World {
    /// `telepay init --non-interactive` against this world's fakes, writing into `dir`.
    async fn init(&self, dir: &std::path::Path, changed: &[(&str, &str)]) -> Output {
        let channel = SAMPLE_CHANNEL_ID.to_string();
        let owner = OWNER.to_string();
        let mut args: Vec<(String, String)> = [
            ("--bot-token", TOKEN),
            ("--nowpayments-key", NP_KEY),
            ("--ipn-secret", IPN_SECRET),
            ("--channel-id", channel.as_str()),
            ("--title", "Demo channel"),
            ("--tier", "3.21 usd 30 days"),
            ("--owner-chat-id", owner.as_str()),
            ("--alarm-email", "owner@example.com"),
            ("--dir", dir.to_str().unwrap()),
        ]
        .into_iter()
        .map(|(flag, value)| (flag.to_owned(), value.to_owned()))
        .collect();
        for (flag, value) in changed {
            match args.iter_mut().find(|(f, _)| f == flag) {
                Some(arg) => arg.1 = (*value).to_owned(),
                None => args.push(((*flag).to_owned(), (*value).to_owned())),
            }
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_telepay"));
        command
            .args(["init", "--non-interactive"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("TELEGRAM_API_URL", self.telegram.url())
            .env(
                "TELEPAY_NOWPAYMENTS_API_URL",
                self.env
                    .iter()
                    .find(|(name, _)| *name == "TELEPAY_NOWPAYMENTS_API_URL")
                    .map(|(_, url)| url.clone())
                    .unwrap(),
            );
        for (flag, value) in &args {
            if !value.is_empty() {
                command.arg(flag).arg(value);
            }
        }
        tokio::task::spawn_blocking(move || command.output().expect("run telepay init"))
            .await
            .unwrap()
    }

    /// `telepay <args>` with this world's configuration.
    async fn telepay(&self, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_telepay"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        tokio::task::spawn_blocking(move || command.output().expect("run telepay"))
            .await
            .unwrap()
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "telepay-init-{name}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn init_checks_every_answer_live_writes_the_owners_files_and_doctor_is_all_green() {
    let world = World::new().await;
    let dir = scratch_dir("green");
    let output = world.init(&dir, &[]).await;
    assert!(output.status.success(), "{}", printed(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    for check in [
        "ok   catalog: 3.21 USD for 30 days",
        "ok   bot token: @telepay_fake_bot",
        &format!("ok   {CHANNEL}"),
        &format!("ok   owner chat {OWNER}: @telepay_fake_bot wrote to you"),
        "ok   NOWPayments API key",
        "ok   IPN secret",
        "next: make deploy",
    ] {
        assert!(text.contains(check), "{check:?} missing from:\n{text}");
    }
    // The owner heard from the bot, as they will of every sale.
    assert!(
        world
            .telegram
            .delivered("sendMessage")
            .iter()
            .any(|call| call.chat_id() == Some(OWNER))
    );
    // The files: a catalog an apply accepts, the stack's settings, and no secret.
    let catalog = std::fs::read_to_string(dir.join("catalog.json")).unwrap();
    let samconfig = std::fs::read_to_string(dir.join("samconfig.toml")).unwrap();
    assert!(
        samconfig.contains("stack_name = \"telepay-lambda\""),
        "{samconfig}"
    );
    assert!(
        samconfig.contains(
            r#"parameter_overrides = "NowPaymentsApiUrl=\"\" AlarmEmail=\"owner@example.com\"""#
        ),
        "{samconfig}"
    );
    for secret in [TOKEN, NP_KEY, IPN_SECRET] {
        assert!(
            !catalog.contains(secret) && !samconfig.contains(secret),
            "a secret was written"
        );
    }

    // The catalog applied to the store, doctor reads it from there: all green.
    let applied = world
        .telepay(&[
            "catalog",
            "apply",
            dir.join("catalog.json").to_str().unwrap(),
        ])
        .await;
    assert!(applied.status.success(), "{}", printed(&applied));
    let mut without_directory = world.env.clone();
    without_directory.retain(|(name, _)| *name != "TELEPAY_CHANNEL_DIRECTORY");
    let mut command = Command::new(env!("CARGO_BIN_EXE_telepay"));
    command.arg("doctor").env_clear();
    for (name, value) in &without_directory {
        command.env(name, value);
    }
    let doctor = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert!(doctor.status.success(), "{}", printed(&doctor));
    assert!(
        line_of(&doctor, "catalog").contains("ok   catalog: version 1: 1 channel(s), 1 tier(s)"),
        "{}",
        printed(&doctor)
    );
    assert!(fixes(&doctor).is_empty(), "{}", printed(&doctor));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn init_names_each_broken_answer_alone_and_writes_nothing() {
    let owner_never_started = || {
        fake_bot_api::Fault::new(
            "sendMessage",
            fake_bot_api::FaultKind::Forbidden(
                "Forbidden: bot can't initiate conversation with a user".into(),
            ),
        )
        .for_chat(OWNER)
    };
    type Setup = Box<dyn Fn(&FakeBotApi)>;
    /// What is wrong, the flags that make it so, the fake's state, the check and its fix.
    type Case = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        Setup,
        &'static str,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "a wrong bot token",
            vec![("--bot-token", "999:not-the-token")],
            Box::new(|_| {}),
            "bot token",
            "paste the token BotFather gave you",
        ),
        (
            "the bot not an administrator",
            vec![],
            Box::new(|t| t.set_bot_standing(SAMPLE_CHANNEL_ID, BotStanding::Member)),
            CHANNEL,
            "a member, not an administrator",
        ),
        (
            "no ban right",
            vec![],
            Box::new(|t| {
                t.set_bot_standing(
                    SAMPLE_CHANNEL_ID,
                    BotStanding::Admin {
                        invite: true,
                        restrict: false,
                    },
                )
            }),
            CHANNEL,
            "lacks the right Ban users",
        ),
        (
            "the owner never started the bot",
            vec![],
            Box::new(move |t| t.inject(owner_never_started())),
            "owner chat 900001",
            "press Start",
        ),
        (
            "a wrong NOWPayments key",
            vec![("--nowpayments-key", "not-the-key")],
            Box::new(|_| {}),
            "NOWPayments API key",
            "",
        ),
        (
            "a tier whose length is a letter",
            vec![("--tier", "0.5 usd 3m")],
            Box::new(|_| {}),
            "catalog",
            "\"3 minutes\"",
        ),
        (
            "an IPN secret too short",
            vec![("--ipn-secret", "short")],
            Box::new(|_| {}),
            "IPN secret",
            "copy the IPN secret",
        ),
    ];
    for (case, changed, setup, check, says) in cases {
        let world = World::new().await;
        setup(&world.telegram);
        let dir = scratch_dir("broken");
        let output = world.init(&dir, &changed).await;
        assert_eq!(
            output.status.code(),
            Some(1),
            "{case}: {}",
            printed(&output)
        );
        assert_eq!(
            fixes(&output),
            vec![check.to_owned()],
            "{case}: {}",
            printed(&output)
        );
        assert!(
            line_of(&output, check).contains(says),
            "{case}: {}",
            printed(&output)
        );
        assert!(printed(&output).contains("nothing was written"), "{case}");
        assert!(
            std::fs::read_dir(&dir).unwrap().next().is_none(),
            "{case}: a file was written"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    // Without a terminal and without a flag: the missing answer is named.
    let world = World::new().await;
    let dir = scratch_dir("missing");
    let output = world.init(&dir, &[("--owner-chat-id", "")]).await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        printed(&output).contains("--owner-chat-id is missing"),
        "{}",
        printed(&output)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
