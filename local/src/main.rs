//! `telepay-local`: the whole chain in one process, hosting the three handlers exactly as
//! Lambda calls them. By default everything is embedded: the SQLite store and queues in
//! one file (a restart loses no payment and no queued message) and, without
//! `TELEGRAM_BOT_TOKEN`, the in-repo fake Bot API, which prints each invite it would send.
//! With `--aws`: DynamoDB and SQS through the normal SDK configuration
//! (`AWS_ENDPOINT_URL` for moto), consumed as the Lambda event source mapping does.
//!
//! The bot is served too (`POST /telegram-webhook`): with the fake Bot API it is set as
//! the fake's webhook, so a user's actions on the fake (its `/fake/user/...` routes, as
//! `make demo-buy` uses them) reach the bot as Telegram's updates would; without
//! `TELEPAY_NOWPAYMENTS_API_KEY` invoices come from the in-repo fake NOWPayments, whose
//! pay action sends the signed IPNs back to this run's `/np-webhook`.

mod consumer;
mod gateway;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use aws_lambda_events::event::sqs::SqsBatchResponse;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::routing::any;
use clap::Parser;
use consumer::{BatchSource, consume, spawn_consumers};
use fake_bot_api::FakeBotApi;
use fake_nowpayments::FakeNowPayments;
use telepay_core::bot::{BotFrontDoor, BotSetup, BotTexts, BotTiming, InvoiceUrls, WebhookSecret};
use telepay_core::chain::{ChainSettings, StageQueues, Stages};
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::SAMPLE_IPN_SECRET;
use telepay_core::queue::{DelayedQueue, MessageQueue, PayoutInstruction, RetryDelay, TaskQueue};
use telepay_core::signature::IpnSecret;
use telepay_core::store::{BotStore, IngressStore, PaymentStore, SubscriptionStore};
use telepay_core::subscription::{DEFAULT_TASKS_PER_SECOND, Pacer};
use telepay_core::webhook::PaymentWebhook;
use telepay_shared::aws::{consumer_timeouts, load_sdk_config};
use telepay_shared::config::{
    self, CHANNEL_DIRECTORY, CHANNEL_DIRECTORY_FILE, Environment, ProcessEnvironment, StoreConfig,
};
use telepay_shared::local_queue::{LocalQueue, create_local_queues};
use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsInvoices};
use telepay_shared::sql::SqlitePaymentStore;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyPaymentStore;
use telepay_shared::telegram::{BotApiInviter, BotToken};
use telepay_shared::telemetry;
use tracing::info;

/// How long a consumer invocation may take: the functions' timeouts in `template.yaml`.
const PROCESSOR_TIMEOUT: Duration = Duration::from_secs(30);
const INVITE_TIMEOUT: Duration = Duration::from_secs(60);
const LIFECYCLE_TIMEOUT: Duration = Duration::from_secs(150);
/// The bot's demo webhook secret when `TELEPAY_BOT_WEBHOOK_SECRET` is not set.
const DEMO_WEBHOOK_SECRET: &str = "local-demo-webhook-secret-0123456789";
const DEMO_NOWPAYMENTS_KEY: &str = "local-demo-nowpayments-key";
/// The local run's default directory: the sample IPN's channel and a join-request club.
const DEMO_BOT_DIRECTORY: &str = include_str!("../../events/demo-bot-directory.json");

/// How often the local run sweeps (the deployed sweeper runs every 5 minutes): often
/// enough to watch a demo tier of a few minutes run out.
const DEFAULT_SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Invocations at once per payment queue (processor, invite), as Lambda scales an SQS
/// event source mapping out; `TELEPAY_LOCAL_CONCURRENCY` overrides it.
const DEFAULT_CONCURRENCY: usize = 4;

#[derive(Parser)]
#[command(name = "telepay-local", about = "Run the whole TelePay chain locally")]
struct Args {
    /// Use DynamoDB and SQS (normal AWS SDK configuration; AWS_ENDPOINT_URL for moto)
    /// instead of the embedded SQLite store and queues.
    #[arg(long)]
    aws: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let args = Args::parse();
    let env = ProcessEnvironment;
    let port: u16 = env
        .get("PORT")
        .map_or(Ok(3000), |p| p.parse())
        .context("PORT")?;
    let ipn_secret_text = match env.get(config::IPN_SECRET).filter(|s| !s.trim().is_empty()) {
        Some(secret) => secret,
        None => {
            info!("TELEPAY_IPN_SECRET not set: using the demo secret {SAMPLE_IPN_SECRET:?}");
            SAMPLE_IPN_SECRET.to_owned()
        }
    };
    let secret = IpnSecret::new(ipn_secret_text.clone())?;
    let directory = if env.get(CHANNEL_DIRECTORY).is_some()
        || env.get(CHANNEL_DIRECTORY_FILE).is_some()
    {
        config::channel_directory(&env)?
    } else {
        info!(
            "no channel directory configured: using the demo channel -1003111266231 at 3.21 usd and the demo club (join requests)"
        );
        ChannelDirectory::from_json(DEMO_BOT_DIRECTORY)?
    };
    // A fake's port: as set (and then required), or PORT+offset (and then a default).
    let fake_port = |variable: &str, offset: u16| -> anyhow::Result<(u16, bool)> {
        match env.get(variable) {
            Some(text) => Ok((text.parse().with_context(|| variable.to_owned())?, true)),
            None => Ok((port.wrapping_add(offset), false)),
        }
    };

    // Without a token, the fake Bot API stands in for Telegram and prints each invite.
    let (telegram, fake) = match env.get(config::BOT_TOKEN).and_then(BotToken::new) {
        Some(token) => {
            let api_url = env.get(config::API_URL).filter(|u| !u.is_empty());
            (BotApiInviter::new(token, api_url.as_deref())?, None)
        }
        None => {
            let (wanted, explicit) = fake_port("FAKE_TELEGRAM_PORT", 1)?;
            let start = |port| FakeBotApi::start_on(loopback(port), "local-demo-token", true);
            let fake = match start(wanted).await {
                Ok(fake) => fake,
                // The default port is taken: anywhere will do for `make run` alone.
                Err(_) if !explicit => {
                    let fake = start(0).await.context("starting the fake Bot API")?;
                    println!(
                        "port {wanted} is busy: FAKE_TELEGRAM_PORT={} for make demo-buy",
                        fake.port()
                    );
                    fake
                }
                Err(e) => {
                    return Err(e).context(format!("starting the fake Bot API on port {wanted}"));
                }
            };
            info!(url = %fake.url(), "TELEGRAM_BOT_TOKEN not set: invites go to the fake Bot API and are printed");
            // As Telegram does: about 30 messages a second, one per second per chat.
            fake.enforce_pace();
            let token = BotToken::new("local-demo-token").expect("not empty");
            (BotApiInviter::new(token, Some(&fake.url()))?, Some(fake))
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let bot = bot_settings(&env, port, directory.clone(), &ipn_secret_text, &fake_port).await?;
    if let Some(fake) = &fake {
        // As `telepay bot set-webhook` does against Telegram.
        telegram
            .set_webhook(
                &format!("http://{addr}/telegram-webhook"),
                bot.setup.secret.expose(),
            )
            .await?;
        println!(
            "fake Telegram on {} (a user's actions: POST /fake/user/<id>/write, /press, /join)",
            fake.url()
        );
    }

    if args.aws {
        let store_config = StoreConfig::for_bot_from_env(&env)?;
        let sdk = load_sdk_config(consumer_timeouts()).await;
        let store = AnyPaymentStore::connect(&store_config, &sdk).await?;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue = |variable: &'static str| {
            env.required(variable)
                .map(|url| SqsQueue::new(sqs.clone(), url))
        };
        let queues = StageQueues {
            processor: queue(config::PROCESSOR_QUEUE_URL)?,
            invite: queue(config::INVITE_QUEUE_URL)?,
            payout: queue(config::PAYOUT_QUEUE_URL)?,
            lifecycle: queue(config::LIFECYCLE_QUEUE_URL)?,
        };
        let chain = Chain {
            settings: chain_settings(&env, secret, directory)?,
            store,
            queues,
            admission: queue(config::ADMISSION_QUEUE_URL)?,
            telegram,
            bot,
        };
        // The payout queue belongs to the payout consumer: left alone here.
        chain.serve(addr, false, "DynamoDB + SQS (--aws)").await
    } else {
        let path = PathBuf::from(
            env.get("TELEPAY_LOCAL_DB")
                .unwrap_or_else(|| ".telepay/local.sqlite".into()),
        );
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let store = SqlitePaymentStore::open(&path).await?;
        // A local file of our own: bringing it up to date at start is what a user wants.
        store.migrate().await?;
        create_local_queues(store.pool()).await?;
        let queue = |name| LocalQueue::named(store.pool().clone(), name).expect("a local queue");
        let queues = StageQueues {
            processor: queue("processor"),
            invite: queue("invite"),
            payout: queue("payout"),
            lifecycle: queue("lifecycle"),
        };
        let admission = queue("admission");
        let chain = Chain {
            settings: chain_settings(&env, secret, directory)?,
            store,
            queues,
            admission,
            telegram,
            bot,
        };
        chain
            .serve(addr, true, &format!("SQLite file {}", path.display()))
            .await
    }
}

/// The deployed functions' defaults, with the lifecycle's settings from the environment.
fn chain_settings(
    env: &ProcessEnvironment,
    secret: IpnSecret,
    directory: ChannelDirectory,
) -> anyhow::Result<ChainSettings> {
    Ok(ChainSettings {
        lifecycle: config::lifecycle_settings(env)?,
        lifecycle_texts: config::lifecycle_texts(env),
        ..ChainSettings::new(secret, directory)
    })
}

/// The bot's settings and its invoice API (the real one, or the fake NOWPayments).
struct LocalBot {
    setup: BotSetup,
    invoices: NowPaymentsInvoices,
    /// Kept running while the local run lives.
    _fake_nowpayments: Option<FakeNowPayments>,
}

async fn bot_settings(
    env: &ProcessEnvironment,
    port: u16,
    directory: ChannelDirectory,
    ipn_secret: &str,
    fake_port: &FakePort<'_>,
) -> anyhow::Result<LocalBot> {
    let secret = match env
        .get(config::BOT_WEBHOOK_SECRET)
        .filter(|s| !s.trim().is_empty())
    {
        Some(secret) => WebhookSecret::new(secret).context(config::BOT_WEBHOOK_SECRET)?,
        None => WebhookSecret::new(DEMO_WEBHOOK_SECRET).expect("a valid demo secret"),
    };
    let (invoices, fake) = match env
        .get(config::NOWPAYMENTS_API_KEY)
        .and_then(NowPaymentsApiKey::new)
    {
        Some(key) => {
            let url = env
                .get(config::NOWPAYMENTS_API_URL)
                .filter(|u| !u.is_empty());
            (NowPaymentsInvoices::new(key, url.as_deref())?, None)
        }
        None => {
            let (wanted, explicit) = fake_port("FAKE_NOWPAYMENTS_PORT", 2)?;
            let start =
                |port| FakeNowPayments::start_on(loopback(port), DEMO_NOWPAYMENTS_KEY, ipn_secret);
            let fake = match start(wanted).await {
                Ok(fake) => fake,
                Err(_) if !explicit => {
                    let fake = start(0).await.context("starting the fake NOWPayments")?;
                    println!(
                        "port {wanted} is busy: FAKE_NOWPAYMENTS_PORT={} for make demo-buy",
                        fake.port()
                    );
                    fake
                }
                Err(e) => {
                    return Err(e)
                        .context(format!("starting the fake NOWPayments on port {wanted}"));
                }
            };
            println!(
                "fake NOWPayments on {} (pay an invoice: POST /fake/pay/<invoice id>)",
                fake.url()
            );
            let key = NowPaymentsApiKey::new(DEMO_NOWPAYMENTS_KEY).expect("not empty");
            (
                NowPaymentsInvoices::new(key, Some(&fake.url()))?,
                Some(fake),
            )
        }
    };
    let ipn_callback_url = env
        .get(config::IPN_CALLBACK_URL)
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| format!("http://127.0.0.1:{port}/np-webhook"));
    Ok(LocalBot {
        setup: BotSetup {
            secret,
            directory,
            texts: match env.get(config::BOT_TEXTS).filter(|t| !t.trim().is_empty()) {
                Some(json) => BotTexts::from_json(&json)?,
                None => BotTexts::default(),
            },
            settings: config::lifecycle_settings(env)?,
            urls: InvoiceUrls {
                ipn_callback_url,
                success_url: env
                    .get(config::PAYMENT_SUCCESS_URL)
                    .filter(|u| !u.trim().is_empty()),
            },
            timing: BotTiming::default(),
        },
        invoices,
        _fake_nowpayments: fake,
    })
}

struct Chain<S, Q> {
    settings: ChainSettings,
    store: S,
    queues: StageQueues<Q>,
    /// The bot's delayed join-request re-checks.
    admission: Q,
    telegram: BotApiInviter,
    bot: LocalBot,
}

type LocalFrontDoor<S, Q> = BotFrontDoor<S, BotApiInviter, NowPaymentsInvoices, Q, Q>;

impl<S, Q> Chain<S, Q>
where
    S: PaymentStore + BotStore + Clone + 'static,
    Q: MessageQueue + TaskQueue + RetryDelay + DelayedQueue + BatchSource + Clone + 'static,
{
    async fn serve(
        self,
        addr: SocketAddr,
        consume_payouts: bool,
        backend: &str,
    ) -> anyhow::Result<()> {
        let queues = self.queues.clone();
        let LocalBot {
            setup,
            invoices,
            _fake_nowpayments,
        } = self.bot;
        let front_door: Arc<LocalFrontDoor<S, Q>> = Arc::new(BotFrontDoor::new(
            setup,
            self.store.clone(),
            self.telegram.clone(),
            invoices,
            self.admission.clone(),
            self.queues.invite.clone(),
        ));
        let stages = Stages::wire(self.settings, self.store, self.queues, self.telegram);
        let webhook = Arc::new(stages.webhook);
        let processor = Arc::new(stages.processor);
        let sender = Arc::new(stages.invite_sender);
        let sweeper = stages.sweeper;
        let lifecycle = Arc::new(stages.lifecycle);

        // The scheduled sweeper, in-process.
        let sweep_every = ProcessEnvironment
            .get("TELEPAY_LOCAL_SWEEP_EVERY_S")
            .and_then(|s| s.parse().ok())
            .map_or(DEFAULT_SWEEP_EVERY, Duration::from_secs);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(sweep_every);
            loop {
                ticks.tick().await;
                let until = sweeper.clock.now()
                    + chrono::TimeDelta::from_std(sweep_every).unwrap_or_default();
                if let Err(err) = sweeper.sweep_until(until).await {
                    tracing::warn!(error = %err, "subscription sweep failed; the next one tries again");
                }
            }
        });
        let lifecycle_queue = queues.lifecycle;
        let lifecycle_delays = lifecycle_queue.clone();
        let pacer = Arc::new(Pacer::per_second(DEFAULT_TASKS_PER_SECOND));
        tokio::spawn(consume(
            lifecycle_queue,
            5,
            LIFECYCLE_TIMEOUT,
            move |event| {
                let (lifecycle, delays, pacer) =
                    (lifecycle.clone(), lifecycle_delays.clone(), pacer.clone());
                async move {
                    infallible(
                        subscription_lifecycle::handle(&lifecycle, &pacer, &delays, event).await,
                    )
                }
            },
        ));

        let workers = ProcessEnvironment
            .get("TELEPAY_LOCAL_CONCURRENCY")
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_CONCURRENCY);
        spawn_consumers(
            workers,
            queues.processor,
            10,
            PROCESSOR_TIMEOUT,
            move |event| {
                let processor = processor.clone();
                async move { infallible(payment_processor::handle(&processor, event).await) }
            },
        );
        let invite_queue = queues.invite;
        let delays = invite_queue.clone();
        spawn_consumers(workers, invite_queue, 5, INVITE_TIMEOUT, move |event| {
            let (sender, delays) = (sender.clone(), delays.clone());
            async move { infallible(invite_sender::handle(&sender, &delays, event).await) }
        });
        if consume_payouts {
            // Stands in for the payout service, keeping its contract: dedupe on payment_id
            // (in memory: this stand-in forgets on restart, a real consumer must not).
            let paid = Arc::new(Mutex::new(HashSet::new()));
            tokio::spawn(consume(
                queues.payout,
                10,
                PROCESSOR_TIMEOUT,
                move |event| {
                    let paid = paid.clone();
                    async move {
                        for message in &event.payload.records {
                            let body = message.body.as_deref().unwrap_or_default();
                            let instruction = serde_json::from_str::<PayoutInstruction>(body);
                            match instruction {
                                Ok(i) if !paid.lock().unwrap().insert(i.payment_id) => {
                                    info!(
                                        payment_id = i.payment_id.get(),
                                        "duplicate payout instruction dropped"
                                    );
                                }
                                _ => println!("[payout] {body}"),
                            }
                        }
                        SqsBatchResponse::default()
                    }
                },
            ));
        }

        // Join requests waiting for their payment, re-checked after their delay.
        let checker = front_door.clone();
        let admission_queue = self.admission;
        let admission_delays = admission_queue.clone();
        let clock = telepay_core::clock::system_clock();
        tokio::spawn(consume(
            admission_queue,
            10,
            PROCESSOR_TIMEOUT,
            move |event| {
                let (checker, delays, clock) =
                    (checker.clone(), admission_delays.clone(), clock.clone());
                async move {
                    let mut results = Vec::new();
                    for message in &event.payload.records {
                        let body = message.body.as_deref().unwrap_or_default();
                        results.push((
                            message,
                            checker.admission().recheck(body, clock.now()).await,
                        ));
                    }
                    telepay_shared::batch::batch_response(results, &delays).await
                }
            },
        ));

        let app = Router::new()
            .route("/np-webhook", any(receive_ipn::<S, Q>))
            .with_state(webhook)
            .merge(
                Router::new()
                    .route("/telegram-webhook", any(receive_update::<S, Q>))
                    .with_state(front_door),
            );
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        println!(
            "TelePay local run: POST http://{addr}/np-webhook and http://{addr}/telegram-webhook  (store and queues: {backend})"
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                tokio::signal::ctrl_c().await.ok();
            })
            .await?;
        Ok(())
    }
}

/// The handlers' responses cannot fail (their error type is `Infallible`).
fn infallible<T>(result: Result<T, std::convert::Infallible>) -> T {
    match result {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

async fn receive_ipn<S: IngressStore + SubscriptionStore, Q: MessageQueue>(
    State(webhook): State<Arc<PaymentWebhook<S, Q>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let event = gateway::api_gateway_event(&method, &uri, &headers, &body);
    let request = gateway::lambda_request(&event);
    let response = infallible(np_webhook::handle(&webhook, request).await);
    gateway::http_response(response)
}

async fn receive_update<S, Q>(
    State(bot): State<Arc<LocalFrontDoor<S, Q>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response
where
    S: PaymentStore + BotStore,
    Q: MessageQueue + DelayedQueue,
{
    let event = gateway::api_gateway_event(&method, &uri, &headers, &body);
    let request = gateway::lambda_request(&event);
    let response = infallible(bot_webhook::handle(&bot, request).await);
    gateway::http_response(response)
}

/// A fake's port by its variable and its offset from PORT: (port, set explicitly).
type FakePort<'a> = dyn Fn(&str, u16) -> anyhow::Result<(u16, bool)> + 'a;

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
