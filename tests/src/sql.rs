//! Postgres and SQLite stores for the tests: a schema or a file of their own each.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use telepay_shared::sql::{PostgresStore, SqliteStore};

use crate::moto::unique;

/// The Postgres server the test script started (or the one DATABASE_URL names).
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must name a Postgres server; run the tests with `make test`")
}

/// A Postgres store in a schema of its own, so tests run in parallel on one server.
/// With `migrated`, the schema has every migration applied.
pub async fn postgres_store(migrated: bool) -> PostgresStore {
    let url = database_url();
    let schema = unique("t").replace('-', "_");
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("connect to the test Postgres");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let options = PgConnectOptions::from_str(&url).unwrap().options([
        ("search_path", schema.as_str()),
        ("statement_timeout", "10000"),
    ]);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .unwrap();
    let store = PostgresStore::from_pool(pool);
    if migrated {
        store.migrate().await.expect("migrations apply");
    }
    store
}

/// A SQLite store in a fresh file. With `migrated`, every migration is applied.
pub async fn sqlite_store(migrated: bool) -> SqliteStore {
    let path = std::env::temp_dir().join(format!("{}.sqlite", unique("telepay-test")));
    let store = SqliteStore::open(&path).await.expect("open SQLite");
    if migrated {
        store.migrate().await.expect("migrations apply");
    }
    store
}

/// The seed's DDL (the first migration's file), applied as the seed applied it: by hand,
/// with no migration bookkeeping.
pub const SEED_DDL: &str = include_str!("../../migrations/0001_seed_processed_payments.sql");
