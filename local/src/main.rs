//! `telepay-local`: the whole chain in one process, hosting the three handlers exactly as
//! Lambda calls them. By default everything is embedded: the SQLite store and queues in
//! one file (a restart loses no payment and no queued message) and, without
//! `TELEGRAM_BOT_TOKEN`, the in-repo fake Bot API, which prints each invite it would send.
//! With `--aws`: DynamoDB and SQS through the normal SDK configuration
//! (`AWS_ENDPOINT_URL` for moto), consumed as the Lambda event source mapping does.

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
use consumer::{BatchSource, consume};
use fake_bot_api::FakeBotApi;
use telepay_core::chain::{ChainSettings, StageQueues, Stages};
use telepay_core::directory::ChannelDirectory;
use telepay_core::fixtures::{SAMPLE_DIRECTORY, SAMPLE_IPN_SECRET};
use telepay_core::queue::{MessageQueue, PayoutInstruction, RetryDelay, TaskQueue};
use telepay_core::signature::IpnSecret;
use telepay_core::store::{IngressStore, PaymentStore, SubscriptionStore};
use telepay_core::subscription::{DEFAULT_TASKS_PER_SECOND, Pacer};
use telepay_core::webhook::PaymentWebhook;
use telepay_shared::aws::{consumer_timeouts, load_sdk_config};
use telepay_shared::config::{
    self, CHANNEL_DIRECTORY, CHANNEL_DIRECTORY_FILE, Environment, ProcessEnvironment, StoreConfig,
};
use telepay_shared::local_queue::{LocalQueue, create_local_queues};
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
/// How often the local run sweeps (the deployed sweeper runs every 5 minutes): often
/// enough to watch a demo tier of a few minutes run out.
const DEFAULT_SWEEP_EVERY: Duration = Duration::from_secs(10);

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
    let secret = match env.get(config::IPN_SECRET).filter(|s| !s.trim().is_empty()) {
        Some(secret) => IpnSecret::new(secret)?,
        None => {
            info!("TELEPAY_IPN_SECRET not set: using the demo secret {SAMPLE_IPN_SECRET:?}");
            IpnSecret::new(SAMPLE_IPN_SECRET)?
        }
    };
    let directory = if env.get(CHANNEL_DIRECTORY).is_some()
        || env.get(CHANNEL_DIRECTORY_FILE).is_some()
    {
        config::channel_directory(&env)?
    } else {
        info!("no channel directory configured: using the demo channel -1003111266231 at 3.21 usd");
        ChannelDirectory::from_json(SAMPLE_DIRECTORY)?
    };

    // Without a token, the fake Bot API stands in for Telegram and prints each invite.
    let (telegram, _fake) = match env.get(config::BOT_TOKEN).and_then(BotToken::new) {
        Some(token) => {
            let api_url = env.get(config::API_URL).filter(|u| !u.is_empty());
            (BotApiInviter::new(token, api_url.as_deref())?, None)
        }
        None => {
            let fake =
                FakeBotApi::start_on("127.0.0.1:0".parse()?, "local-demo-token", true).await?;
            info!(url = %fake.url(), "TELEGRAM_BOT_TOKEN not set: invites go to the fake Bot API and are printed");
            // As Telegram does: about 30 messages a second, one per second per chat.
            fake.enforce_pace();
            let token = BotToken::new("local-demo-token").expect("not empty");
            (BotApiInviter::new(token, Some(&fake.url()))?, Some(fake))
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    if args.aws {
        let store_config = StoreConfig::with_subscriptions_from_env(&env)?;
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
            telegram,
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
        let chain = Chain {
            settings: chain_settings(&env, secret, directory)?,
            store,
            queues,
            telegram,
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

struct Chain<S, Q> {
    settings: ChainSettings,
    store: S,
    queues: StageQueues<Q>,
    telegram: BotApiInviter,
}

impl<S, Q> Chain<S, Q>
where
    S: PaymentStore + Clone + 'static,
    Q: MessageQueue + TaskQueue + RetryDelay + BatchSource + Clone + 'static,
{
    async fn serve(
        self,
        addr: SocketAddr,
        consume_payouts: bool,
        backend: &str,
    ) -> anyhow::Result<()> {
        let queues = self.queues.clone();
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

        tokio::spawn(consume(
            queues.processor,
            10,
            PROCESSOR_TIMEOUT,
            move |event| {
                let processor = processor.clone();
                async move { infallible(payment_processor::handle(&processor, event).await) }
            },
        ));
        let invite_queue = queues.invite;
        let delays = invite_queue.clone();
        tokio::spawn(consume(invite_queue, 5, INVITE_TIMEOUT, move |event| {
            let (sender, delays) = (sender.clone(), delays.clone());
            async move { infallible(invite_sender::handle(&sender, &delays, event).await) }
        }));
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

        let app = Router::new()
            .route("/np-webhook", any(receive_ipn::<S, Q>))
            .with_state(webhook);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        println!("TelePay local run: POST http://{addr}/np-webhook  (store and queues: {backend})");
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
