//! The SQL backends: Postgres (optional in Lambda, where many seed users keep their
//! payments) and SQLite (the embedded default of the local run). One generic store,
//! [`SqlStore`], over one set of statements; only connecting differs.
//!
//! - `statements.rs`: every statement; the WHERE clause of each write is its rule.
//! - `rows.rs`: rows as stored, read into the domain's records.
//! - `dialect.rs`: what the store needs from a driver, stated once for both.
//! - `migrations.rs`: the embedded migrations.
//! - `store.rs`: the payment ports, implemented once for both dialects.
//! - `subscriptions.rs`: the subscriptions port.
//! - `bot.rs`: the bot's once-records port (`bot_once`).
//! - `held.rs`: the held-payment notices port (columns on `payment_reviews`).
//! - `parts.rs`: the purchases-in-parts port (columns on `payment_reviews`).
//! - `offsets.rs`: the polling server's update offset (`update_offsets`).
//! - `budgets.rs`: rate budgets (`rate_budgets`).

mod bot;
mod budgets;
mod catalog;
mod dialect;
mod held;
mod migrations;
mod offsets;
mod parts;
mod rows;
mod statements;
mod store;
mod subscriptions;
mod watches;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::Pool;
#[cfg(feature = "postgres")]
use sqlx::Postgres;
#[cfg(feature = "sqlite")]
use sqlx::Sqlite;
#[cfg(feature = "postgres")]
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
#[cfg(feature = "sqlite")]
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use telepay_core::store::StoreError;

pub use dialect::{Bind, SqlDialect};
pub use migrations::MIGRATOR;

#[cfg(feature = "postgres")]
use crate::config::DatabaseUrl;

/// The payment store on a SQL database.
#[derive(Debug)]
pub struct SqlStore<DB: SqlDialect> {
    pool: Pool<DB>,
    statements: StatementCounter,
}

impl<DB: SqlDialect> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            statements: self.statements.clone(),
        }
    }
}

#[cfg(feature = "postgres")]
/// Postgres backend: selected with `TELEPAY_STORE_BACKEND=postgres` + `DATABASE_URL`.
pub type PostgresStore = SqlStore<Postgres>;

#[cfg(feature = "sqlite")]
/// SQLite backend: an embedded file, the default of the local run.
pub type SqliteStore = SqlStore<Sqlite>;

/// Counts the statements sent to the database: the measure of store traffic.
#[derive(Debug, Clone, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    fn count(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl<DB: SqlDialect> SqlStore<DB> {
    pub fn from_pool(pool: Pool<DB>) -> Self {
        Self {
            pool,
            statements: StatementCounter::default(),
        }
    }

    pub fn pool(&self) -> &Pool<DB> {
        &self.pool
    }

    /// Statements sent so far by this store (and its clones).
    pub fn statements(&self) -> &StatementCounter {
        &self.statements
    }

    /// Applies the pending migrations (the documented `telepay migrate`).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        DB::migrate(&self.pool)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }
}

/// A `LIMIT` bound from a listing's size.
fn limit(n: usize) -> dialect::Bind {
    dialect::Bind::from(i64::try_from(n).unwrap_or(i64::MAX))
}

/// What a write fenced on a lease token answers: whether its `WHERE` (the token still
/// holds) matched.
fn fenced(written: bool) -> telepay_core::store::Fenced {
    if written {
        telepay_core::store::Fenced::Done
    } else {
        telepay_core::store::Fenced::LeaseLost
    }
}

fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

#[cfg(feature = "postgres")]
impl PostgresStore {
    /// Connects once at cold start, sized for Lambda: one invocation at a time needs one
    /// connection (two for overlap), and every statement is capped at `statement_timeout`.
    pub async fn connect(
        url: &DatabaseUrl,
        statement_timeout: Duration,
    ) -> Result<Self, StoreError> {
        Self::connect_pool(url, statement_timeout, 2).await
    }

    /// As [`Self::connect`], with a pool of `connections` (a server: its consumers,
    /// webhooks and scheduled jobs share one pool).
    ///
    /// Lazily: no connection is opened until a statement needs one, so a flood of
    /// unsigned requests (answered before any store call) cold-starting functions opens
    /// none, and a small database's connection slots stay for real IPNs. A database on
    /// another host is reached over TLS only ([`tls_for`]).
    pub async fn connect_pool(
        url: &DatabaseUrl,
        statement_timeout: Duration,
        connections: u32,
    ) -> Result<Self, StoreError> {
        use std::str::FromStr;
        let options = PgConnectOptions::from_str(url.expose())
            // The parse error can quote the URL; say only what is wrong.
            .map_err(|_| {
                StoreError::Unavailable("DATABASE_URL is not a valid Postgres URL".into())
            })?
            .application_name("telepay")
            .options([(
                "statement_timeout",
                statement_timeout.as_millis().to_string(),
            )]);
        let mode =
            tls_for(options.get_host(), options.get_ssl_mode()).map_err(StoreError::Unavailable)?;
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options.ssl_mode(mode));
        Ok(Self::from_pool(pool))
    }
}

/// The TLS a connection to `host` must use: none needed on this machine (a Unix socket,
/// loopback); anywhere else at least `require` (the URL's `prefer`, the default, becomes
/// `require`; `verify-ca`/`verify-full` stay), and `disable`/`allow` are refused, since
/// the password and every payment would cross the network in clear.
#[cfg(feature = "postgres")]
pub fn tls_for(
    host: &str,
    asked: sqlx::postgres::PgSslMode,
) -> Result<sqlx::postgres::PgSslMode, String> {
    use sqlx::postgres::PgSslMode;
    let local = host.starts_with('/')
        || host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match asked {
        _ if local => Ok(asked),
        PgSslMode::Disable | PgSslMode::Allow => Err(format!(
            "DATABASE_URL: the database on {host} must be reached over TLS; remove sslmode=disable/allow (or set sslmode=require, or verify-full with sslrootcert)"
        )),
        PgSslMode::Prefer => Ok(PgSslMode::Require),
        other => Ok(other),
    }
}

#[cfg(feature = "sqlite")]
impl SqliteStore {
    /// Writes a consistent copy of the whole file to `path` while others keep writing
    /// (`VACUUM INTO`: one read transaction, so the copy is the database at one instant).
    /// Refuses a path that exists, as SQLite does.
    pub async fn backup_to(&self, path: &std::path::Path) -> Result<(), StoreError> {
        if path.exists() {
            return Err(StoreError::Unavailable(format!(
                "{} exists: a backup never overwrites",
                path.display()
            )));
        }
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Unavailable("the backup path must be valid UTF-8".into()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Opens (creating if missing) the SQLite file at `path`, in WAL mode with a busy
    /// timeout so concurrent writers wait instead of failing.
    pub async fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        Ok(Self::from_pool(pool))
    }
}

#[cfg(all(test, feature = "postgres"))]
mod tls_tests {
    use sqlx::postgres::PgSslMode;

    use super::tls_for;

    #[test]
    fn a_database_elsewhere_is_reached_over_tls_only() {
        for local in [
            "localhost",
            "127.0.0.1",
            "::1",
            "[::1]",
            "/var/run/postgresql",
        ] {
            assert!(matches!(
                tls_for(local, PgSslMode::Disable),
                Ok(PgSslMode::Disable)
            ));
            assert!(matches!(
                tls_for(local, PgSslMode::Prefer),
                Ok(PgSslMode::Prefer)
            ));
        }
        let rds = "telepay.abc123.eu-west-1.rds.amazonaws.com";
        assert!(matches!(
            tls_for(rds, PgSslMode::Prefer),
            Ok(PgSslMode::Require)
        ));
        assert!(matches!(
            tls_for(rds, PgSslMode::VerifyFull),
            Ok(PgSslMode::VerifyFull)
        ));
        for clear in [PgSslMode::Disable, PgSslMode::Allow] {
            let refused = tls_for(rds, clear).unwrap_err();
            assert!(refused.contains("must be reached over TLS"), "{refused}");
        }
        assert!(tls_for("10.0.0.5", PgSslMode::Disable).is_err());
    }

    /// The refusal comes before any connection, names the variable, and never the URL.
    #[tokio::test]
    async fn a_clear_text_url_to_another_host_stops_the_start() {
        let url = crate::config::DatabaseUrl::new(
            "postgres://telepay:pw-Zx81@db.example.com/telepay?sslmode=disable".to_owned(),
        );
        let Err(refused) =
            super::PostgresStore::connect(&url, std::time::Duration::from_secs(1)).await
        else {
            panic!("a clear-text URL to another host was accepted");
        };
        let refused = refused.to_string();
        assert!(
            refused.contains("DATABASE_URL") && refused.contains("TLS"),
            "{refused}"
        );
        assert!(!refused.contains("pw-Zx81"), "{refused}");
    }
}
