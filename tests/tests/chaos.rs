//! The seeded chaos run, small, on every store backend: the same guarantees `make chaos`
//! publishes for 10,000 payments. A failure prints the seed that replays its schedule.

use telepay_core::store::memory::MemoryStore;
use telepay_core::store::ports::*;
use telepay_integration_tests::chaos::{self, ChaosConfig};
use telepay_integration_tests::{MotoResources, postgres_store, sqlite_store};

/// The seed of this run: CHAOS_SEED replays another one.
pub(crate) fn seed() -> u64 {
    std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261128)
}

/// The run's runtime: four workers, as before, with 8 MiB stacks. A debug build's poll
/// frames through the AWS SDK orchestrator, the chaos decorators and the handlers come
/// close to tokio's default 2 MiB; release builds (Lambda, `make chaos`) are far below.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_stack_size(8 << 20)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn config(payments: usize) -> ChaosConfig {
    ChaosConfig::new(seed(), payments)
}

async fn run_and_check<S: PaymentStore + 'static>(backend: &str, store: S, config: ChaosConfig) {
    let payments = config.payments;
    let report = chaos::run(backend, store, config).await;
    println!("{report}");
    let violations = report.violations();
    assert!(
        violations.is_empty(),
        "guarantees broken on {backend} (replay with CHAOS_SEED={}):\n{}",
        report.seed,
        violations.join("\n")
    );
    // The run must have exercised what it claims to.
    assert!(report.invited > payments / 2, "most payments are invited");
    assert!(!report.held.is_empty() && !report.invite_failed.is_empty());
    assert!(
        report.held.contains_key("underpaid"),
        "short payments were held: {:?}",
        report.held
    );
    assert_eq!(
        report.held_told.values().sum::<usize>(),
        report.held.values().sum::<usize>(),
        "every held payment was told (violations name any that were not)"
    );
    assert!(
        report.topped_up > 0 && report.short_left_open > 0 && report.overpaid_with_surplus > 0,
        "short payments were topped up ({}) and left open ({}), overpayments granted with a surplus ({})",
        report.topped_up,
        report.short_left_open,
        report.overpaid_with_surplus
    );
    assert!(report.forged_sent > 0, "forgeries were sent");
    assert!(
        report.figures.catalog_applied > 0 && report.granted_at_invoice_price > 0,
        "prices changed during the run ({} versions) and invoices made before were granted at their price ({})",
        report.figures.catalog_applied,
        report.granted_at_invoice_price
    );
    assert!(
        report.ipns_lost > 0 && report.ipns_lost_recovered == report.ipns_lost,
        "payments whose finishing IPNs were lost were all recovered ({} of {})",
        report.ipns_lost_recovered,
        report.ipns_lost
    );
    assert!(
        report.renewals > 0 && report.renewed_in_place > 0,
        "returning buyers renewed, some in place"
    );
    let crashes = report
        .figures
        .injected
        .keys()
        .filter(|k| k.starts_with("crash: "))
        .count();
    assert!(
        crashes >= 10,
        "crashes hit at least 10 step boundaries, got {crashes}"
    );
}

#[test]
fn chaos_on_memory() {
    runtime().block_on(async {
        run_and_check("memory", MemoryStore::new(), config(300)).await;
    });
}

#[test]
fn chaos_on_sqlite() {
    runtime().block_on(async {
        run_and_check("sqlite", sqlite_store(true).await, config(300)).await;
    });
}

#[test]
fn chaos_on_postgres() {
    runtime().block_on(async {
        run_and_check("postgres", postgres_store(true).await, config(300)).await;
    });
}

#[test]
fn chaos_on_dynamodb() {
    runtime().block_on(async {
        let store = MotoResources::new().await.store();
        // Single-threaded moto serves ~30 payments/s: arrive slower than that, as `make chaos`.
        let mut config = config(200);
        config.arrival_interval = std::time::Duration::from_millis(40);
        run_and_check("dynamodb (moto)", store, config).await;
    });
}

mod lifecycle {
    use telepay_core::store::memory::MemoryStore;
    use telepay_core::store::ports::*;
    use telepay_integration_tests::chaos::lifecycle::{self, LifecycleChaosConfig};
    use telepay_integration_tests::{MotoResources, postgres_store, sqlite_store};

    use super::{runtime, seed};

    /// Spawned: the run polls the grants and the consumer together, and a debug build's
    /// frames through the AWS SDK need the runtime's 8 MiB worker stack, not the test
    /// thread's.
    async fn run_and_check<S: PaymentStore + 'static>(
        backend: &'static str,
        store: S,
        buyers: usize,
    ) {
        tokio::spawn(check(backend, store, buyers))
            .await
            .expect("the lifecycle run");
    }

    async fn check<S: PaymentStore + 'static>(backend: &'static str, store: S, buyers: usize) {
        let mut config = LifecycleChaosConfig::new(seed(), buyers);
        // Twelve-hour steps and more refunds than `make chaos`: the same paths, in less
        // time, with refunds certain to happen.
        config.step = chrono::TimeDelta::hours(12);
        config.refunded = 0.04;
        let report = lifecycle::run(store, config).await;
        println!("{backend}: {report}");
        let violations = report.violations();
        assert!(
            violations.is_empty(),
            "subscription guarantees broken on {backend} (replay with CHAOS_SEED={}):\n{}",
            report.seed,
            violations.join("\n")
        );
        // The run must have exercised what it claims to.
        assert!(
            report.removals > buyers / 2,
            "most buyers were removed at their end"
        );
        assert!(report.renewed_before_end > 0 && report.returned_after_removal > 0);
        assert!(report.refunds > 0, "refunds happened");
        assert!(
            report.crossed_removals > 0,
            "a renewal crossed a removal under way"
        );
        assert!(report.reminders > buyers, "reminders went out");
        assert!(
            report.operator_extends > 0 && report.joined_through_invites > 0,
            "operators extended removed buyers, who came back through the lifecycle's link"
        );
        assert!(
            report.late_requeues_ended_unsent > 0,
            "invites queued again after the paid time ended without a link"
        );
        assert!(
            report.held_then_refunded > 0,
            "held payments were refunded, then approved"
        );
        let crashes = report
            .injected
            .keys()
            .filter(|k| k.contains("Crashed"))
            .count();
        assert!(crashes > 0, "lifecycle invocations crashed");
    }

    #[test]
    fn subscriptions_under_chaos_on_memory() {
        runtime().block_on(run_and_check("memory", MemoryStore::new(), 150));
    }

    #[test]
    fn subscriptions_under_chaos_on_sqlite() {
        runtime().block_on(async { run_and_check("sqlite", sqlite_store(true).await, 150).await });
    }

    #[test]
    fn subscriptions_under_chaos_on_postgres() {
        runtime()
            .block_on(async { run_and_check("postgres", postgres_store(true).await, 150).await });
    }

    #[test]
    fn subscriptions_under_chaos_on_dynamodb() {
        runtime().block_on(async {
            let store = MotoResources::new().await.store();
            run_and_check("dynamodb (moto)", store, 80).await
        });
    }
}

mod burst {
    use telepay_core::store::memory::MemoryStore;
    use telepay_integration_tests::chaos::burst::{self, BurstConfig};

    use super::runtime;

    /// A small burst at the deployed pace (`make chaos` runs 10,000): every member out
    /// and told exactly once, within Telegram's limits.
    #[test]
    fn a_burst_of_expiries_is_removed_once_each_at_telegrams_pace() {
        runtime().block_on(async {
            let report = tokio::spawn(burst::run(
                "memory",
                MemoryStore::new(),
                BurstConfig::deployed(200),
            ))
            .await
            .expect("the burst");
            println!("{report}");
            let violations = report.violations();
            assert!(violations.is_empty(), "{}", violations.join("\n"));
            assert_eq!(report.removed, 200);
            assert_eq!(
                report.rate_limited, 0,
                "the consumers' pace stays under Telegram's"
            );
            assert!(
                report.time_to_finish >= report.paced_minimum.mul_f64(0.9),
                "paced, not faster than the pace allows"
            );
        });
    }
}

mod join_requests {
    use telepay_core::store::memory::MemoryStore;
    use telepay_integration_tests::chaos::admission::{self, AdmissionChaosConfig};
    use telepay_integration_tests::{MotoResources, postgres_store, sqlite_store};

    use super::{runtime, seed};

    async fn check(report: admission::AdmissionReport) {
        println!("{report}");
        let violations = report.violations();
        assert!(
            violations.is_empty(),
            "join-request guarantees broken on {} (replay with CHAOS_SEED={}):\n{}",
            report.backend,
            report.seed,
            violations.join("\n")
        );
        // The leg exercised what it claims to.
        assert_eq!(
            report.payers_in + report.one_time_forwarded,
            report.buyers,
            "every payer of the join-request channel got in"
        );
        assert!(
            report.racing > 0 && report.rechecks > 0,
            "requests raced their payments and waited"
        );
        assert!(report.redelivered > 0, "Telegram redelivered updates");
        assert!(report.crashes > 0, "crashes hit the bot");
        assert!(
            report.one_time_forwarded > 0
                && report.one_time_links_revoked == report.one_time_forwarded,
            "friends used forwarded one-time links, and each link was revoked"
        );
    }

    #[test]
    fn memory() {
        runtime().block_on(async {
            let run = admission::run(
                "memory",
                MemoryStore::new(),
                AdmissionChaosConfig::new(seed(), 120),
            );
            check(tokio::spawn(run).await.unwrap()).await;
        });
    }

    #[test]
    fn sqlite() {
        runtime().block_on(async {
            let store = sqlite_store(true).await;
            let run = admission::run("sqlite", store, AdmissionChaosConfig::new(seed(), 120));
            check(tokio::spawn(run).await.unwrap()).await;
        });
    }

    #[test]
    fn postgres() {
        runtime().block_on(async {
            let store = postgres_store(true).await;
            let run = admission::run("postgres", store, AdmissionChaosConfig::new(seed(), 120));
            check(tokio::spawn(run).await.unwrap()).await;
        });
    }

    #[test]
    fn dynamodb() {
        runtime().block_on(async {
            let store = MotoResources::new().await.store();
            let run = admission::run(
                "dynamodb (moto)",
                store,
                AdmissionChaosConfig::new(seed(), 60),
            );
            check(tokio::spawn(run).await.unwrap()).await;
        });
    }
}

mod stars {
    use telepay_core::store::memory::MemoryStore;
    use telepay_integration_tests::chaos::stars::{self, StarsChaosConfig};
    use telepay_integration_tests::{MotoResources, postgres_store, sqlite_store};

    use super::{runtime, seed};

    fn check(report: stars::StarsReport) {
        println!("{report}");
        let violations = report.violations();
        assert!(
            violations.is_empty(),
            "Stars guarantees broken on {} (replay with CHAOS_SEED={}):\n{}",
            report.backend,
            report.seed,
            violations.join("\n")
        );
        // The leg exercised what it claims to.
        assert!(
            report.charges > report.buyers / 2,
            "most buyers were charged ({} of {})",
            report.charges,
            report.buyers
        );
        assert!(report.renewals > 0, "subscriptions renewed");
        assert!(report.crypto_months > 0, "buyers paid in crypto too");
        assert!(
            report.refunded_by_owner > 0 && report.refunded_by_telegram > 0,
            "refunds both ways ({} by the owner, {} by Telegram)",
            report.refunded_by_owner,
            report.refunded_by_telegram
        );
        assert!(report.cancelled > 0, "buyers cancelled");
        assert!(
            report.redelivered_updates > 0,
            "Telegram redelivered updates"
        );
        assert!(report.crashes > 0, "crashes hit the bot and the processor");
    }

    #[test]
    fn memory() {
        runtime().block_on(async {
            let run = stars::run(
                "memory",
                MemoryStore::new(),
                StarsChaosConfig::new(
                    seed(),
                    std::env::var("STARS_N")
                        .ok()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(40),
                ),
            );
            check(tokio::spawn(run).await.unwrap());
        });
    }

    #[test]
    fn sqlite() {
        runtime().block_on(async {
            let store = sqlite_store(true).await;
            let run = stars::run("sqlite", store, StarsChaosConfig::new(seed(), 40));
            check(tokio::spawn(run).await.unwrap());
        });
    }

    #[test]
    fn postgres() {
        runtime().block_on(async {
            let store = postgres_store(true).await;
            let run = stars::run("postgres", store, StarsChaosConfig::new(seed(), 40));
            check(tokio::spawn(run).await.unwrap());
        });
    }

    #[test]
    fn dynamodb() {
        runtime().block_on(async {
            let store = MotoResources::new().await.store();
            let run = stars::run("dynamodb (moto)", store, StarsChaosConfig::new(seed(), 30));
            check(tokio::spawn(run).await.unwrap());
        });
    }
}
