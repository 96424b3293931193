//! Serving the chain: the payment stages and the bot wired once, each queue consumed as
//! Lambda's event source mapping would, the scheduled jobs on timers, and the two
//! webhooks (`/np-webhook`, `/telegram-webhook`) with `/healthz`, `/readyz` and
//! `/metrics` on one HTTP listener until Ctrl-C or SIGTERM, which stops new work and
//! waits (bounded) for the queues' work in hand.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::backends::{LocalQueues, LocalStore};
use crate::consumer::{consume, spawn_consumers};
use anyhow::Context;
use aws_lambda_events::event::sqs::SqsBatchResponse;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use telepay_core::access::{LifecycleWorker, Pacer, SubscriptionSweeper};
use telepay_core::bot::paced::PacedMenus;
use telepay_core::bot::{AdmissionStage, BotFrontDoor};
use telepay_core::chain::{BotStages, ChainSettings, StageQueues, Stages};
use telepay_core::invite::InviteSender;
use telepay_core::polling::UpdatePoller;
use telepay_core::processor::PaymentProcessor;
use telepay_core::queue::{DelayedQueue, MessageQueue, PayoutInstruction};
use telepay_core::store::{
    BotStore, IngressStore, OperatorStore, PaymentStore, PaymentWatchStore, PurchasePartsStore,
    SubscriptionStore,
};
use telepay_core::webhook::PaymentWebhook;
use telepay_shared::config::{Environment, ProcessEnvironment};
use telepay_shared::nowpayments::NowPaymentsInvoices;
use telepay_shared::telegram::TelegramBotApi;
use tracing::info;

use crate::fakes::LocalBot;

/// How long a consumer invocation may take: the functions' timeouts in `template.yaml`.
const PROCESSOR_TIMEOUT: Duration = Duration::from_secs(30);
const INVITE_TIMEOUT: Duration = Duration::from_secs(60);
const LIFECYCLE_TIMEOUT: Duration = Duration::from_secs(150);

/// How often the local run sweeps (the deployed sweeper runs every 5 minutes): often
/// enough to watch a demo tier of a few minutes run out.
const DEFAULT_SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Invocations at once per payment queue (processor, invite), as Lambda scales an SQS
/// event source mapping out; `TELEPAY_LOCAL_CONCURRENCY` overrides it.
const DEFAULT_CONCURRENCY: usize = 4;

pub struct Chain<S, Q> {
    pub settings: ChainSettings,
    pub store: S,
    pub queues: StageQueues<Q>,
    /// The bot's delayed join-request re-checks.
    pub admission: Q,
    pub telegram: TelegramBotApi,
    pub bot: LocalBot,
    pub jobs: crate::scheduled::ServerJobs<S, Q>,
    pub metrics: PrometheusHandle,
    /// The bot's updates by `getUpdates` (no public bot URL) instead of the webhook.
    pub polling: bool,
}

/// The bot's messages take the spare turns of the server's one pace (`PacedMenus`).
type LocalFrontDoor<S, Q> = BotFrontDoor<S, PacedMenus<TelegramBotApi>, NowPaymentsInvoices, Q, Q>;

impl<S: LocalStore, Q: LocalQueues> Chain<S, Q> {
    /// Wires every stage once, starts each queue's consumers and the sweeper, and serves
    /// the two webhooks until Ctrl-C. `consume_payouts`: stand in for the payout service.
    pub async fn serve(
        self,
        addr: SocketAddr,
        consume_payouts: bool,
        backend: &str,
    ) -> anyhow::Result<()> {
        let rate = messages_per_second()?;
        // One process sends all of the bot's messages: one pace for all of them, invites
        // first, reminders and removals in the turns left, the bot's menus only in turns
        // nobody booked.
        let pace = Arc::new(rate.map_or_else(Pacer::unlimited, Pacer::per_second));
        let LocalBot {
            setup,
            invoices,
            _fake_nowpayments,
        } = self.bot;
        let bot = BotStages::wire(
            setup,
            self.store.clone(),
            PacedMenus::new(self.telegram.clone(), pace.clone()),
            invoices,
            self.admission.clone(),
            self.queues.invite.clone(),
            self.queues.processor.clone(),
            self.settings.clock.clone(),
        );
        let queues = self.queues.clone();
        let front_door = Arc::new(bot.front_door);
        if self.polling {
            let poller = UpdatePoller::new(
                self.store.clone(),
                self.telegram.clone(),
                front_door.clone(),
            );
            spawn_poller(poller);
        }
        let watched = Watched {
            store: self.store.clone(),
            queues: vec![
                ("processor", queues.processor.clone()),
                ("invite", queues.invite.clone()),
                ("payout", queues.payout.clone()),
                ("lifecycle", queues.lifecycle.clone()),
                ("admission", self.admission.clone()),
            ],
            metrics: self.metrics,
        };
        crate::scheduled::spawn(self.jobs, self.store.clone())?;
        let stages = Stages::wire(self.settings, self.store, self.queues, self.telegram);
        spawn_sweeper(stages.sweeper);
        spawn_lifecycle(stages.lifecycle, queues.lifecycle, pace.clone());
        let workers = ProcessEnvironment
            .get("TELEPAY_LOCAL_CONCURRENCY")
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_CONCURRENCY);
        spawn_processors(workers, stages.processor, queues.processor);
        spawn_invite_senders(workers, stages.invite_sender, queues.invite, pace, rate);
        if consume_payouts {
            spawn_payout_stand_in(queues.payout);
        }
        spawn_admission_rechecks(bot.admission, self.admission);
        listen(addr, stages.webhook, front_door, watched, backend).await?;
        // The listener answered what it had; now the queues' work in hand.
        match crate::consumer::drain(DRAIN_BOUND).await {
            0 => println!("TelePay stopped: all work in hand finished"),
            left => println!(
                "TelePay stopped: {left} batch(es) still in hand after {DRAIN_BOUND:?} come back after their visibility timeout"
            ),
        }
        Ok(())
    }
}

/// The bot's one poller: the webhook removed, then rounds of `getUpdates` until a stop.
fn spawn_poller<S: LocalStore, Q: LocalQueues>(
    poller: UpdatePoller<S, TelegramBotApi, Arc<LocalFrontDoor<S, Q>>>,
) {
    tokio::spawn(async move {
        while let Err(err) = poller.start().await {
            tracing::warn!(error = %err, "could not remove the bot's webhook for polling; trying again");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        poller.run(crate::consumer::stopping()).await;
    });
}

/// The scheduled sweeper, in-process (`TELEPAY_LOCAL_SWEEP_EVERY_S`).
fn spawn_sweeper<S: LocalStore, Q: LocalQueues>(sweeper: SubscriptionSweeper<S, Q>) {
    let sweep_every = ProcessEnvironment
        .get("TELEPAY_LOCAL_SWEEP_EVERY_S")
        .and_then(|s| s.parse().ok())
        .map_or(DEFAULT_SWEEP_EVERY, Duration::from_secs);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(sweep_every);
        loop {
            ticks.tick().await;
            let until =
                sweeper.clock.now() + chrono::TimeDelta::from_std(sweep_every).unwrap_or_default();
            if let Err(err) = sweeper.sweep_until(until).await {
                tracing::warn!(error = %err, "subscription sweep failed; the next one tries again");
            }
        }
    });
}

/// Telegram lets a bot send about 30 messages a second; the server keeps just below it
/// so a flash sale's invites are not refused (`TELEPAY_MESSAGES_PER_SECOND`, 1–30,
/// default 28; 0 unpaced, for benchmarks against a fake that does not pace).
const DEFAULT_MESSAGES_PER_SECOND: u32 = 28;

/// The pace, read once; a value outside 0–30 stops the start (a typo must not unpace
/// the bot into Telegram's 429s).
fn messages_per_second() -> anyhow::Result<Option<u32>> {
    let Some(set) = ProcessEnvironment.get("TELEPAY_MESSAGES_PER_SECOND") else {
        return Ok(Some(DEFAULT_MESSAGES_PER_SECOND));
    };
    match set.trim().parse::<u32>() {
        Ok(0) => Ok(None),
        Ok(rate) if rate <= 30 => Ok(Some(rate)),
        _ => anyhow::bail!(
            "TELEPAY_MESSAGES_PER_SECOND: messages a second, 1 to 30 (Telegram's limit), or 0 for unpaced; got {set:?}"
        ),
    }
}

/// Reminders, removals and end notices, at the server's one pace.
fn spawn_lifecycle<S: LocalStore, Q: LocalQueues>(
    lifecycle: LifecycleWorker<S, TelegramBotApi>,
    queue: Q,
    pacer: Arc<Pacer>,
) {
    let lifecycle = Arc::new(lifecycle);
    let delays = queue.clone();
    tokio::spawn(consume(queue, 5, LIFECYCLE_TIMEOUT, move |event| {
        let (lifecycle, delays, pacer) = (lifecycle.clone(), delays.clone(), pacer.clone());
        async move {
            infallible(subscription_lifecycle::handle(&lifecycle, &pacer, &delays, event).await)
        }
    }));
}

fn spawn_processors<S: LocalStore, Q: LocalQueues>(
    workers: usize,
    processor: PaymentProcessor<S, Q, Q, TelegramBotApi>,
    queue: Q,
) {
    let processor = Arc::new(processor);
    spawn_consumers(workers, queue, 10, PROCESSOR_TIMEOUT, move |event| {
        let processor = processor.clone();
        async move { infallible(payment_processor::handle(&processor, event).await) }
    });
}

/// The invite consumers, each batch waiting for its messages' turns at the server's one
/// pace: the invites of a flash sale go out at Telegram's rate instead of into its 429s.
fn spawn_invite_senders<S: LocalStore, Q: LocalQueues>(
    workers: usize,
    sender: InviteSender<S, TelegramBotApi>,
    queue: Q,
    pacer: Arc<Pacer>,
    rate: Option<u32>,
) {
    let sender = Arc::new(sender);
    let delays = queue.clone();
    // Paced, one message a batch: each waits for its own turn, none goes out in a burst.
    let batch = if rate.is_some() { 1 } else { 5 };
    spawn_consumers(workers, queue, batch, INVITE_TIMEOUT, move |event| {
        let (sender, delays, pacer) = (sender.clone(), delays.clone(), pacer.clone());
        async move {
            for _ in &event.payload.records {
                pacer.wait_turn().await;
            }
            infallible(invite_sender::handle(&sender, &delays, event).await)
        }
    });
}

/// Stands in for the payout service, keeping its contract: dedupe on payment_id (in
/// memory: this stand-in forgets on restart, a real consumer must not).
fn spawn_payout_stand_in<Q: LocalQueues>(queue: Q) {
    let paid = Arc::new(Mutex::new(HashSet::new()));
    tokio::spawn(consume(queue, 10, PROCESSOR_TIMEOUT, move |event| {
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
    }));
}

/// Join requests waiting for their payment, re-checked after their delay by
/// admission-recheck's handler.
fn spawn_admission_rechecks<S: LocalStore, Q: LocalQueues>(
    stage: AdmissionStage<S, PacedMenus<TelegramBotApi>, Q>,
    queue: Q,
) {
    let stage = Arc::new(stage);
    tokio::spawn(consume(queue, 10, PROCESSOR_TIMEOUT, move |event| {
        let stage = stage.clone();
        async move {
            let admission = stage.admission();
            infallible(admission_recheck::handle(&admission, &stage.clock, event).await)
        }
    }));
}

/// How long a stop waits for the queues' work in hand.
const DRAIN_BOUND: Duration = Duration::from_secs(10);

/// What `/readyz` and `/metrics` look at: the store, the queues, the metrics recorder.
struct Watched<S, Q> {
    store: S,
    queues: Vec<(&'static str, Q)>,
    metrics: PrometheusHandle,
}

/// The two webhooks, the health checks and the metrics on one listener, until Ctrl-C or
/// SIGTERM.
async fn listen<S: LocalStore, Q: LocalQueues>(
    addr: SocketAddr,
    webhook: PaymentWebhook<S, Q>,
    front_door: Arc<LocalFrontDoor<S, Q>>,
    watched: Watched<S, Q>,
    backend: &str,
) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/np-webhook", any(receive_ipn::<S, Q>))
        .with_state(Arc::new(webhook))
        .merge(
            Router::new()
                .route("/telegram-webhook", any(receive_update::<S, Q>))
                .with_state(front_door),
        )
        // Alive: the process answers. Ready: its store and queues answer a read.
        .route(
            "/healthz",
            get(|| async { Json(json!({"status": "alive"})) }),
        )
        .merge(
            Router::new()
                .route("/readyz", get(readiness::<S, Q>))
                .route("/metrics", get(prometheus::<S, Q>))
                .with_state(Arc::new(watched)),
        );
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    println!(
        "TelePay: POST http://{addr}/np-webhook and http://{addr}/telegram-webhook; GET /healthz, /readyz, /metrics  (store and queues: {backend})"
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal())
        .await?;
    Ok(())
}

/// Ctrl-C, or SIGTERM (what systemd, Docker and Kubernetes send to stop a service).
async fn stop_signal() {
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        } => {}
    }
    println!("TelePay stopping: no new work taken");
}

/// 200 when the store and every queue answer a read, 503 naming what did not.
async fn readiness<S: LocalStore, Q: LocalQueues>(
    State(watched): State<Arc<Watched<S, Q>>>,
) -> (StatusCode, Json<serde_json::Value>) {
    let mut answer = serde_json::Map::new();
    let mut ready = true;
    let store = match watched.store.latest_catalog().await {
        Ok(_) => "ok".to_owned(),
        Err(err) => {
            ready = false;
            err.to_string()
        }
    };
    answer.insert("store".into(), store.into());
    for (name, queue) in &watched.queues {
        let state = match queue.depth().await {
            Ok(_) => "ok".to_owned(),
            Err(err) => {
                ready = false;
                err.to_string()
            }
        };
        answer.insert(format!("{name}_queue"), state.into());
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(answer.into()))
}

/// The Prometheus text exposition: every metric the stages record (the functions'
/// CloudWatch names), and each queue's depth read now (`QueueDepth{queue=...}`).
async fn prometheus<S: LocalStore, Q: LocalQueues>(
    State(watched): State<Arc<Watched<S, Q>>>,
) -> Response {
    for (name, queue) in &watched.queues {
        if let Ok(depth) = queue.depth().await {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!(QUEUE_DEPTH, "queue" => *name).set(depth as f64);
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        watched.metrics.render(),
    )
        .into_response()
}

/// The gauge of each queue's messages (visible, delayed or in flight).
const QUEUE_DEPTH: &str = "QueueDepth";

/// The handlers' responses cannot fail (their error type is `Infallible`).
fn infallible<T>(result: Result<T, std::convert::Infallible>) -> T {
    match result {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

async fn receive_ipn<
    S: IngressStore + OperatorStore + SubscriptionStore + PaymentWatchStore + PurchasePartsStore,
    Q: MessageQueue,
>(
    State(webhook): State<Arc<PaymentWebhook<S, Q>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let event = crate::gateway::api_gateway_event(&method, &uri, &headers, &body);
    let request = crate::gateway::lambda_request(&event);
    let response = infallible(np_webhook::handle(&webhook, request).await);
    crate::gateway::http_response(response)
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
    let event = crate::gateway::api_gateway_event(&method, &uri, &headers, &body);
    let request = crate::gateway::lambda_request(&event);
    let response = infallible(bot_webhook::handle(&bot, request).await);
    crate::gateway::http_response(response)
}
