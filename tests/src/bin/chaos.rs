//! `make chaos`: the seeded chaos run on every store backend, with its figures.
//!
//! Usage: chaos [--seed N] [--payments N] [--dynamodb-payments N] [--backends a,b,...]
//! Needs DATABASE_URL (Postgres) and moto endpoints for DynamoDB: `scripts/chaos.sh`
//! starts both. Exits 1 if any guarantee broke, printing the seed that replays it. The
//! wall time is reported, split into arrivals and drain, never judged: how long a run
//! takes depends on the machine, whether it keeps its guarantees does not.

use std::process::ExitCode;
use std::time::Duration;

use telepay_integration_tests::chaos::{self, ChaosConfig, report};
use telepay_integration_tests::{MotoResources, postgres_store, sqlite_store};

struct Args {
    seed: u64,
    payments: usize,
    dynamodb_payments: usize,
    backends: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seed: 20261128,
        payments: 10_000,
        dynamodb_payments: 3_000,
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
                let store = telepay_core::store::memory::MemoryPaymentStore::new();
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
    }
    if broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
