//! A fresh, migrated store of each backend: what every conformance suite starts a case
//! with (its own SQLite file, Postgres schema or DynamoDB tables).

use std::future::Future;

use telepay_core::store::memory::MemoryStore;
use telepay_shared::dynamodb::DynamoDbStore;
use telepay_shared::sql::{PostgresStore, SqliteStore};

use crate::{MotoResources, postgres_store, sqlite_store};

pub trait FreshStore: Sized + 'static {
    fn fresh() -> impl Future<Output = Self> + Send;
}

impl FreshStore for MemoryStore {
    async fn fresh() -> Self {
        MemoryStore::new()
    }
}

impl FreshStore for SqliteStore {
    async fn fresh() -> Self {
        sqlite_store(true).await
    }
}

impl FreshStore for PostgresStore {
    async fn fresh() -> Self {
        postgres_store(true).await
    }
}

impl FreshStore for DynamoDbStore {
    async fn fresh() -> Self {
        MotoResources::new().await.store()
    }
}
