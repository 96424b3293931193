//! The chain driven by the schedule: NOWPayments' deliveries with retries, the
//! SQS-triggered consumers, the reconciler on its schedule, then quiescence and the
//! final sweep.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use chrono::TimeDelta;
use fake_bot_api::FakeBotApi;
use serde_json::{Value, json};
use telepay_core::catalog::{Applied, Catalog, LiveCatalog, apply};
use telepay_core::chain::{ChainSettings, StageQueues, Stages};
use telepay_core::clock::ManualClock;
use telepay_core::fixtures::{SAMPLE_CHANNEL_ID, SAMPLE_IPN_SECRET};
use telepay_core::invite::{InviteSender, InviteSettings, MessageTemplate};
use telepay_core::processor::PaymentProcessor;
use telepay_core::reconcile::Reconciler;
use telepay_core::recovery::{PaymentRecovery, RecoverySettings};
use telepay_core::signature::IpnSecret;
use telepay_core::store::ports::*;
use telepay_core::webhook::{PaymentIngress, PaymentWebhook};
use telepay_shared::sqs_event::sqs_batch;
use telepay_shared::telegram::{BotToken, TelegramBotApi};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::decorators::{ChaosQueue, ChaosStore, ChaosTelegram};
use super::dice::{Dice, tag};
use super::faults::{Chaos, Stage, invoke};
use super::nowpayments::ChaosNowPayments;
use super::sim_sqs::SimQueue;

use super::ChaosConfig;
use super::report::{self, Report, RunFigures};
use super::schedule::*;

/// The chain, wired as in Lambda around one store backend.
struct Chain<S> {
    config: ChaosConfig,
    chaos: Arc<Chaos>,
    store: ChaosStore<S>,
    secret: IpnSecret,
    webhook: PaymentWebhook<ChaosStore<S>, ChaosQueue>,
    processor:
        PaymentProcessor<ChaosStore<S>, ChaosQueue, ChaosQueue, ChaosTelegram<TelegramBotApi>>,
    invite_sender: InviteSender<ChaosStore<S>, ChaosTelegram<TelegramBotApi>>,
    reconciler: Reconciler<ChaosStore<S>, ChaosQueue, ChaosQueue>,
    /// The reconciler's recovery pass (lost IPNs), on its schedule.
    recovery: PaymentRecovery<ChaosStore<S>, ChaosQueue, ChaosNowPayments>,
    /// The same, asking again at once: what the final sweep runs until every watch is
    /// settled.
    final_recovery: PaymentRecovery<ChaosStore<S>, ChaosQueue, ChaosNowPayments>,
    /// Payments the recovery pass brought in.
    recovered: AtomicU64,
    processor_queue: Arc<SimQueue>,
    invite_queue: Arc<SimQueue>,
    payout_queue: Arc<SimQueue>,
    in_flight: Semaphore,
    /// Webhook deliveries NOWPayments gave up on after its last retry.
    np_gave_up: AtomicU64,
    /// Forged or tampered deliveries answered 2xx.
    forged_answered_ok: AtomicU64,
    forged_sent: AtomicU64,
    requeued: AtomicU64,
    /// Catalog versions applied during the run (price changes), and applies a store
    /// fault refused (tried again at the next change).
    catalog_applied: AtomicU64,
    catalog_apply_failed: AtomicU64,
}

/// How long a top-up buyer waits to be told of their short payment before giving up.
const TOPUP_WAIT: Duration = Duration::from_secs(60);

/// Runs the schedule of `config` against `store` and reports.
pub async fn run<S: PaymentStore + 'static>(
    backend: &str,
    store: S,
    config: ChaosConfig,
) -> Report {
    let started = Instant::now();
    let dice = Dice::new(config.seed);
    let chaos = Arc::new(Chaos::new(dice, config.rates.clone()));
    let fake = Arc::new(FakeBotApi::start(BOT_TOKEN).await);
    fake.set_policy(Box::new(telegram_policy(
        chaos.clone(),
        config.call_timeout,
    )));
    let plans: Vec<PaymentPlan> = (0..config.payments as u64)
        .map(|i| PaymentPlan::new(&dice, i))
        .collect();
    // Every invoice was made at version 1; the price rose (version 2) before the first
    // IPN arrives.
    let now = chrono::Utc::now();
    for (version, price) in [(INVOICE_VERSION, PRICE), (INVOICE_VERSION + 1, PRICE + 1.0)] {
        let applied = apply(&store, &catalog_at(price), "chaos", now).await;
        assert!(
            matches!(applied, Ok(Applied::Now { version: v, .. }) if v == version),
            "{applied:?}"
        );
    }
    let chain = Arc::new(Chain::new(
        store,
        &fake,
        chaos.clone(),
        config.clone(),
        &plans,
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let mut consumers = JoinSet::new();
    for worker in 0..config.consumers {
        consumers.spawn(
            chain
                .clone()
                .consume(Stage::Processor, stop.clone(), worker),
        );
        consumers.spawn(
            chain
                .clone()
                .consume(Stage::InviteSender, stop.clone(), worker),
        );
    }
    consumers.spawn(chain.clone().reconcile_on_schedule(stop.clone()));
    consumers.spawn(chain.clone().change_prices(stop.clone()));
    let buyers = tokio::spawn(buyers(fake.clone(), chaos.clone(), stop.clone()));

    let mut nowpayments = JoinSet::new();
    for plan in plans.clone() {
        nowpayments.spawn(chain.clone().nowpayments(plan));
    }
    while nowpayments.join_next().await.is_some() {}
    let arrivals = started.elapsed();

    let final_rounds = chain.quiesce_and_reconcile().await;
    stop.store(true, Ordering::Relaxed);
    while consumers.join_next().await.is_some() {}
    // The last clicks land before Telegram's state is read.
    buyers.await.expect("the buyers' task");

    report::build(
        backend,
        &chain.store,
        &plans,
        &fake,
        &chain.chaos,
        &RunFigures {
            arrivals,
            scheduled_arrivals: config.arrival_interval * config.payments as u32,
            ..chain.figures(final_rounds)
        },
        started.elapsed(),
    )
    .await
}

/// The buyers: each reads every message it gets and clicks the link in it after a
/// seeded delay, joining the channel through the fake Bot API (which enforces the link's
/// limit, expiry and revocation); some buyers never click. Ends when the run has stopped
/// and every pending click has landed.
async fn buyers(fake: Arc<FakeBotApi>, chaos: Arc<Chaos>, stop: Arc<AtomicBool>) {
    let (dice, rates) = (chaos.dice, chaos.rates.clone());
    let mut seen = 0;
    let mut due: Vec<(Instant, String, i64)> = Vec::new();
    loop {
        let calls = fake.calls_from(seen);
        for (n, call) in calls.iter().enumerate() {
            if !call.delivered || call.method != "sendMessage" {
                continue;
            }
            let (Some(user), Some(link)) = (call.chat_id(), call.text().and_then(link_in)) else {
                continue;
            };
            let payment = payment_of_user(user);
            if !buyer_clicks(&dice, &rates, payment) {
                continue;
            }
            let key = [tag("click"), payment as u64, (seen + n) as u64];
            let delay_ms = dice.below(rates.click_delay_max.as_millis() as u64 + 1, &key);
            let at = Instant::now() + Duration::from_millis(delay_ms);
            due.push((at, link.to_owned(), user));
        }
        seen += calls.len();
        let now = Instant::now();
        due.retain(|(at, link, user)| {
            if *at > now {
                return true;
            }
            fake.join(link, *user, chrono::Utc::now().timestamp());
            false
        });
        if stop.load(Ordering::Relaxed) && due.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl<S: PaymentStore + 'static> Chain<S> {
    fn new(
        store: S,
        fake: &FakeBotApi,
        chaos: Arc<Chaos>,
        config: ChaosConfig,
        plans: &[PaymentPlan],
    ) -> Self {
        let store = ChaosStore::new(Arc::new(store), chaos.clone());
        // The catalog in force when the run starts (version 2), read again through the
        // faulty store as the functions do: a failed read keeps the version held, a
        // version an order names that cannot be read now is retried by NOWPayments.
        let in_force = Catalog::read(&catalog_at(PRICE + 1.0), INVOICE_VERSION + 1)
            .expect("the chaos catalog is valid");
        let catalog =
            LiveCatalog::following(in_force, Arc::new(store.clone()), Duration::from_millis(50));
        let dice = chaos.dice;
        let sqs = |name, visibility| {
            Arc::new(SimQueue::new(
                name,
                visibility,
                config.max_receives,
                config.rates.sqs_duplicate,
                dice,
            ))
        };
        let processor_queue = sqs("processor", config.processor_visibility);
        let invite_queue = sqs("invite", config.invite_visibility);
        let payout_queue = sqs("payout", Duration::from_secs(3600));
        let lifecycle_queue = sqs("lifecycle", Duration::from_secs(30));
        let queue = |q: &Arc<SimQueue>| ChaosQueue::new(q.clone(), chaos.clone());
        let secret = IpnSecret::new(SAMPLE_IPN_SECRET).unwrap();
        let telegram = TelegramBotApi::new(BotToken::new(BOT_TOKEN).unwrap(), Some(&fake.url()))
            .expect("the fake's URL");
        let settings = ChainSettings {
            invite: InviteSettings {
                call_timeout: config.call_timeout,
                lease_grace: config.lease_grace,
                link_ttl: config.link_ttl,
                // Names its payment: a buyer with two payments gets a message for each,
                // and the report tells them apart.
                message: MessageTemplate::new("Your invite: {link} (payment {payment_id})")
                    .expect("a template with {link}"),
                ..InviteSettings::default()
            },
            stuck_after: config.stuck_after,
            reconcile_batch: 1000,
            // Real time, movable: what subscriptions expiring mid-run will need.
            clock: ManualClock::following_system(),
            ..ChainSettings::new(secret.clone(), catalog)
        };
        // An invocation shorter than one message's worst case leaves every message
        // untouched: the run would never drain. Say so instead of hanging.
        assert!(
            settings.invite.time_per_message() <= config.invite_timeout,
            "invite_timeout {:?} is shorter than one message's worst case {:?}",
            config.invite_timeout,
            settings.invite.time_per_message()
        );
        let queues = StageQueues {
            processor: queue(&processor_queue),
            invite: queue(&invite_queue),
            payout: queue(&payout_queue),
            lifecycle: queue(&lifecycle_queue),
        };
        let clock = settings.clock.clone();
        let catalog = settings.catalog.clone();
        let telegram = ChaosTelegram::new(telegram, chaos.clone());
        let stages = Stages::wire(settings, store.clone(), queues, telegram);
        // Watches come due on the run's time scale, not in 20 minutes.
        let stuck_after = TimeDelta::from_std(config.stuck_after).unwrap();
        let webhook = stages.webhook.with_first_check_after(stuck_after);
        let recovery = |recheck_every| {
            let ingress =
                PaymentIngress::new(catalog.clone(), store.clone(), queue(&processor_queue))
                    .with_notice_queue(queue(&invite_queue))
                    .with_clock(clock.clone());
            let settings = RecoverySettings {
                recheck_every,
                give_up_after: Duration::from_secs(3600),
                lease: config.invite_visibility,
                batch: 1000,
                ..RecoverySettings::default()
            };
            PaymentRecovery::new(
                ingress,
                ChaosNowPayments::new(plans, chaos.clone()),
                settings,
            )
        };
        Self {
            recovery: recovery(Duration::from_secs(1)),
            final_recovery: recovery(Duration::ZERO),
            recovered: AtomicU64::new(0),
            webhook,
            processor: stages.processor,
            invite_sender: stages.invite_sender,
            reconciler: stages.reconciler,
            secret,
            store,
            processor_queue,
            invite_queue,
            payout_queue,
            in_flight: Semaphore::new(config.in_flight),
            np_gave_up: AtomicU64::new(0),
            forged_answered_ok: AtomicU64::new(0),
            forged_sent: AtomicU64::new(0),
            requeued: AtomicU64::new(0),
            catalog_applied: AtomicU64::new(0),
            catalog_apply_failed: AtomicU64::new(0),
            chaos,
            config,
        }
    }

    /// NOWPayments for one payment: earlier statuses, the finished IPN 1–5 times, each
    /// retried on a non-2xx answer or no answer, then abandoned. Forgeries go in between.
    async fn nowpayments(self: Arc<Self>, plan: PaymentPlan) {
        let dice = self.chaos.dice;
        let pause = |n: u64| {
            let ms = dice.below(60, &[tag("pause"), plan.payment_id as u64, n]);
            tokio::time::sleep(Duration::from_millis(ms))
        };
        let spread = self.config.arrival_interval.as_millis() as u64 * self.config.payments as u64;
        let start = dice.below(spread.max(1), &[tag("start"), plan.payment_id as u64]);
        tokio::time::sleep(Duration::from_millis(start)).await;
        if !plan.earlier_after_finished {
            for (n, status) in plan.earlier.iter().enumerate() {
                self.deliver(&plan, status, n as u64).await;
            }
        }
        let forgery_at = dice.below(
            plan.finished_copies + 1,
            &[tag("forgery at"), plan.payment_id as u64],
        );
        for copy in 0..plan.finished_copies.max(1) {
            if copy == forgery_at {
                self.forge(&plan).await;
            }
            pause(copy).await;
            if plan.kind != PaymentKind::ForgedOnly && !plan.ipns_lost {
                self.deliver(&plan, "finished", 10 + copy).await;
            }
        }
        if forgery_at == plan.finished_copies {
            self.forge(&plan).await;
        }
        if plan.earlier_after_finished {
            for (n, status) in plan.earlier.iter().enumerate() {
                self.deliver(&plan, status, 20 + n as u64).await;
            }
        }
        self.top_up(&plan).await;
    }

    /// A buyer who pays the rest: once told of the short payment (its hold's notice
    /// recorded, as a buyer reads the message first), the top-up invoice's finished IPN,
    /// 1–2 times, each with NOWPayments' retries.
    async fn top_up(&self, plan: &PaymentPlan) {
        let Some(topup_id) = plan.topup_id() else {
            return;
        };
        let first = telepay_core::ipn::PaymentId::new(plan.payment_id).unwrap();
        let deadline = tokio::time::Instant::now() + TOPUP_WAIT;
        loop {
            let told = self.store.notice_state(first).await.ok().flatten();
            if told.is_some_and(|state| state.told.is_some()) {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                self.chaos
                    .count("top-up never sent: the short payment was never told");
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let body = plan.topup_ipn("finished").expect("a top-up plan");
        let copies = 1 + self
            .chaos
            .dice
            .below(2, &[tag("topup copies"), topup_id as u64]);
        for copy in 0..copies {
            self.deliver_body(topup_id, &body, 30 + copy).await;
        }
    }

    /// One IPN, with NOWPayments' retries.
    async fn deliver(&self, plan: &PaymentPlan, status: &str, copy: u64) {
        self.deliver_body(plan.payment_id, &plan.ipn(status), copy)
            .await;
    }

    /// One IPN body of `payment_id`, with NOWPayments' retries.
    async fn deliver_body(&self, payment_id: i64, body: &str, copy: u64) {
        let signature = self.secret.sign(body.as_bytes());
        for attempt in 0..=u64::from(self.config.np_retries) {
            if attempt > 0 {
                let backoff = self.config.np_retry_interval * 2u32.pow(attempt as u32 - 1);
                tokio::time::sleep(backoff).await;
            }
            let key = [payment_id as u64, copy, attempt];
            if self.post(body, Some(&signature), &key).await == Some(true) {
                return;
            }
        }
        self.chaos.count("nowpayments gave up on a delivery");
        self.np_gave_up.fetch_add(1, Ordering::Relaxed);
    }

    /// The forged or tampered IPNs of a plan, each sent once.
    async fn forge(&self, plan: &PaymentPlan) {
        for (n, forgery) in plan.forgeries.iter().enumerate() {
            let genuine = plan.ipn("finished");
            let signature = self.secret.sign(genuine.as_bytes());
            let (body, header) = match forgery {
                Forgery::WrongSecret => {
                    let wrong = IpnSecret::new("not-the-ipn-secret").unwrap();
                    (genuine.clone(), Some(wrong.sign(genuine.as_bytes())))
                }
                Forgery::Unsigned => (genuine, None),
                Forgery::TruncatedSignature => (genuine, Some(signature[..64].to_owned())),
                Forgery::UppercaseSignature => (genuine, Some(signature.to_uppercase())),
                Forgery::SignatureOfAnotherBody => {
                    let other = ipn_body(
                        plan.payment_id + 1,
                        plan.user_id + 1,
                        "finished",
                        PRICE,
                        Value::Null,
                    );
                    (genuine, Some(self.secret.sign(other.as_bytes())))
                }
                Forgery::BuyerChangedAfterSigning => {
                    let attacker = ATTACKER_BASE + plan.user_id;
                    let order = format!("PGP-{attacker}|{SAMPLE_CHANNEL_ID}");
                    (tamper(&genuine, "order_id", json!(order)), Some(signature))
                }
                Forgery::PriceChangedAfterSigning => (
                    tamper(&genuine, "price_amount", json!(0.01)),
                    Some(signature),
                ),
            };
            self.forged_sent.fetch_add(1, Ordering::Relaxed);
            let key = [plan.payment_id as u64, 100 + n as u64, 0];
            if self.post(&body, header.as_deref(), &key).await == Some(true) {
                self.forged_answered_ok.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One POST through API Gateway to np-webhook: `Some(2xx?)`, or `None` when the
    /// invocation died without answering.
    async fn post(&self, body: &str, signature: Option<&str>, key: &[u64]) -> Option<bool> {
        let request = crate::ipn_request(body, signature, Some("application/json"));
        let _permit = self.in_flight.acquire().await.unwrap();
        let invocation = self.chaos.invocation(Stage::Webhook, key);
        let answer = invoke(
            invocation,
            Duration::from_secs(5),
            np_webhook::handle(&self.webhook, request),
        )
        .await;
        match answer {
            Ok(Ok(response)) => Some(response.status().is_success()),
            Ok(Err(never)) => match never {},
            Err(_) => None,
        }
    }

    async fn processor_invocation(&self, batch: Vec<SqsMessage>) -> SqsBatchResponse {
        let event = sqs_batch(batch, self.config.processor_timeout);
        let Ok(response) = payment_processor::handle(&self.processor, event).await;
        response
    }

    async fn invite_invocation(&self, batch: Vec<SqsMessage>) -> SqsBatchResponse {
        let event = sqs_batch(batch, self.config.invite_timeout);
        let Ok(response) =
            invite_sender::handle(&self.invite_sender, &*self.invite_queue, event).await;
        response
    }

    /// The event source mapping of `stage`'s queue: receive a batch, invoke, delete what
    /// succeeded. A crashed or timed-out invocation deletes nothing.
    async fn consume(self: Arc<Self>, stage: Stage, stop: Arc<AtomicBool>, worker: usize) {
        let (queue, timeout) = match stage {
            Stage::InviteSender => (&self.invite_queue, self.config.invite_timeout),
            _ => (&self.processor_queue, self.config.processor_timeout),
        };
        while !stop.load(Ordering::Relaxed) {
            let batch = queue.receive(self.config.batch_size);
            let Some(first) = batch.first() else {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            };
            let first_payment = first
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str::<Value>(b).ok())
                .and_then(|v| v["payment_id"].as_i64())
                .unwrap_or_default();
            let receives: u64 = first.attributes["ApproximateReceiveCount"]
                .parse()
                .unwrap_or_default();
            let key = [
                first_payment as u64,
                receives,
                batch.len() as u64,
                worker as u64,
            ];
            let invocation = self.chaos.invocation(stage, &key);
            let answered = match stage {
                Stage::InviteSender => {
                    invoke(invocation, timeout, self.invite_invocation(batch.clone())).await
                }
                _ => {
                    invoke(
                        invocation,
                        timeout,
                        self.processor_invocation(batch.clone()),
                    )
                    .await
                }
            };
            if let Ok(response) = answered {
                queue.settle(&batch, &response);
            }
        }
    }

    /// The reconciler's schedule while payments arrive.
    async fn reconcile_on_schedule(self: Arc<Self>, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(self.config.reconcile_every).await;
            if let Ok(report) = self.reconciler.reconcile().await {
                let requeued = report.requeued_processing + report.requeued_invites;
                self.requeued.fetch_add(requeued as u64, Ordering::Relaxed);
            }
            if let Ok(report) = self.recovery.run().await {
                self.recovered
                    .fetch_add(report.recovered as u64, Ordering::Relaxed);
            }
        }
    }

    /// The owner changes the price again and again while payments arrive: each change
    /// one apply through the faulty store (a refused one is tried at the next change).
    async fn change_prices(self: Arc<Self>, stop: Arc<AtomicBool>) {
        let mut step = 0u32;
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(PRICE_CHANGE_EVERY).await;
            step += 1;
            let price = PRICE + 1.0 + f64::from(step % 8) * 0.25;
            match apply(&self.store, &catalog_at(price), "chaos", chrono::Utc::now()).await {
                Ok(Applied::Now { .. }) => {
                    self.catalog_applied.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Applied::Unchanged { .. }) => {}
                Err(_) => {
                    self.catalog_apply_failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Whether any watch is not settled yet (due or not: a listing as of far ahead).
    async fn watches_unsettled(&self) -> bool {
        let ahead = self.reconciler.clock.now() + TimeDelta::days(1);
        !matches!(self.store.due_watches(ahead, 1).await, Ok(due) if due.is_empty())
    }

    /// Asks NOWPayments about every watch until each is settled (first checks come due,
    /// crashed checks' leases lapse, unanswered questions are asked again).
    async fn recover_everything(&self) {
        for _ in 0..400 {
            if !self.watches_unsettled().await {
                return;
            }
            match self.final_recovery.run().await {
                Ok(report) => {
                    self.recovered
                        .fetch_add(report.recovered as u64, Ordering::Relaxed);
                    let settled = report.recovered + report.arrived + report.unpaid;
                    if report.due == 0 || settled == 0 {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Waits until both queues are empty, then reconciles everything unfinished (no age
    /// limit) until nothing is left to requeue. Returns the rounds it took.
    async fn quiesce_and_reconcile(&self) -> u32 {
        let sweep = Reconciler::new(
            self.store.clone(),
            ChaosQueue::new(self.processor_queue.clone(), self.chaos.clone()),
            ChaosQueue::new(self.invite_queue.clone(), self.chaos.clone()),
            Duration::ZERO,
            100_000,
        )
        .with_clock(self.reconciler.clock.clone());
        for round in 1..=60 {
            while self.processor_queue.outstanding() + self.invite_queue.outstanding() > 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            self.recover_everything().await;
            match sweep.reconcile().await {
                Ok(report)
                    if report.backlog == 0
                        && report.requeued_hold_notices == 0
                        && self.processor_queue.outstanding() == 0
                        && !self.watches_unsettled().await =>
                {
                    return round;
                }
                Ok(report) => {
                    let requeued = report.requeued_processing
                        + report.requeued_invites
                        + report.requeued_hold_notices;
                    self.requeued.fetch_add(requeued as u64, Ordering::Relaxed);
                    if requeued == 0 {
                        // Only live leases (or failed sends) left: let them lapse.
                        tokio::time::sleep(self.config.invite_visibility).await;
                    }
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        60
    }

    fn figures(&self, final_rounds: u32) -> RunFigures {
        RunFigures {
            seed: self.config.seed,
            np_gave_up: self.np_gave_up.load(Ordering::Relaxed),
            forged_sent: self.forged_sent.load(Ordering::Relaxed),
            forged_answered_ok: self.forged_answered_ok.load(Ordering::Relaxed),
            requeued_by_reconciler: self.requeued.load(Ordering::Relaxed),
            recovered: self.recovered.load(Ordering::Relaxed),
            final_reconcile_rounds: final_rounds,
            processor_queue: self.processor_queue.figures(),
            invite_queue: self.invite_queue.figures(),
            payouts_for: self.payout_queue.sent_payment_ids().into_iter().collect(),
            injected: self.chaos.tally(),
            catalog_applied: self.catalog_applied.load(Ordering::Relaxed),
            catalog_apply_failed: self.catalog_apply_failed.load(Ordering::Relaxed),
            ..RunFigures::default()
        }
    }
}
