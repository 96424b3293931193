//! The join-request leg: buyers of a channel that admits through join requests, the bot
//! webhook served over HTTP with Telegram (the fake) delivering its updates and retrying
//! every non-2xx answer, under crashes at every step boundary of an update, store
//! faults (refused, answer lost, slow) and Telegram faults (429, 500, slow).
//!
//! Most buyers are granted first and click the link made for them; some race their
//! payment (they take an invoice, click the channel's public join link, and their time
//! is granted a moment later, within the bot's wait); 3 % forward their link to a
//! friend who tries it. Another 10 % buy a channel sold with one-time links and forward
//! theirs: the friend clicks first and is in, until the bot (told by a `chat_member`
//! update) revokes the link and removes them. The figures come from the fake's state:
//! strangers admitted, strangers left in through a one-time link, payers declined,
//! payers still waiting at the end, and updates handled twice.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use fake_bot_api::{FakeBotApi, FaultKind};
use fake_nowpayments::FakeNowPayments;
use telepay_core::access::grant_time;
use telepay_core::bot::{BotFrontDoor, BotSetup, BotTiming, SECRET_HEADER, WebhookSecret};
use telepay_core::clock::system_clock;
use telepay_core::directory::{Admission, ChannelDirectory};
use telepay_core::ipn::PaymentId;
use telepay_core::order::UserId;
use telepay_core::queue::{DelayedQueue, MessageOutcome, MessageQueue, QueueError};
use telepay_core::store::BotStore;
use telepay_core::store::ports::*;
use telepay_core::subscription::{
    AccessDuration, GrantSource, LifecycleSettings, SubscriptionKey, TimeGrant,
};
use telepay_core::telegram::TelegramInviter;
use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsInvoices};
use telepay_shared::telegram::{BotToken, TelegramBotApi};

use super::decorators::{ChaosStore, ChaosTelegram};
use super::dice::{Dice, tag};
use super::faults::{Chaos, FaultRates, Stage, invoke};

const TOKEN: &str = "424242:admission-chaos";
const SECRET: &str = "admission-chaos-webhook-secret-0123456789";
const NP_KEY: &str = "admission-chaos-np-key";
const ORDER_CHANNEL: i64 = -1004000000001;
const CHANNEL: i64 = -1004000000002;
/// Sold with one-time links.
const ONE_TIME_CHANNEL: i64 = -1004000000004;
const DIRECTORY: &str = r#"{"channels":[{"channel_id":-1004000000001,"private_channel_id":-1004000000002,
    "title":"Chaos club","admission":"join_request",
    "tiers":[{"price_amount":5,"price_currency":"usd","duration":"7d"}]},
    {"channel_id":-1004000000003,"private_channel_id":-1004000000004,"title":"Chaos signals",
    "tiers":[{"price_amount":5,"price_currency":"usd","duration":"7d"}]}]}"#;
const FIRST_BUYER: i64 = 8_000_000_000;
const FIRST_STRANGER: i64 = 9_000_000_000;

#[derive(Debug, Clone)]
pub struct AdmissionChaosConfig {
    pub seed: u64,
    pub buyers: usize,
    /// Buyers whose join request races their payment.
    pub racing: f64,
    /// Buyers who forward their link to a friend.
    pub forwarding: f64,
    /// Buyers of the one-time-link channel whose friend uses their link first.
    pub one_time_forwarding: f64,
    pub rates: FaultRates,
    pub timing: BotTiming,
    /// A racing buyer's time lands this long (at most) after their click.
    pub grant_delay_max: Duration,
    /// Buyers start this far apart.
    pub arrival_interval: Duration,
}

impl AdmissionChaosConfig {
    pub fn new(seed: u64, buyers: usize) -> Self {
        Self {
            seed,
            buyers,
            racing: 0.3,
            forwarding: 0.03,
            one_time_forwarding: 0.1,
            rates: FaultRates::default(),
            timing: BotTiming {
                update_lease: chrono::TimeDelta::seconds(2),
                call_timeout: Duration::from_millis(400),
                recheck_every: Duration::from_millis(150),
                wait_for_grant: chrono::TimeDelta::seconds(5),
            },
            grant_delay_max: Duration::from_millis(1500),
            arrival_interval: Duration::from_millis(25),
        }
    }
}

/// What the leg found.
#[derive(Debug, Clone, Default)]
pub struct AdmissionReport {
    pub backend: String,
    pub seed: u64,
    pub buyers: usize,
    pub racing: usize,
    pub forwarded: usize,
    pub payers_in: usize,
    pub payers_declined: usize,
    pub payers_waiting: usize,
    pub strangers_admitted: usize,
    pub strangers_declined: usize,
    /// Buyers of the one-time-link channel whose friend clicked their link first.
    pub one_time_forwarded: usize,
    /// Those friends still in the channel at the end.
    pub strangers_left_in: usize,
    /// Their links revoked by the bot.
    pub one_time_links_revoked: usize,
    pub updates: usize,
    pub redelivered: usize,
    pub crashes: u64,
    pub updates_handled_twice: usize,
    /// Buyers shown more than one invoice for their one tap.
    pub buyers_shown_two_invoices: usize,
    /// Invoices NOWPayments made that no buyer saw (a crash between its answer and the
    /// record: the redelivery made another and showed that one).
    pub invoices_never_shown: usize,
    pub rechecks: u64,
    /// What was still in flight when the leg gave up waiting (none: it settled).
    pub unsettled: Option<String>,
    pub injected: BTreeMap<String, u64>,
    pub wall: Duration,
}

impl AdmissionReport {
    pub fn violations(&self) -> Vec<String> {
        let mut broken = Vec::new();
        let mut check = |count: usize, what: &str| {
            if count > 0 {
                broken.push(format!("{count} {what}"));
            }
        };
        check(
            self.strangers_admitted,
            "strangers admitted with a forwarded link",
        );
        check(
            self.strangers_left_in,
            "strangers left in through a forwarded one-time link",
        );
        check(self.payers_declined, "payers declined");
        check(
            self.payers_waiting,
            "payers still waiting (not in) at the end",
        );
        check(self.updates_handled_twice, "updates handled twice");
        check(
            self.buyers_shown_two_invoices,
            "buyers shown two invoices for one tap",
        );
        if let Some(what) = &self.unsettled {
            broken.push(format!("the run never settled: {what}"));
        }
        broken
    }
}

impl fmt::Display for AdmissionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "join requests on {} (seed {}): {} buyers ({} racing their payment, {} forwarding their link) in {:.1} s",
            self.backend,
            self.seed,
            self.buyers,
            self.racing,
            self.forwarded,
            self.wall.as_secs_f64()
        )?;
        writeln!(
            f,
            "  payers in: {}; payers declined: {}; payers still waiting: {}",
            self.payers_in, self.payers_declined, self.payers_waiting
        )?;
        writeln!(
            f,
            "  strangers admitted: {}; strangers declined: {}",
            self.strangers_admitted, self.strangers_declined
        )?;
        writeln!(
            f,
            "  one-time links forwarded: {}; their strangers left in: {}; links revoked: {}",
            self.one_time_forwarded, self.strangers_left_in, self.one_time_links_revoked
        )?;
        writeln!(
            f,
            "  updates: {} ({} redelivered after a non-2xx answer); crashes: {}; handled twice: {}; re-checks: {}",
            self.updates, self.redelivered, self.crashes, self.updates_handled_twice, self.rechecks
        )?;
        write!(
            f,
            "  invoices: buyers shown two for one tap: {}; made but never shown (crash after NOWPayments answered): {}",
            self.buyers_shown_two_invoices, self.invoices_never_shown
        )?;
        if let Some(what) = &self.unsettled {
            write!(f, "\n  NOT SETTLED: {what}")?;
        }
        Ok(())
    }
}

/// The admission queue as SQS keeps it: delayed messages, redelivered after a failure.
#[derive(Clone, Default)]
pub(super) struct DelayQueue {
    due: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl DelayQueue {
    pub(super) fn take_due(&self) -> Vec<String> {
        let now = Instant::now();
        let mut due = self.due.lock().unwrap();
        let (ready, later): (Vec<_>, Vec<_>) = due.drain(..).partition(|(at, _)| *at <= now);
        *due = later;
        ready.into_iter().map(|(_, body)| body).collect()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.due.lock().unwrap().is_empty()
    }
}

impl DelayedQueue for DelayQueue {
    async fn send_later(&self, body: &str, delay: Duration) -> Result<(), QueueError> {
        let at = Instant::now() + delay;
        self.due.lock().unwrap().push((at, body.to_owned()));
        Ok(())
    }
}

/// /status's invite queue: unused by this leg's updates.
impl MessageQueue for DelayQueue {
    async fn send(&self, _payment_id: PaymentId, _body: &str) -> Result<(), QueueError> {
        Ok(())
    }
}

/// The bot of the chaos legs; `V` the queue its processor messages (and /status's
/// invites) go to.
pub(super) type ChaosBot<S, V> =
    BotFrontDoor<ChaosStore<S>, ChaosTelegram<TelegramBotApi>, NowPaymentsInvoices, DelayQueue, V>;

type Bot<S> = BotFrontDoor<
    ChaosStore<S>,
    ChaosTelegram<TelegramBotApi>,
    NowPaymentsInvoices,
    DelayQueue,
    DelayQueue,
>;

/// The bot's calls this leg faults.
const FAULTED: &[&str] = &[
    "sendMessage",
    "approveChatJoinRequest",
    "declineChatJoinRequest",
];

/// Telegram's faults on the bot's calls named in `methods`, seeded per call.
pub(super) fn telegram_policy(
    chaos: Arc<Chaos>,
    methods: &'static [&'static str],
) -> fake_bot_api::FaultPolicy {
    Box::new(move |method: &str, params: &serde_json::Value| {
        if !methods.contains(&method) {
            return None;
        }
        let user = params["user_id"]
            .as_i64()
            .or_else(|| fake_bot_api_chat(params))
            .unwrap_or_default();
        let attempt = chaos.attempt(method, user);
        let roll = chaos
            .dice
            .unit(&[tag("bot-telegram"), tag(method), user as u64, attempt]);
        let rates = &chaos.rates;
        if roll < rates.telegram_429 {
            chaos.count(format!("telegram 429 {method}"));
            Some(FaultKind::RetryAfter(1))
        } else if roll < rates.telegram_429 + rates.telegram_500 {
            chaos.count(format!("telegram 500 {method}"));
            Some(FaultKind::ServerError)
        } else if roll < rates.telegram_429 + rates.telegram_500 + rates.telegram_slow {
            chaos.count(format!("telegram slow {method}"));
            Some(FaultKind::Delay(Duration::from_millis(150)))
        } else {
            None
        }
    })
}

fn fake_bot_api_chat(params: &serde_json::Value) -> Option<i64> {
    match &params["chat_id"] {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The bot's webhook over HTTP, as API Gateway serves it, each update through
/// [`serve_update`], and Telegram (the fake behind `telegram`) told to post there with
/// `secret`: the server's task.
pub(super) async fn serve_bot<S, V>(
    bot: Arc<ChaosBot<S, V>>,
    chaos: Arc<Chaos>,
    telegram: &TelegramBotApi,
    secret: &str,
) -> tokio::task::JoinHandle<()>
where
    S: PaymentStore + BotStore + 'static,
    V: MessageQueue + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let addr = listener.local_addr().expect("an address");
    let app = axum::Router::new().route(
        "/telegram-webhook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            serve_update(bot.clone(), chaos.clone(), headers, body)
        }),
    );
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    telegram
        .set_webhook(&format!("http://{addr}/telegram-webhook"), secret, 40)
        .await
        .expect("the fake takes the webhook");
    server
}

/// One update through the handler inside an invocation that may crash at any step
/// boundary (then API Gateway answers 502 and Telegram redelivers).
async fn serve_update<S, V>(
    bot: Arc<ChaosBot<S, V>>,
    chaos: Arc<Chaos>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode
where
    S: PaymentStore + BotStore + 'static,
    V: MessageQueue + 'static,
{
    let update_id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["update_id"].as_i64())
        .unwrap_or_default();
    let attempt = chaos.attempt("bot update", update_id);
    let invocation = chaos.invocation(Stage::BotWebhook, &[update_id as u64, attempt]);
    let mut request = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/telegram-webhook");
    if let Some(secret) = headers.get(SECRET_HEADER) {
        request = request.header(SECRET_HEADER, secret);
    }
    let request = request
        .body(lambda_http::Body::from(body.to_vec()))
        .expect("a request");
    match invoke(
        invocation,
        Duration::from_secs(15),
        bot_webhook::handle(&bot, request),
    )
    .await
    {
        Ok(Ok(response)) => {
            StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::OK)
        }
        Ok(Err(never)) => match never {},
        Err(_) => StatusCode::BAD_GATEWAY,
    }
}

/// Runs the leg on `store`.
pub async fn run<S>(backend: &str, store: S, config: AdmissionChaosConfig) -> AdmissionReport
where
    S: PaymentStore + BotStore + 'static,
{
    let started = Instant::now();
    let dice = Dice::new(config.seed);
    let chaos = Arc::new(Chaos::new(dice, config.rates.clone()));
    let fake = Arc::new(FakeBotApi::start(TOKEN).await);
    fake.set_policy(telegram_policy(chaos.clone(), FAULTED));
    let nowpayments = FakeNowPayments::start(NP_KEY, "admission-chaos-ipn-secret").await;
    let raw = Arc::new(store);
    let settings = LifecycleSettings::default();
    let telegram =
        || TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&fake.url())).unwrap();
    let rechecks = DelayQueue::default();
    let bot: Arc<Bot<S>> = Arc::new(BotFrontDoor::new(
        BotSetup {
            timing: config.timing,
            ..BotSetup::new(
                WebhookSecret::new(SECRET).unwrap(),
                ChannelDirectory::from_json(DIRECTORY).unwrap(),
                "http://127.0.0.1:9/np-webhook",
            )
        },
        ChaosStore::new(raw.clone(), chaos.clone()),
        ChaosTelegram::new(telegram(), chaos.clone()),
        NowPaymentsInvoices::new(
            NowPaymentsApiKey::new(NP_KEY).unwrap(),
            Some(&nowpayments.url()),
        )
        .unwrap(),
        rechecks.clone(),
        DelayQueue::default(),
    ));

    let server = serve_bot(bot.clone(), chaos.clone(), &telegram(), SECRET).await;

    // The admission re-check consumer: due messages through the handler's decision,
    // a failure (or a crash) back on the queue as SQS redelivers it.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let consumer = {
        let (bot, chaos, rechecks, stop) =
            (bot.clone(), chaos.clone(), rechecks.clone(), stop.clone());
        tokio::spawn(async move {
            let clock = system_clock();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for body in rechecks.take_due() {
                    n += 1;
                    chaos.count("admission re-check");
                    let invocation = chaos.invocation(Stage::BotWebhook, &[tag("recheck"), n]);
                    let admission = bot.admission();
                    let outcome = invoke(
                        invocation,
                        Duration::from_secs(15),
                        admission.recheck(&body, clock.now()),
                    )
                    .await;
                    if !matches!(outcome, Ok(MessageOutcome::Done)) {
                        let _ = rechecks.send_later(&body, Duration::from_millis(200)).await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // The public join link racing buyers click before their time lands.
    let public = telegram()
        .create_invite_link(
            CHANNEL,
            "public",
            chrono::Utc::now() + chrono::TimeDelta::days(1),
            Admission::JoinRequest,
        )
        .await
        .expect("the public link")
        .url;
    let mut buyers = tokio::task::JoinSet::new();
    let mut racing = HashSet::new();
    let mut forwarding = HashSet::new();
    let one_time_links = Arc::new(Mutex::new(Vec::new()));
    let mut one_timers = HashSet::new();
    for i in 0..config.buyers as i64 {
        let races = dice.chance(config.racing, &[tag("race"), i as u64]);
        let forwards = !races && dice.chance(config.forwarding, &[tag("forward"), i as u64]);
        let one_time = !races
            && !forwards
            && dice.chance(config.one_time_forwarding, &[tag("one-time"), i as u64]);
        if one_time {
            one_timers.insert(FIRST_BUYER + i);
        }
        let links = one_time_links.clone();
        if races {
            racing.insert(FIRST_BUYER + i);
        }
        if forwards {
            forwarding.insert(FIRST_BUYER + i);
        }
        let (fake, raw, settings, public) =
            (fake.clone(), raw.clone(), settings.clone(), public.clone());
        let inviter = telegram();
        let start = config.arrival_interval * i as u32;
        let delay = Duration::from_millis(dice.below(
            config.grant_delay_max.as_millis() as u64 + 1,
            &[tag("grant"), i as u64],
        ));
        buyers.spawn(async move {
            tokio::time::sleep(start).await;
            let buyer = FIRST_BUYER + i;
            let bought = if one_time { ONE_TIME_CHANNEL } else { CHANNEL };
            let grant = || async {
                let key = SubscriptionKey::new(UserId::new(buyer).unwrap(), bought);
                let paid = TimeGrant::new(
                    GrantSource::Payment(1_000_000 + i),
                    chrono::Utc::now(),
                    AccessDuration::from_days(7).unwrap(),
                );
                grant_time(&*raw, key, &paid, chrono::Utc::now(), &settings)
                    .await
                    .expect("the grant");
            };
            if one_time {
                // The friend clicks the buyer's one-time link first, and is in until the
                // bot hears of it.
                grant().await;
                let own = inviter
                    .create_invite_link(
                        ONE_TIME_CHANNEL,
                        &format!("buyer {buyer}"),
                        chrono::Utc::now() + chrono::TimeDelta::days(1),
                        Admission::OneTimeLink,
                    )
                    .await
                    .expect("the buyer's link")
                    .url;
                links.lock().unwrap().push(own.clone());
                tokio::time::sleep(delay / 2).await;
                fake.join(&own, FIRST_STRANGER + i, chrono::Utc::now().timestamp());
            } else if races {
                // Take an invoice (the bot notes the purchase), then click before paying
                // has been granted.
                fake.user_presses(buyer, &format!("buy:{ORDER_CHANNEL}:0"));
                let deadline = Instant::now() + Duration::from_secs(30);
                while !shown_an_invoice(&fake, buyer) && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                fake.join(&public, buyer, chrono::Utc::now().timestamp());
                tokio::time::sleep(delay).await;
                grant().await;
            } else {
                grant().await;
                let own = inviter
                    .create_invite_link(
                        CHANNEL,
                        &format!("buyer {buyer}"),
                        chrono::Utc::now() + chrono::TimeDelta::days(1),
                        Admission::JoinRequest,
                    )
                    .await
                    .expect("the buyer's link")
                    .url;
                tokio::time::sleep(delay / 2).await;
                fake.join(&own, buyer, chrono::Utc::now().timestamp());
                if forwards {
                    tokio::time::sleep(delay / 2).await;
                    fake.join(&own, FIRST_STRANGER + i, chrono::Utc::now().timestamp());
                }
            }
        });
    }
    while buyers.join_next().await.is_some() {}

    // Quiescence: every update taken, every re-check done, no request left to decide.
    let deadline = Instant::now() + Duration::from_secs(120);
    let unsettled = loop {
        let undelivered = fake.deliveries().iter().filter(|d| !d.delivered).count();
        let waiting = fake.pending_requests().len();
        if undelivered == 0 && rechecks.is_empty() && waiting == 0 {
            break None;
        }
        if Instant::now() > deadline {
            break Some(format!(
                "{undelivered} updates undelivered, {waiting} requests pending, re-checks queued: {}",
                !rechecks.is_empty()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    consumer.await.ok();
    server.abort();

    let payers: Vec<i64> = (0..config.buyers as i64)
        .map(|i| FIRST_BUYER + i)
        .filter(|buyer| !one_timers.contains(buyer))
        .collect();
    let one_time_strangers: Vec<i64> = one_timers
        .iter()
        .map(|b| b - FIRST_BUYER + FIRST_STRANGER)
        .collect();
    let revoked: HashSet<String> = fake
        .calls()
        .iter()
        .filter(|c| c.method == "revokeChatInviteLink")
        .filter_map(|c| c.params["invite_link"].as_str().map(str::to_owned))
        .collect();
    let one_time_links = one_time_links.lock().unwrap().clone();
    let strangers: Vec<i64> = forwarding
        .iter()
        .map(|b| b - FIRST_BUYER + FIRST_STRANGER)
        .collect();
    let decisions = fake.join_decisions();
    let pending = fake.pending_requests();
    let injected = chaos.tally();
    let finished_twice = injected
        .iter()
        .filter(|(k, v)| k.starts_with("bot update finished: ") && **v > 1)
        .count();
    let deliveries = fake.deliveries();
    let mut shown: HashMap<i64, HashSet<String>> = HashMap::new();
    for call in fake.delivered("sendMessage") {
        let markup = call.params.get("reply_markup").cloned().unwrap_or_default();
        let text = markup.to_string();
        if let (Some(chat), Some(at)) = (call.chat_id(), text.find("iid=")) {
            let iid: String = text[at + 4..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            shown.entry(chat).or_default().insert(iid);
        }
    }
    let shown_ids: HashSet<&String> = shown.values().flatten().collect();
    AdmissionReport {
        backend: backend.to_owned(),
        seed: config.seed,
        buyers: config.buyers,
        racing: racing.len(),
        forwarded: forwarding.len(),
        payers_in: payers
            .iter()
            .filter(|p| fake.is_member(CHANNEL, **p))
            .count(),
        payers_declined: decisions
            .iter()
            .filter(|d| !d.approved && d.user_id < FIRST_STRANGER)
            .count(),
        payers_waiting: payers
            .iter()
            .filter(|p| !fake.is_member(CHANNEL, **p) || pending.iter().any(|r| r.user_id == **p))
            .count(),
        strangers_admitted: strangers
            .iter()
            .filter(|s| fake.is_member(CHANNEL, **s))
            .count(),
        strangers_declined: decisions
            .iter()
            .filter(|d| !d.approved && d.user_id >= FIRST_STRANGER)
            .count(),
        one_time_forwarded: one_timers.len(),
        strangers_left_in: one_time_strangers
            .iter()
            .filter(|s| fake.is_member(ONE_TIME_CHANNEL, **s))
            .count(),
        one_time_links_revoked: one_time_links
            .iter()
            .filter(|link| revoked.contains(*link))
            .count(),
        updates: deliveries.len(),
        redelivered: deliveries.iter().filter(|d| d.statuses.len() > 1).count(),
        crashes: injected
            .iter()
            .filter(|(k, _)| k.starts_with("crash: "))
            .map(|(_, v)| v)
            .sum(),
        updates_handled_twice: finished_twice,
        buyers_shown_two_invoices: shown.values().filter(|ids| ids.len() > 1).count(),
        invoices_never_shown: nowpayments
            .invoices()
            .iter()
            .filter(|i| !shown_ids.contains(&i.id))
            .count(),
        rechecks: injected
            .get("admission re-check")
            .copied()
            .unwrap_or_default(),
        unsettled,
        injected: injected
            .into_iter()
            .filter(|(k, _)| !k.starts_with("bot update finished: "))
            .collect(),
        wall: started.elapsed(),
    }
}

/// Whether the bot showed `buyer` a Pay button yet.
fn shown_an_invoice(fake: &FakeBotApi, buyer: i64) -> bool {
    fake.last_buttons(buyer)
        .iter()
        .any(|(_, target)| target.contains("iid="))
}
