//! `make chaos`: the seeded chaos run on every store backend, with its figures.
//!
//! Usage: chaos [--seed N] [--payments N] [--dynamodb-payments N] [--subscribers N]
//!              [--join-requests N] [--stars N] [--burst N] [--backends a,b,...]
//! Each backend runs the payment chain, then the subscription lifecycle leg
//! (`--subscribers` buyers over four simulated months; a third of them on DynamoDB),
//! then the join-request leg (`--join-requests` buyers of a channel that admits through
//! join requests, the bot under crashes and faults; a third of them on DynamoDB), then
//! the Telegram Stars leg (`--stars` buyers paying in Stars, one-time and renewing, some
//! in crypto too, refunded both ways, cancelling; a third of them on DynamoDB).
//! Last, `--burst` expiries at one moment (default 10,000; 0 skips it) are removed at
//! the deployed pace against a fake Telegram that enforces its limits in real time, on
//! SQLite.
//! Needs DATABASE_URL (Postgres) and moto endpoints for DynamoDB: `scripts/chaos.sh`
//! starts both. Exits 1 if any guarantee broke, printing the seed that replays it. The
//! wall time is reported, split into arrivals and drain, never judged: how long a run
//! takes depends on the machine, whether it keeps its guarantees does not.

use std::process::ExitCode;
use std::time::Duration;

use telepay_integration_tests::chaos::admission::{self, AdmissionChaosConfig};
use telepay_integration_tests::chaos::burst;
use telepay_integration_tests::chaos::lifecycle::{self, LifecycleChaosConfig};
use telepay_integration_tests::chaos::stars::{self, StarsChaosConfig};
use telepay_integration_tests::chaos::{self, ChaosConfig, report};
use telepay_integration_tests::{MotoResources, postgres_store, sqlite_store};

struct Args {
    seed: u64,
    payments: usize,
    dynamodb_payments: usize,
    subscribers: usize,
    join_requests: usize,
    stars: usize,
    burst: usize,
    backends: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seed: 20261128,
        payments: 10_000,
        dynamodb_payments: 3_000,
        subscribers: 1_000,
        join_requests: 1_000,
        stars: 1_000,
        burst: 10_000,
        backends: ["memory", "sqlite", "postgres", "dynamodb"]
            .map(String::from)
            .to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seed" => args.seed = value()?.parse().map_err(|_| "--seed takes a number")?,
            "--payments" => {
                args.payments = value()?.parse().map_err(|_| "--payments takes a number")?
            }
            "--dynamodb-payments" => {
                args.dynamodb_payments = value()?
                    .parse()
                    .map_err(|_| "--dynamodb-payments takes a number")?
            }
            "--subscribers" => {
                args.subscribers = value()?
                    .parse()
                    .map_err(|_| "--subscribers takes a number")?
            }
            "--join-requests" => {
                args.join_requests = value()?
                    .parse()
                    .map_err(|_| "--join-requests takes a number")?
            }
            "--stars" => args.stars = value()?.parse().map_err(|_| "--stars takes a number")?,
            "--burst" => args.burst = value()?.parse().map_err(|_| "--burst takes a number")?,
            "--backends" => args.backends = value()?.split(',').map(String::from).collect(),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("chaos: {message}");
            return ExitCode::from(2);
        }
    };
    let mut broken = false;
    for backend in &args.backends {
        let config = |payments| ChaosConfig::new(args.seed, payments);
        let report = match backend.as_str() {
            "memory" => {
                let store = telepay_core::store::memory::MemoryStore::new();
                chaos::run("memory", store, config(args.payments)).await
            }
            "sqlite" => chaos::run("sqlite", sqlite_store(true).await, config(args.payments)).await,
            "postgres" => {
                chaos::run(
                    "postgres",
                    postgres_store(true).await,
                    config(args.payments),
                )
                .await
            }
            "dynamodb" => {
                // Single-threaded moto serves ~30 payments/s: arrive slower than that.
                let mut config = config(args.dynamodb_payments);
                config.arrival_interval = Duration::from_millis(40);
                let store = MotoResources::new().await.store();
                chaos::run("dynamodb (moto)", store, config).await
            }
            other => {
                eprintln!("chaos: unknown backend {other}");
                return ExitCode::from(2);
            }
        };
        println!("{report}");
        if std::env::var_os("CHAOS_VERBOSE").is_some() {
            print!("  injected:\n{}", report::injected(&report));
        }
        for violation in report.violations() {
            broken = true;
            eprintln!(
                "GUARANTEE BROKEN on {} (seed {}): {violation}",
                report.backend, report.seed
            );
        }
        if args.subscribers > 0 {
            let subscribers = match backend.as_str() {
                "dynamodb" => args.subscribers / 3,
                _ => args.subscribers,
            };
            let config = LifecycleChaosConfig::new(args.seed, subscribers);
            let report = match backend.as_str() {
                "memory" => {
                    let store = telepay_core::store::memory::MemoryStore::new();
                    lifecycle::run(store, config).await
                }
                "sqlite" => lifecycle::run(sqlite_store(true).await, config).await,
                "postgres" => lifecycle::run(postgres_store(true).await, config).await,
                _ => lifecycle::run(MotoResources::new().await.store(), config).await,
            };
            println!("{backend}: {report}");
            for violation in report.violations() {
                broken = true;
                eprintln!(
                    "SUBSCRIPTION GUARANTEE BROKEN on {backend} (seed {}): {violation}",
                    report.seed
                );
            }
        }
    }
    if args.join_requests > 0 {
        for backend in &args.backends {
            let buyers = match backend.as_str() {
                "dynamodb" => args.join_requests / 3,
                _ => args.join_requests,
            };
            let config = AdmissionChaosConfig::new(args.seed, buyers);
            let report = match backend.as_str() {
                "memory" => {
                    let store = telepay_core::store::memory::MemoryStore::new();
                    admission::run("memory", store, config).await
                }
                "sqlite" => admission::run("sqlite", sqlite_store(true).await, config).await,
                "postgres" => admission::run("postgres", postgres_store(true).await, config).await,
                _ => {
                    admission::run(
                        "dynamodb (moto)",
                        MotoResources::new().await.store(),
                        config,
                    )
                    .await
                }
            };
            println!("{report}");
            for violation in report.violations() {
                broken = true;
                eprintln!(
                    "JOIN-REQUEST GUARANTEE BROKEN on {backend} (seed {}): {violation}",
                    report.seed
                );
            }
        }
    }
    if args.stars > 0 {
        for backend in &args.backends {
            let buyers = match backend.as_str() {
                "dynamodb" => args.stars / 3,
                _ => args.stars,
            };
            let config = StarsChaosConfig::new(args.seed, buyers);
            let report = match backend.as_str() {
                "memory" => {
                    let store = telepay_core::store::memory::MemoryStore::new();
                    stars::run("memory", store, config).await
                }
                "sqlite" => stars::run("sqlite", sqlite_store(true).await, config).await,
                "postgres" => stars::run("postgres", postgres_store(true).await, config).await,
                _ => {
                    stars::run(
                        "dynamodb (moto)",
                        MotoResources::new().await.store(),
                        config,
                    )
                    .await
                }
            };
            println!("{report}");
            for violation in report.violations() {
                broken = true;
                eprintln!(
                    "STARS GUARANTEE BROKEN on {backend} (seed {}): {violation}",
                    report.seed
                );
            }
        }
    }
    if args.burst > 0 {
        // One backend: the leg measures Telegram's pace, which no store changes.
        let config = burst::BurstConfig::deployed(args.burst);
        let report = burst::run("sqlite", sqlite_store(true).await, config).await;
        println!("{report}");
        for violation in report.violations() {
            broken = true;
            eprintln!("BURST GUARANTEE BROKEN: {violation}");
        }
    }
    if broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
