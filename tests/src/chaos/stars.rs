//! The Telegram Stars leg: buyers pay in Stars through the bot (a one-time 90-day tier,
//! or the 30-day tier Telegram renews), some also in crypto for the same channel, some
//! are refunded (by the owner's `telepay payments refund`, or by Telegram, whose
//! `refunded_payment` reaches the bot), some cancel with /cancel, and renewals come in.
//! The bot webhook is served over HTTP with Telegram (the fake) delivering its updates
//! and retrying every non-2xx; the processor drains an at-least-once queue, checking
//! each charge against the bot's ledger. Crashes at every step boundary, store faults
//! (refused, answer lost, slow) and Telegram faults (429, 500, slow) on every Stars call.
//!
//! Figures come from the fake's charges and an independent model of each buyer's paid
//! time: charges granted twice, charges not granted, refunded charges still granted,
//! expiries that differ from the model, buyers removed while paid, renewals after a
//! cancel, and buyers whose time was all refunded still in the channel.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use fake_bot_api::{FakeBotApi, StarsCheckout};
use fake_nowpayments::FakeNowPayments;
use telepay_core::access::{LifecycleWorker, SubscriptionSweeper, grant_time};
use telepay_core::bot::{BotFrontDoor, BotSetup, BotTiming, WebhookSecret};
use telepay_core::directory::ChannelDirectory;
use telepay_core::order::UserId;
use telepay_core::processor::PaymentProcessor;
use telepay_core::queue::memory::MemoryQueue;
use telepay_core::stars::charge_payment_id;
use telepay_core::store::BotStore;
use telepay_core::store::ports::*;
use telepay_core::subscription::{
    AccessDuration, GrantSource, LifecycleSettings, LifecycleTexts, SubscriptionKey, TimeGrant,
};
use telepay_core::telegram::StarsPayments;
use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsInvoices};
use telepay_shared::sqs_event::sqs_batch;
use telepay_shared::telegram::{BotToken, TelegramBotApi};

use super::admission::{ChaosBot, DelayQueue, serve_bot, telegram_policy};
use super::decorators::{ChaosQueue, ChaosStore, ChaosTelegram};
use super::dice::{Dice, tag};
use super::faults::{Chaos, FaultRates, Stage, invoke};
use super::sim_sqs::SimQueue;

const TOKEN: &str = "777777:stars-chaos";
const SECRET: &str = "stars-chaos-webhook-secret-0123456789";
const ORDER_CHANNEL: i64 = -1006000000001;
const CHANNEL: i64 = -1006000000002;
const DIRECTORY: &str = r#"{"channels":[{"channel_id":-1006000000001,"private_channel_id":-1006000000002,
    "title":"Stars club","tiers":[
      {"price_amount":5,"price_currency":"usd","subscription_days":30,"stars":250},
      {"price_amount":12,"price_currency":"usd","subscription_days":90,"stars":600}]}]}"#;
const FIRST_BUYER: i64 = 8_100_000_000;
const CRYPTO_PAYMENT: i64 = 5_000_000;
/// Every Stars call the bot and the processor make is faulted.
const FAULTED: &[&str] = &[
    "sendMessage",
    "createInvoiceLink",
    "answerPreCheckoutQuery",
    "getStarTransactions",
    "refundStarPayment",
    "editUserStarSubscription",
];

#[derive(Debug, Clone)]
pub struct StarsChaosConfig {
    pub seed: u64,
    pub buyers: usize,
    /// Buyers of the 30-day tier, which Telegram renews; the rest buy 90 days once.
    pub recurring: f64,
    /// Renewals a recurring buyer gets at most (unless they cancel or are refunded).
    pub renewals_max: u64,
    /// Buyers who also pay a month in crypto for the same channel.
    pub crypto_too: f64,
    /// Buyers one of whose charges is refunded; half by the owner, half by Telegram.
    pub refunded: f64,
    /// Recurring buyers who send /cancel.
    pub cancelling: f64,
    pub rates: FaultRates,
    pub timing: BotTiming,
    pub arrival_interval: Duration,
    pub processor_visibility: Duration,
    pub max_receives: u32,
}

impl StarsChaosConfig {
    pub fn new(seed: u64, buyers: usize) -> Self {
        Self {
            seed,
            buyers,
            recurring: 0.6,
            renewals_max: 2,
            crypto_too: 0.3,
            refunded: 0.2,
            cancelling: 0.25,
            rates: FaultRates::default(),
            // A Bot API call may take up to 2 s: hundreds of buyers at once load the
            // fake, and an answer cut short only makes Telegram redeliver.
            timing: BotTiming {
                update_lease: chrono::TimeDelta::seconds(4),
                call_timeout: Duration::from_secs(2),
                ..BotTiming::default()
            },
            arrival_interval: Duration::from_millis(30),
            processor_visibility: Duration::from_secs(5),
            max_receives: 10,
        }
    }
}

/// What the leg found.
#[derive(Debug, Clone, Default)]
pub struct StarsReport {
    pub backend: String,
    pub seed: u64,
    pub buyers: usize,
    pub charges: usize,
    pub renewals: usize,
    pub crypto_months: usize,
    pub refunded_by_owner: usize,
    pub refunded_by_telegram: usize,
    pub cancelled: usize,
    /// Purchases that never reached a charge (the pre-checkout answer lost to faults past
    /// Telegram's 10 seconds, or no invoice link shown): nobody paid.
    pub not_charged: usize,
    pub updates: usize,
    pub redelivered_updates: usize,
    pub processor_redeliveries: u64,
    pub crashes: u64,
    /// The figures that must be zero.
    pub granted_twice: Vec<String>,
    pub not_granted: Vec<String>,
    pub refunded_still_granted: Vec<String>,
    pub expiry_differs_from_model: Vec<i64>,
    pub removed_while_paid: Vec<i64>,
    pub renewed_after_cancel: Vec<i64>,
    pub refunded_out_still_in: Vec<i64>,
    pub dead_lettered: u64,
    pub unsettled: Option<String>,
    pub injected: BTreeMap<String, u64>,
    pub wall: Duration,
}

impl StarsReport {
    pub fn violations(&self) -> Vec<String> {
        let mut broken = Vec::new();
        let mut check = |ok: bool, what: String| {
            if !ok {
                broken.push(what);
            }
        };
        check(
            self.granted_twice.is_empty(),
            format!("charges granted twice: {:?}", self.granted_twice),
        );
        check(
            self.not_granted.is_empty(),
            format!("charges not granted: {:?}", self.not_granted),
        );
        check(
            self.refunded_still_granted.is_empty(),
            format!(
                "refunded charges still granted: {:?}",
                self.refunded_still_granted
            ),
        );
        check(
            self.expiry_differs_from_model.is_empty(),
            format!(
                "expiry differs from the model: {:?}",
                self.expiry_differs_from_model
            ),
        );
        check(
            self.removed_while_paid.is_empty(),
            format!("removed while paid: {:?}", self.removed_while_paid),
        );
        check(
            self.renewed_after_cancel.is_empty(),
            format!("renewed after /cancel: {:?}", self.renewed_after_cancel),
        );
        check(
            self.refunded_out_still_in.is_empty(),
            format!(
                "all time refunded, still in: {:?}",
                self.refunded_out_still_in
            ),
        );
        check(
            self.dead_lettered == 0,
            format!("{} processor messages dead-lettered", self.dead_lettered),
        );
        if let Some(unsettled) = &self.unsettled {
            broken.push(format!("did not settle: {unsettled}"));
        }
        broken
    }
}

impl fmt::Display for StarsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "stars leg on {} (seed {}): {} buyers in {:.1}s",
            self.backend,
            self.seed,
            self.buyers,
            self.wall.as_secs_f64()
        )?;
        writeln!(
            f,
            "  charges {} (renewals {}), crypto months {}, refunds {} by the owner and {} by Telegram, /cancel {}, not charged {}",
            self.charges,
            self.renewals,
            self.crypto_months,
            self.refunded_by_owner,
            self.refunded_by_telegram,
            self.cancelled,
            self.not_charged
        )?;
        writeln!(
            f,
            "  updates {} ({} redelivered), processor redeliveries {}, crashes {}",
            self.updates, self.redelivered_updates, self.processor_redeliveries, self.crashes
        )?;
        writeln!(f, "  charges granted twice: {}", self.granted_twice.len())?;
        writeln!(f, "  charges not granted: {}", self.not_granted.len())?;
        writeln!(
            f,
            "  refunded charges still granted: {}",
            self.refunded_still_granted.len()
        )?;
        writeln!(
            f,
            "  expiry differs from the model: {}",
            self.expiry_differs_from_model.len()
        )?;
        writeln!(f, "  removed while paid: {}", self.removed_while_paid.len())?;
        writeln!(
            f,
            "  renewed after /cancel: {}",
            self.renewed_after_cancel.len()
        )?;
        writeln!(
            f,
            "  all time refunded, still in: {}",
            self.refunded_out_still_in.len()
        )?;
        writeln!(f, "  dead-lettered: {}", self.dead_lettered)?;
        if let Some(unsettled) = &self.unsettled {
            writeln!(f, "  did not settle: {unsettled}")?;
        }
        write!(f, "  injected: {:?}", self.injected)
    }
}

type StarsBot<S> = ChaosBot<S, ChaosQueue>;

/// One buyer's paid time as the model folds it: (paid at, payment id, length).
type Grants = Vec<(DateTime<Utc>, i64, TimeDelta)>;

fn model_expiry(grants: &Grants) -> Option<DateTime<Utc>> {
    let mut live = grants.clone();
    live.sort();
    let mut end: Option<DateTime<Utc>> = None;
    for (at, _, length) in live {
        let start = end.map_or(at, |end| end.max(at));
        end = Some(start + length);
    }
    end
}

/// Runs the leg on `store`.
pub async fn run<S>(backend: &str, store: S, config: StarsChaosConfig) -> StarsReport
where
    S: PaymentStore + BotStore + 'static,
{
    let started = Instant::now();
    let dice = Dice::new(config.seed);
    let chaos = Arc::new(Chaos::new(dice, config.rates.clone()));
    let fake = Arc::new(FakeBotApi::start(TOKEN).await);
    fake.set_policy(telegram_policy(chaos.clone(), FAULTED));
    // The bot never makes a crypto invoice in this leg; the fake only answers its setup.
    let nowpayments = FakeNowPayments::start("stars-chaos-np", "stars-chaos-ipn").await;
    let raw = Arc::new(store);
    let mut settings = LifecycleSettings::default();
    settings.grace = TimeDelta::zero();
    let telegram =
        || TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap();
    let handovers = Arc::new(SimQueue::new(
        "processor",
        config.processor_visibility,
        config.max_receives,
        config.rates.sqs_duplicate,
        dice,
    ));
    let unused = Arc::new(SimQueue::new(
        "invite",
        Duration::from_secs(5),
        5,
        0.0,
        dice,
    ));
    let bot: Arc<StarsBot<S>> = Arc::new(
        BotFrontDoor::new(
            BotSetup {
                timing: config.timing,
                settings: settings.clone(),
                ..BotSetup::new(
                    WebhookSecret::new(SECRET).unwrap(),
                    ChannelDirectory::from_json(DIRECTORY).unwrap(),
                    "http://127.0.0.1:9/np-webhook",
                )
            },
            ChaosStore::new(raw.clone(), chaos.clone()),
            ChaosTelegram::new(telegram(), chaos.clone()),
            NowPaymentsInvoices::new(
                NowPaymentsApiKey::new("stars-chaos-np").unwrap(),
                Some(&nowpayments.url()),
            )
            .unwrap(),
            DelayQueue::default(),
            ChaosQueue::new(unused, chaos.clone()),
        )
        .with_processor_queue(ChaosQueue::new(handovers.clone(), chaos.clone())),
    );
    let processor = Arc::new(
        PaymentProcessor::new(
            ChaosStore::new(raw.clone(), chaos.clone()),
            MemoryQueue::new(),
            MemoryQueue::new(),
        )
        .with_lifecycle(settings.clone())
        .with_stars_ledger(ChaosTelegram::new(telegram(), chaos.clone())),
    );

    // The webhook over HTTP, as API Gateway serves it.
    let server = serve_bot(bot.clone(), chaos.clone(), &telegram(), SECRET).await;

    // The processor's event source mapping: a crashed or timed-out invocation deletes
    // nothing, and the message comes back after its visibility timeout.
    let stop = Arc::new(AtomicBool::new(false));
    let mut consumers = tokio::task::JoinSet::new();
    for worker in 0..4u64 {
        let (processor, chaos, queue, stop) = (
            processor.clone(),
            chaos.clone(),
            handovers.clone(),
            stop.clone(),
        );
        consumers.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let batch = queue.receive(2);
                if batch.is_empty() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                n += 1;
                let invocation = chaos.invocation(Stage::Processor, &[worker, n]);
                let event = sqs_batch(batch.clone(), Duration::from_secs(4));
                let answered = invoke(
                    invocation,
                    Duration::from_secs(4),
                    payment_processor::handle(&*processor, event),
                )
                .await;
                if let Ok(Ok(response)) = answered {
                    queue.settle(&batch, &response);
                }
            }
        });
    }

    // The buyers.
    let mut buyers = tokio::task::JoinSet::new();
    for i in 0..config.buyers as u64 {
        let buyer = FIRST_BUYER + i as i64;
        let recurring = dice.chance(config.recurring, &[tag("recurring"), i]);
        let plan = BuyerPlan {
            buyer,
            recurring,
            renewals: if recurring {
                dice.below(config.renewals_max + 1, &[tag("renewals"), i])
            } else {
                0
            },
            crypto_too: dice.chance(config.crypto_too, &[tag("crypto"), i]),
            refund: dice
                .chance(config.refunded, &[tag("refund"), i])
                .then(|| dice.chance(0.5, &[tag("refund by owner"), i])),
            cancels: recurring && dice.chance(config.cancelling, &[tag("cancel"), i]),
        };
        let start = config.arrival_interval * i as u32;
        let (fake, raw, settings) = (fake.clone(), raw.clone(), settings.clone());
        buyers.spawn(async move {
            tokio::time::sleep(start).await;
            buy(plan, &fake, &*raw, &settings).await
        });
    }
    let mut outcomes = Vec::new();
    while let Some(outcome) = buyers.join_next().await {
        outcomes.push(outcome.expect("a buyer's task"));
    }

    // Quiescence: every update taken, every handover processed.
    let deadline = Instant::now()
        + Duration::from_secs(120)
        + Duration::from_millis(200) * config.buyers as u32;
    let unsettled = loop {
        let undelivered = fake.deliveries().iter().filter(|d| !d.delivered).count();
        let outstanding = handovers.outstanding();
        if undelivered == 0 && outstanding == 0 {
            break None;
        }
        if Instant::now() > deadline {
            break Some(format!(
                "{undelivered} updates undelivered, {outstanding} handovers outstanding"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop.store(true, Ordering::Relaxed);
    while consumers.join_next().await.is_some() {}
    server.abort();

    // The end of paid time: the sweeper and the lifecycle worker remove whoever has none
    // left (grace zero), and nobody else.
    let sweeper =
        SubscriptionSweeper::new(raw.clone(), MemoryQueue::new(), settings.clone(), 10_000);
    let worker = LifecycleWorker::new(
        raw.clone(),
        telegram(),
        ChannelDirectory::from_json(DIRECTORY).unwrap(),
        settings.clone(),
        LifecycleTexts::default(),
    );
    // A removal Telegram answered with a fault is tried again, as SQS redelivers it.
    for _ in 0..5 {
        sweeper.sweep().await.expect("a sweep");
        for body in sweeper.lifecycle_queue.take_tasks() {
            worker.handle(&body).await;
        }
    }

    // Figures, from the fake's charges and the model.
    let now = Utc::now();
    let charges = fake.star_charges();
    let mut report = StarsReport {
        backend: backend.to_owned(),
        seed: config.seed,
        buyers: config.buyers,
        charges: charges.len(),
        renewals: charges
            .iter()
            .filter(|c| c.charge_id != c.first_charge_id)
            .count(),
        unsettled,
        ..StarsReport::default()
    };
    let mut grants: HashMap<i64, Grants> = HashMap::new();
    for charge in &charges {
        let length = if charge.recurring { 30 } else { 90 };
        if !charge.refunded {
            grants.entry(charge.user_id).or_default().push((
                DateTime::from_timestamp(charge.paid_at, 0).unwrap(),
                charge_payment_id(&charge.charge_id).get(),
                TimeDelta::days(length),
            ));
        }
    }
    for outcome in &outcomes {
        report.not_charged += usize::from(!outcome.charged);
        report.cancelled += usize::from(outcome.cancelled);
        report.refunded_by_owner += usize::from(outcome.refunded_by_owner);
        report.refunded_by_telegram += usize::from(outcome.refunded_by_telegram);
        if outcome.renewed_after_cancel {
            report.renewed_after_cancel.push(outcome.buyer);
        }
        if let Some(crypto) = outcome.crypto {
            report.crypto_months += 1;
            grants.entry(outcome.buyer).or_default().push(crypto);
        }
    }
    for charge in &charges {
        let key = SubscriptionKey::new(UserId::new(charge.user_id).unwrap(), CHANNEL);
        let subscription = raw.get_subscription(key).await.expect("a read");
        let source = GrantSource::Payment(charge_payment_id(&charge.charge_id).get());
        let of_charge: Vec<_> = subscription
            .iter()
            .flat_map(|s| s.grants.iter())
            .filter(|g| g.source == source)
            .collect();
        let live = of_charge.iter().filter(|g| g.refunded_at.is_none()).count();
        if of_charge.len() > 1 {
            report.granted_twice.push(charge.charge_id.clone());
        }
        if charge.refunded && live > 0 {
            report.refunded_still_granted.push(charge.charge_id.clone());
        }
        if !charge.refunded && live == 0 {
            report.not_granted.push(charge.charge_id.clone());
        }
    }
    for outcome in &outcomes {
        let buyer = outcome.buyer;
        let key = SubscriptionKey::new(UserId::new(buyer).unwrap(), CHANNEL);
        let stored = raw.get_subscription(key).await.expect("a read");
        let model = grants.get(&buyer).and_then(model_expiry);
        if let (Some(model), Some(stored)) = (model, &stored)
            && stored.expires_at != model
        {
            report.expiry_differs_from_model.push(buyer);
        }
        let in_channel = fake.is_member(CHANNEL, buyer);
        let paid = model.is_some_and(|end| end > now);
        if outcome.joined && !in_channel && paid {
            report.removed_while_paid.push(buyer);
        }
        if in_channel && model.is_none() && stored.is_some() {
            report.refunded_out_still_in.push(buyer);
        }
    }
    let deliveries = fake.deliveries();
    report.updates = deliveries.len();
    report.redelivered_updates = deliveries.iter().filter(|d| d.statuses.len() > 1).count();
    let figures = handovers.figures();
    report.processor_redeliveries = figures.redelivered;
    report.dead_lettered = figures.dead_lettered;
    let injected = chaos.tally();
    report.crashes = injected
        .iter()
        .filter(|(k, _)| k.starts_with("crash: "))
        .map(|(_, v)| v)
        .sum();
    report.injected = injected
        .into_iter()
        .filter(|(k, _)| !k.starts_with("bot update finished: "))
        .collect();
    report.wall = started.elapsed();
    report
}

/// What a buyer will do.
#[derive(Debug, Clone, Copy)]
struct BuyerPlan {
    buyer: i64,
    recurring: bool,
    renewals: u64,
    crypto_too: bool,
    /// One charge refunded: by the owner (true) or by Telegram (false).
    refund: Option<bool>,
    cancels: bool,
}

/// What a buyer did.
#[derive(Debug, Clone, Default)]
struct BuyerOutcome {
    buyer: i64,
    charged: bool,
    joined: bool,
    crypto: Option<(DateTime<Utc>, i64, TimeDelta)>,
    cancelled: bool,
    renewed_after_cancel: bool,
    refunded_by_owner: bool,
    refunded_by_telegram: bool,
}

/// Waits (at most 30 s) until `ready` says yes, looking 4 times a second: reading the
/// fake's calls costs it a copy of them all, and hundreds of buyers look at once.
async fn until<F: std::future::Future<Output = bool>>(mut ready: impl FnMut() -> F) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ready().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

/// Whether the charge's time is in the buyer's subscription yet.
async fn granted<S: PaymentStore>(store: &S, buyer: i64, charge_id: &str) -> bool {
    let key = SubscriptionKey::new(UserId::new(buyer).unwrap(), CHANNEL);
    let source = GrantSource::Payment(charge_payment_id(charge_id).get());
    store
        .get_subscription(key)
        .await
        .ok()
        .flatten()
        .is_some_and(|s| s.grants.iter().any(|g| g.source == source))
}

async fn buy<S: PaymentStore>(
    plan: BuyerPlan,
    fake: &FakeBotApi,
    store: &S,
    settings: &LifecycleSettings,
) -> BuyerOutcome {
    let buyer = plan.buyer;
    let mut outcome = BuyerOutcome {
        buyer,
        ..BuyerOutcome::default()
    };
    let tier = if plan.recurring { 0 } else { 1 };
    // The Stars button, then the Pay button's link (a tap lost to faults is tapped again).
    let mut link = None;
    for _ in 0..3 {
        fake.user_presses(buyer, &format!("stars:{ORDER_CHANNEL}:{tier}"));
        let shown = until(|| async {
            fake.last_buttons(buyer)
                .iter()
                .any(|(_, target)| target.starts_with("https://t.me/$"))
        })
        .await;
        if shown {
            link = fake
                .last_buttons(buyer)
                .into_iter()
                .find(|(_, target)| target.starts_with("https://t.me/$"))
                .map(|(_, target)| target);
            break;
        }
    }
    let Some(link) = link else {
        return outcome;
    };
    let StarsCheckout::Paid(first) = fake.pay_stars(buyer, &link).await else {
        return outcome;
    };
    outcome.charged = true;
    // Once the time is granted, the invite lets them in (the invite's own exactly-once
    // is the main chaos run's).
    if until(|| granted(store, buyer, &first)).await {
        fake.add_member(CHANNEL, buyer);
        outcome.joined = true;
    }
    if plan.crypto_too {
        // A crypto month of the same buyer, processed as the payment chain does.
        let at = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
        let id = CRYPTO_PAYMENT + (buyer - FIRST_BUYER);
        let key = SubscriptionKey::new(UserId::new(buyer).unwrap(), CHANNEL);
        let grant = TimeGrant::new(
            GrantSource::Payment(id),
            at,
            AccessDuration::from_days(30).unwrap(),
        );
        // The payment chain retries until its grant lands (a busy pool is no loss).
        while grant_time(store, key, &grant, at, settings).await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        outcome.crypto = Some((at, id, TimeDelta::days(30)));
    }
    let mut charges = vec![first.clone()];
    for _ in 0..plan.renewals {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(renewal) = fake.renew_stars(&first) {
            charges.push(renewal);
        }
    }
    if plan.cancels && outcome.joined {
        fake.user_writes(buyer, "/cancel");
        outcome.cancelled = until(|| async {
            fake.star_charges()
                .iter()
                .any(|c| c.first_charge_id == first && c.canceled)
        })
        .await;
        if outcome.cancelled && fake.renew_stars(&first).is_some() {
            outcome.renewed_after_cancel = true;
        }
    }
    if let Some(by_owner) = plan.refund {
        let refunded = charges.last().cloned().unwrap_or(first);
        if by_owner {
            // `telepay payments refund`, once the charge is recorded (the owner finds it
            // in the payments list).
            let id = charge_payment_id(&refunded);
            let recorded =
                until(|| async { store.get_payment(id).await.ok().flatten().is_some() }).await;
            if recorded {
                let telegram =
                    TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap();
                let operator = telepay_core::operator::Operator::new(
                    store,
                    telepay_core::clock::system_clock(),
                );
                // A fault is tried again, as an owner would.
                for _ in 0..10 {
                    if operator.refund_stars(id, &telegram, settings).await.is_ok() {
                        outcome.refunded_by_owner = true;
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        } else {
            // Telegram refunds it (a dispute): the bot hears of it from refunded_payment.
            let telegram =
                TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap();
            for _ in 0..10 {
                if telegram.refund_star_payment(buyer, &refunded).await.is_ok() {
                    outcome.refunded_by_telegram = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    outcome
}
