//! `make bench-local` (SQLite) and `make bench-serve` (`--store postgres` as well): N
//! distinct signed IPNs (one buyer each) over HTTP against the server (`telepay-local`,
//! release, the store and its queues in a SQLite file or a fresh Postgres database) with
//! the fake Bot API as a process of its own, so what it delivered outlives the server.
//! Two rounds:
//!
//! 1. **Throughput**: prints ingress requests/s (until the last IPN is answered) and
//!    end-to-end payments/s (until the last buyer's invite is delivered).
//! 2. **Durability**: the same load, with the local run killed (`SIGKILL`) halfway through
//!    and started again on the same files. IPNs that got no answer are sent again (as
//!    NOWPayments retries). Every IPN answered 2xx must end with its buyer's invite, and no
//!    buyer may get two different links.
//!
//! Exits non-zero when a check fails. The binaries come from `make bench-local`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::TimeDelta;
use clap::Parser;
use serde_json::Value;
use telepay_core::access::grant_time;
use telepay_core::fixtures::{SAMPLE_IPN, SAMPLE_IPN_SECRET};
use telepay_core::order::UserId;
use telepay_core::signature::IpnSecret;
use telepay_core::store::SubscriptionStore;
use telepay_core::subscription::{
    AccessDuration, GrantSource, LifecycleSettings, SubscriptionKey, TimeGrant,
};
use telepay_local::DEMO_WEBHOOK_SECRET;
use telepay_shared::sql::{PostgresStore, SqliteStore};
use tokio::sync::Mutex;

const TOKEN: &str = "bench-local-token";
/// The demo tier's channel: the orders name it, the store keys subscriptions by it.
const CHANNEL: i64 = -1003111266231;
const FIRST_PAYMENT: i64 = 5_200_000_001;
const FIRST_BUYER: i64 = 7_200_000_001;

#[derive(Parser)]
struct Args {
    /// Distinct paid payments per round.
    #[arg(long, default_value_t = 2000)]
    payments: usize,
    /// Concurrent HTTP connections sending IPNs.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Where the release binaries are.
    #[arg(long, default_value = "target/release")]
    bin: PathBuf,
    /// The store and queues: `sqlite` (a file), or `postgres` (a fresh database per round
    /// on the server `DATABASE_URL` names).
    #[arg(long, default_value = "sqlite")]
    store: String,
    /// A flash sale at Telegram's own limit instead of the two rounds: the fake Bot API
    /// paces messages as Telegram does (30/s, 1/s per chat, 429 beyond), and every buyer
    /// must be invited within 1.15 × payments/30 s of the last IPN, with no dead letter.
    #[arg(long)]
    flash_sale: bool,
    /// With `--flash-sale`: existing subscribers with work due as the sale starts, this
    /// many whose paid time ended a minute ago (a removal and its end notice each) and
    /// as many with a reminder due. They share the bot's pace with the invites.
    #[arg(long, default_value_t = 0)]
    due: usize,
    /// With `--flash-sale`: this many accounts spamming the bot through the whole sale
    /// (a `/start` a second each, to `/telegram-webhook`). Their replies must stay within
    /// the bot's reply budget and every invite and removal must still land.
    #[arg(long, default_value_t = 0)]
    abusers: usize,
    /// Round 2's crashes: the server is killed (`SIGKILL`) this many times, evenly through
    /// the load, and started again each time (`make chaos` runs 5 on Postgres).
    #[arg(long, default_value_t = 1)]
    kills: usize,
}

/// Telegram's pace for one bot: about 30 messages a second.
const TELEGRAM_MESSAGES_PER_SECOND: f64 = 30.0;

/// Existing subscribers whose paid time ended just before the sale.
const FIRST_EXPIRED: i64 = 7_300_000_001;
/// Existing subscribers whose 3-day reminder is due as the sale starts.
const FIRST_REMINDED: i64 = 7_400_000_001;

/// Accounts spamming the bot (`--abusers`).
const FIRST_ABUSER: i64 = 7_500_000_001;

/// What the abusers did and got.
struct Abuse {
    updates: usize,
    answered_2xx: usize,
    replies: usize,
    lasted: Duration,
}

/// `abusers` accounts each posting a `/start` a second to the server's bot webhook until
/// `stop` is set.
fn spawn_abusers(
    port: u16,
    abusers: usize,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<(usize, usize)> {
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let spammers: Vec<_> = (0..abusers as i64)
            .map(|n| {
                let (client, stop) = (client.clone(), stop.clone());
                tokio::spawn(async move {
                    let user = FIRST_ABUSER + n;
                    let (mut sent, mut ok) = (0, 0);
                    let mut ticks = tokio::time::interval(Duration::from_secs(1));
                    while !stop.load(Ordering::SeqCst) {
                        ticks.tick().await;
                        let update = serde_json::json!({
                            "update_id": 900_000_000 + n * 100_000 + sent as i64,
                            "message": {"message_id": sent, "date": 1,
                                "chat": {"id": user, "type": "private"},
                                "from": {"id": user, "is_bot": false, "first_name": "Spam"},
                                "text": "/start"}});
                        let answer = client
                            .post(format!("http://127.0.0.1:{port}/telegram-webhook"))
                            .header("x-telegram-bot-api-secret-token", DEMO_WEBHOOK_SECRET)
                            .json(&update)
                            .send()
                            .await;
                        sent += 1;
                        if answer.is_ok_and(|a| a.status().is_success()) {
                            ok += 1;
                        }
                    }
                    (sent, ok)
                })
            })
            .collect();
        let (mut sent, mut ok) = (0, 0);
        for spammer in spammers {
            let (s, o) = spammer.await.unwrap();
            sent += s;
            ok += o;
        }
        (sent, ok)
    })
}

/// Writes the subscribers `--due` names into the server's store (already migrated by
/// the running server), the expired ones members of the channel in the fake.
async fn seed_due(store: &[(String, String)], telegram: u16, due: usize) -> anyhow::Result<()> {
    // Members first: the server sweeps as the store is written, and a removal before
    // the join would leave the member in.
    let client = reqwest::Client::new();
    for n in 0..due as i64 {
        client
            .post(format!(
                "http://127.0.0.1:{telegram}/fake/chat/{CHANNEL}/member/{}",
                FIRST_EXPIRED + n
            ))
            .send()
            .await?
            .error_for_status()?;
    }
    let value = |name: &str| {
        store
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match value("DATABASE_URL") {
        Some(url) => {
            let url = telepay_shared::config::DatabaseUrl::new(url);
            let store = PostgresStore::connect_pool(&url, Duration::from_secs(10), 8).await?;
            seed_subscriptions(&store, due).await
        }
        None => {
            let path = value("TELEPAY_SQLITE_PATH").context("no SQLite path")?;
            seed_subscriptions(&SqliteStore::open(Path::new(&path)).await?, due).await
        }
    }
}

async fn seed_subscriptions<S: SubscriptionStore>(store: &S, due: usize) -> anyhow::Result<()> {
    let settings = LifecycleSettings::default();
    let now = chrono::Utc::now();
    // 30 days that ended a minute ago; 30 days bought 28 days ago (the 3-day reminder
    // is due, the 1-day one not yet).
    let expired = now - TimeDelta::days(30) - TimeDelta::minutes(1);
    let reminded = now - TimeDelta::days(28);
    for n in 0..due as i64 {
        for (user, bought_at) in [(FIRST_EXPIRED + n, expired), (FIRST_REMINDED + n, reminded)] {
            let key = SubscriptionKey::new(UserId::new(user).unwrap(), CHANNEL);
            let grant = TimeGrant::new(
                GrantSource::Payment(user),
                bought_at,
                AccessDuration::from_days(30).unwrap(),
            );
            grant_time(store, key, &grant, bought_at, &settings).await?;
        }
    }
    Ok(())
}

/// Messages the fake delivered to `user`.
async fn messages_to(client: &reqwest::Client, telegram: u16, user: i64) -> anyhow::Result<usize> {
    let messages: Vec<Value> = client
        .get(format!(
            "http://127.0.0.1:{telegram}/fake/user/{user}/messages"
        ))
        .send()
        .await?
        .json()
        .await?;
    Ok(messages.len())
}

/// What became of the `--due` subscribers.
struct DueWork {
    /// From the sale's start until the last of them was done.
    finished: Duration,
    told_twice: usize,
    still_in: usize,
}

/// Waits until every expired subscriber is out and told once and every reminded one has
/// its reminder.
async fn wait_for_due(
    telegram: u16,
    due: usize,
    started: Instant,
    limit: Duration,
) -> anyhow::Result<DueWork> {
    let client = reqwest::Client::new();
    let users: Vec<i64> = (0..due as i64)
        .flat_map(|n| [FIRST_EXPIRED + n, FIRST_REMINDED + n])
        .collect();
    let mut waiting: BTreeSet<i64> = users.iter().copied().collect();
    loop {
        let mut done = Vec::new();
        for &user in &waiting {
            if messages_to(&client, telegram, user).await? > 0 {
                done.push(user);
            }
        }
        for user in done {
            waiting.remove(&user);
        }
        if waiting.is_empty() {
            break;
        }
        if started.elapsed() > limit {
            bail!("{} due subscribers not done after {limit:?}", waiting.len());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let finished = started.elapsed();
    let mut told_twice = 0;
    let mut still_in = 0;
    for &user in &users {
        if messages_to(&client, telegram, user).await? > 1 {
            told_twice += 1;
        }
        if user < FIRST_REMINDED {
            let member: Value = client
                .get(format!(
                    "http://127.0.0.1:{telegram}/fake/chat/{CHANNEL}/member/{user}"
                ))
                .send()
                .await?
                .json()
                .await?;
            if member["member"].as_bool() != Some(false) {
                still_in += 1;
            }
        }
    }
    Ok(DueWork {
        finished,
        told_twice,
        still_in,
    })
}

/// Messages in the store's dead-letter queues after a round.
async fn dead_letters(store: &[(String, String)]) -> anyhow::Result<i64> {
    const COUNT: &str = "SELECT count(*) FROM queue_messages WHERE queue LIKE '%-dlq'";
    let setting = |name: &str| {
        store
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if let Some(url) = setting("DATABASE_URL") {
        let pool = sqlx::PgPool::connect(&url).await?;
        return Ok(sqlx::query_as::<_, (i64,)>(COUNT).fetch_one(&pool).await?.0);
    }
    let path = setting("TELEPAY_SQLITE_PATH").context("no store setting")?;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{path}")).await?;
    Ok(sqlx::query_as::<_, (i64,)>(COUNT).fetch_one(&pool).await?.0)
}

/// The server's store settings for one round: a SQLite file in `dir`, or a database of
/// its own on the Postgres server `DATABASE_URL` names.
async fn store_env(store: &str, dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    match store {
        "sqlite" => Ok(vec![(
            "TELEPAY_SQLITE_PATH".into(),
            dir.join("telepay.sqlite").display().to_string(),
        )]),
        "postgres" => {
            let admin = std::env::var("DATABASE_URL")
                .context("--store postgres: DATABASE_URL must name a Postgres server")?;
            let database = format!("bench_{}", uuid::Uuid::new_v4().simple());
            let pool = sqlx::PgPool::connect(&admin).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
                .execute(&pool)
                .await?;
            let (base, _) = admin
                .rsplit_once('/')
                .context("DATABASE_URL has no database")?;
            Ok(vec![
                ("TELEPAY_STORE_BACKEND".into(), "postgres".into()),
                ("DATABASE_URL".into(), format!("{base}/{database}")),
            ])
        }
        other => bail!("--store {other}: sqlite or postgres"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The signed IPN of payment `n`: its own payment id and buyer.
fn ipn(n: usize) -> (String, String) {
    let mut body: Value = serde_json::from_str(SAMPLE_IPN).unwrap();
    body["payment_id"] = (FIRST_PAYMENT + n as i64).into();
    body["order_id"] = format!("PGP-{}|{CHANNEL}", FIRST_BUYER + n as i64).into();
    let body = body.to_string();
    let signature = IpnSecret::new(SAMPLE_IPN_SECRET)
        .unwrap()
        .sign(body.as_bytes());
    (body, signature)
}

struct LocalRun {
    child: Child,
    port: u16,
}

impl LocalRun {
    async fn start(
        bin: &Path,
        store: &[(String, String)],
        telegram: u16,
        paced: bool,
    ) -> anyhow::Result<Self> {
        let port = free_port();
        let child = Command::new(bin.join("telepay-local"))
            .arg("--demo")
            .env("PORT", port.to_string())
            .envs(store.iter().map(|(k, v)| (k, v)))
            .env("TELEGRAM_BOT_TOKEN", TOKEN)
            .env("TELEGRAM_API_URL", format!("http://127.0.0.1:{telegram}"))
            .env("FAKE_NOWPAYMENTS_PORT", free_port().to_string())
            .env("TELEPAY_IPN_SECRET", SAMPLE_IPN_SECRET)
            // The machinery's headroom: unpaced against the unpaced fake, the server's
            // own pace (Telegram's) against the paced one.
            .env(
                "TELEPAY_MESSAGES_PER_SECOND",
                if paced { "28" } else { "0" },
            )
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting telepay-local")?;
        let client = reqwest::Client::new();
        let started = Instant::now();
        while client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .is_err()
        {
            if started.elapsed() > Duration::from_secs(30) {
                bail!("telepay-local did not listen on {port}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self { child, port })
    }

    fn kill_9(&mut self) {
        // std's kill is SIGKILL on Unix: no shutdown code runs.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends the IPNs in `pending` over `connections` connections to `port`; returns the
/// payments answered 2xx. With `stop_after`, stops once that many are answered (the kill).
async fn send(
    port: u16,
    pending: Vec<usize>,
    connections: usize,
    stop_after: Option<usize>,
) -> BTreeSet<usize> {
    let queue = Arc::new(Mutex::new(pending));
    let answered = Arc::new(Mutex::new(BTreeSet::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (queue, answered, count, client) = (
            queue.clone(),
            answered.clone(),
            count.clone(),
            client.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                if stop_after.is_some_and(|stop| count.load(Ordering::SeqCst) >= stop) {
                    return;
                }
                let Some(n) = queue.lock().await.pop() else {
                    return;
                };
                let (body, signature) = ipn(n);
                let response = client
                    .post(format!("http://127.0.0.1:{port}/np-webhook"))
                    .header("content-type", "application/json")
                    .header("x-nowpayments-sig", signature)
                    .body(body)
                    .send()
                    .await;
                if response.is_ok_and(|r| r.status().is_success()) {
                    answered.lock().await.insert(n);
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    Arc::try_unwrap(answered).unwrap().into_inner()
}

/// Invite links delivered per buyer, from the fake Bot API.
async fn invites(telegram: u16) -> anyhow::Result<BTreeMap<i64, Vec<String>>> {
    let list: Vec<Value> = reqwest::get(format!("http://127.0.0.1:{telegram}/fake/invites"))
        .await?
        .json()
        .await?;
    let mut by_buyer: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for invite in list {
        if let (Some(chat), Some(link)) =
            (invite["chat_id"].as_i64(), invite["invite_link"].as_str())
        {
            by_buyer.entry(chat).or_default().push(link.to_owned());
        }
    }
    Ok(by_buyer)
}

/// Waits until every answered payment's buyer has an invite; returns when the last came.
async fn wait_for_invites(
    telegram: u16,
    answered: &BTreeSet<usize>,
    limit: Duration,
) -> anyhow::Result<Instant> {
    let started = Instant::now();
    loop {
        let delivered = invites(telegram).await?;
        let missing = answered
            .iter()
            .filter(|n| !delivered.contains_key(&(FIRST_BUYER + **n as i64)))
            .count();
        if missing == 0 {
            return Ok(Instant::now());
        }
        if started.elapsed() > limit {
            bail!("{missing} answered payments have no invite after {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

struct Round {
    answered: BTreeSet<usize>,
    ingress: Duration,
    end_to_end: Duration,
    /// Messages the fake refused for Telegram's pace (429s).
    paced: u64,
    dead_letters: i64,
    /// What became of `--due`'s subscribers.
    due: Option<DueWork>,
    /// What `--abusers` did and got.
    abuse: Option<Abuse>,
}

async fn round(args: &Args, kills: usize) -> anyhow::Result<Round> {
    let dir = std::env::temp_dir().join(format!("telepay-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let telegram_port = free_port();
    let mut telegram = Command::new(args.bin.join("fake-bot-api"))
        .env("PORT", telegram_port.to_string())
        .env("TELEGRAM_BOT_TOKEN", TOKEN)
        .env(
            "FAKE_TELEGRAM_PACE",
            if args.flash_sale { "1" } else { "0" },
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting fake-bot-api")?;
    let store = store_env(&args.store, &dir).await?;
    let mut local = LocalRun::start(&args.bin, &store, telegram_port, args.flash_sale).await?;
    if args.due > 0 {
        seed_due(&store, telegram_port, args.due).await?;
        println!(
            "  {} subscribers with a removal due and {} with a reminder due",
            args.due, args.due
        );
    }
    let all: Vec<usize> = (0..args.payments).rev().collect();
    let started = Instant::now();
    let stop_abusers = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let abusers =
        (args.abusers > 0).then(|| spawn_abusers(local.port, args.abusers, stop_abusers.clone()));
    let mut answered = BTreeSet::new();
    for kill in 1..=kills {
        // The k-th kill once k/(kills+1) of the payments are answered.
        let at = args.payments * kill / (kills + 1);
        let pending: Vec<usize> = all
            .iter()
            .copied()
            .filter(|n| !answered.contains(n))
            .collect();
        let more = at.saturating_sub(answered.len());
        answered.extend(send(local.port, pending, args.connections, Some(more)).await);
        local.kill_9();
        println!(
            "  killed -9 ({kill}/{kills}) with {} IPNs answered; starting again on the same store",
            answered.len()
        );
        local = LocalRun::start(&args.bin, &store, telegram_port, args.flash_sale).await?;
    }
    // What was not answered 2xx is sent again, as NOWPayments retries.
    let rest: Vec<usize> = all.into_iter().filter(|n| !answered.contains(n)).collect();
    answered.extend(send(local.port, rest, args.connections, None).await);
    let ingress = started.elapsed();
    let limit = if args.flash_sale {
        // Twice the bound: past it the figure is a failure anyway.
        Duration::from_secs_f64(2.3 * args.payments as f64 / TELEGRAM_MESSAGES_PER_SECOND)
    } else {
        Duration::from_secs(600)
    };
    let last_invite = wait_for_invites(telegram_port, &answered, limit).await?;
    let due = if args.due > 0 {
        // Each expiry is two paced tasks (the removal, the end notice), each reminder one.
        let tasks = (args.payments + 3 * args.due) as f64;
        let limit = Duration::from_secs_f64(2.0 * tasks / TELEGRAM_MESSAGES_PER_SECOND);
        Some(wait_for_due(telegram_port, args.due, started, limit).await?)
    } else {
        None
    };
    let abuse = match abusers {
        Some(spam) => {
            stop_abusers.store(true, Ordering::SeqCst);
            let lasted = started.elapsed();
            let (updates, answered_2xx) = spam.await?;
            let client = reqwest::Client::new();
            let mut replies = 0;
            for n in 0..args.abusers as i64 {
                replies += messages_to(&client, telegram_port, FIRST_ABUSER + n).await?;
            }
            Some(Abuse {
                updates,
                answered_2xx,
                replies,
                lasted,
            })
        }
        None => None,
    };
    let delivered = invites(telegram_port).await?;
    let paced: Value = reqwest::get(format!("http://127.0.0.1:{telegram_port}/fake/pace"))
        .await?
        .json()
        .await?;
    let dead_letters = dead_letters(&store).await?;
    local.kill_9();
    let _ = telegram.kill();
    let _ = std::fs::remove_dir_all(&dir);

    let buyers = |n: &usize| FIRST_BUYER + *n as i64;
    let two_links = answered
        .iter()
        .filter(|n| {
            let links: BTreeSet<&String> = delivered[&buyers(n)].iter().collect();
            links.len() > 1
        })
        .count();
    let resent = answered
        .iter()
        .filter(|n| delivered[&buyers(n)].len() > 1)
        .count();
    println!(
        "  answered 2xx {} of {}; invites delivered to all of them; buyers with two links {two_links}; same link sent twice {resent}",
        answered.len(),
        args.payments
    );
    if answered.len() != args.payments {
        bail!("{} IPNs never answered 2xx", args.payments - answered.len());
    }
    if two_links > 0 {
        bail!("{two_links} buyers got two different links");
    }
    Ok(Round {
        answered,
        ingress,
        end_to_end: last_invite - started,
        paced: paced["refused"].as_u64().unwrap_or_default(),
        dead_letters,
        due,
        abuse,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "bench-local: {} payments, {} connections, {} cores, store {}",
        args.payments,
        args.connections,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        args.store
    );
    if args.flash_sale {
        return flash_sale(&args).await;
    }
    println!("round 1: throughput");
    let plain = round(&args, 0).await?;
    let n = plain.answered.len() as f64;
    println!(
        "  ingress {:.0} requests/s ({:.2} s); end to end {:.0} payments/s (last invite after {:.2} s)",
        n / plain.ingress.as_secs_f64(),
        plain.ingress.as_secs_f64(),
        n / plain.end_to_end.as_secs_f64(),
        plain.end_to_end.as_secs_f64()
    );
    println!(
        "round 2: durability (kill -9 {} time(s) under load)",
        args.kills
    );
    let killed = round(&args, args.kills).await?;
    println!(
        "  every answered IPN got its invite after the restart; last invite after {:.2} s",
        killed.end_to_end.as_secs_f64()
    );
    Ok(())
}

/// The flash sale: every buyer invited within 1.15 × N/30 s of the last IPN, at
/// Telegram's pace, nothing dead-lettered.
async fn flash_sale(args: &Args) -> anyhow::Result<()> {
    println!(
        "flash sale: {} buyers at Telegram's pace (30 messages/s, 1/s per chat)",
        args.payments
    );
    let sale = round(args, 0).await?;
    let after_last_ipn = sale.end_to_end.saturating_sub(sale.ingress);
    let floor = args.payments as f64 / TELEGRAM_MESSAGES_PER_SECOND;
    let bound = 1.15 * floor;
    println!(
        "  IPNs answered in {:.2} s; last invite {:.2} s after the last IPN (Telegram's floor {floor:.1} s, bound {bound:.1} s); 429s {}; dead letters {}",
        sale.ingress.as_secs_f64(),
        after_last_ipn.as_secs_f64(),
        sale.paced,
        sale.dead_letters
    );
    if let Some(due) = &sale.due {
        println!(
            "  {} removals and {} reminders due at the start: all done {:.2} s after the sale began ({:.2} s after the last IPN); told twice {}; still in {}",
            args.due,
            args.due,
            due.finished.as_secs_f64(),
            due.finished.saturating_sub(sale.ingress).as_secs_f64(),
            due.told_twice,
            due.still_in
        );
        if due.told_twice > 0 || due.still_in > 0 {
            bail!("a due subscriber was told twice or is still in");
        }
    }
    if let Some(abuse) = &sale.abuse {
        // The budget: 12 replies a user per fixed 10-minute window; a run may straddle
        // windows.
        let windows = (abuse.lasted.as_secs() / 600 + 2) as usize;
        let most = args.abusers * 12 * windows;
        println!(
            "  {} accounts spamming for {:.0} s: {} updates sent, {} answered 2xx, {} replies delivered to them (their budget allows at most {most})",
            args.abusers,
            abuse.lasted.as_secs_f64(),
            abuse.updates,
            abuse.answered_2xx,
            abuse.replies
        );
        if abuse.replies > most {
            bail!("the abusers got more replies than their budget");
        }
        if abuse.answered_2xx < abuse.updates {
            println!(
                "  ({} spam updates not answered 2xx: Telegram would redeliver them)",
                abuse.updates - abuse.answered_2xx
            );
        }
    }
    if after_last_ipn.as_secs_f64() > bound {
        bail!("the last invite came after the bound");
    }
    if sale.dead_letters > 0 {
        bail!("{} messages dead-lettered", sale.dead_letters);
    }
    Ok(())
}
