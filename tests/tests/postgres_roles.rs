//! deploy/postgres-roles.sql, as docs/storage.md tells an owner to run it: the migration
//! role applies every migration; the runtime role the functions and `telepay serve`
//! connect as does the chain's work (payments, subscriptions, the server's queues) and
//! cannot create, alter or drop anything.

use std::str::FromStr;

use chrono::Utc;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use telepay_core::access::grant_time;
use telepay_core::fixtures::sample_record;
use telepay_core::ipn::PaymentId;
use telepay_core::queue::MessageQueue;
use telepay_core::store::ports::*;
use telepay_core::store::{ProcessedMark, Recorded};
use telepay_core::subscription::{
    AccessDuration, GrantSource, LifecycleSettings, SubscriptionKey, TimeGrant,
};
use telepay_integration_tests::{database_url, unique};
use telepay_shared::sql::PostgresStore;
use telepay_shared::sql_queue::{SERVER_QUEUES, SqlQueue};

const ROLES: &str = include_str!("../../deploy/postgres-roles.sql");

async fn pool_as(database: &str, user: &str) -> sqlx::PgPool {
    let options = PgConnectOptions::from_str(&database_url())
        .unwrap()
        .database(database)
        .username(user);
    PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .unwrap_or_else(|e| panic!("connect as {user}: {e}"))
}

#[tokio::test]
async fn the_runtime_role_runs_the_chain_and_cannot_change_the_schema() {
    // GIVEN a fresh database and the two roles (names of their own: roles are global)
    let suffix = unique("r").replace('-', "_");
    let database = format!("roles_{suffix}");
    let (migrator, runtime) = (format!("migrator_{suffix}"), format!("runtime_{suffix}"));
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&database_url())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .execute(&admin)
        .await
        .unwrap();
    let admin_here = pool_as(&database, admin_user().as_str()).await;
    let script = ROLES
        .replace("telepay_migrator", &migrator)
        .replace("telepay_runtime", &runtime);
    sqlx::raw_sql(sqlx::AssertSqlSafe(script))
        .execute(&admin_here)
        .await
        .expect("the roles script runs");

    // WHEN the migration role migrates
    let owner = PostgresStore::from_pool(pool_as(&database, &migrator).await);
    owner
        .migrate()
        .await
        .expect("the migration role applies every migration");

    // THEN the runtime role does the chain's work
    let pool = pool_as(&database, &runtime).await;
    let store = PostgresStore::from_pool(pool.clone());
    let record = sample_record(4_492_847_470);
    assert_eq!(store.record_accepted(&record).await.unwrap(), Recorded::New);
    assert_eq!(
        store
            .mark_processed(PaymentId::new(4_492_847_470).unwrap(), Utc::now())
            .await
            .unwrap(),
        ProcessedMark::Marked
    );
    let key = SubscriptionKey::new(record.user_id, -1003111266231);
    let grant = TimeGrant::new(
        GrantSource::Payment(4_492_847_470),
        Utc::now(),
        AccessDuration::from_days(30).unwrap(),
    );
    grant_time(
        &store,
        key,
        &grant,
        Utc::now(),
        &LifecycleSettings::default(),
    )
    .await
    .expect("a subscription is written");
    let queue = SqlQueue::named(pool.clone(), "processor", &SERVER_QUEUES).unwrap();
    queue
        .send(PaymentId::new(4_492_847_470).unwrap(), "{}")
        .await
        .expect("a queue message is sent");
    let received = queue.receive(10).await.expect("and received");
    assert_eq!(received.len(), 1);
    queue
        .delete(received[0].receipt_handle.as_deref().unwrap())
        .await
        .expect("and deleted");

    // AND cannot change the schema
    for ddl in [
        "DROP TABLE processed_payments",
        "ALTER TABLE processed_payments ADD COLUMN stolen TEXT",
        "CREATE TABLE stolen (x INT)",
        "TRUNCATE processed_payments",
    ] {
        let refused = sqlx::query(sqlx::AssertSqlSafe(ddl)).execute(&pool).await;
        let error = refused.expect_err(ddl).to_string();
        assert!(
            error.contains("permission denied") || error.contains("must be owner"),
            "{ddl}: {error}"
        );
    }
    pool.close().await;
    owner.pool().close().await;
    admin_here.close().await;
}

/// The user the test server's URL connects as (the cluster's superuser).
fn admin_user() -> String {
    PgConnectOptions::from_str(&database_url())
        .unwrap()
        .get_username()
        .to_owned()
}
