//! A fresh, migrated store of each backend: what every conformance suite starts a case
//! with (its own SQLite file, Postgres schema or DynamoDB tables).

use std::future::Future;

use telepay_core::store::memory::MemoryPaymentStore;
use telepay_shared::dynamodb::DynamoDbPaymentStore;
use telepay_shared::sql::{PostgresPaymentStore, SqlitePaymentStore};

use crate::{MotoResources, postgres_store, sqlite_store};

pub trait FreshStore: Sized + 'static {
    fn fresh() -> impl Future<Output = Self> + Send;
}

impl FreshStore for MemoryPaymentStore {
    async fn fresh() -> Self {
        MemoryPaymentStore::new()
    }
}

impl FreshStore for SqlitePaymentStore {
    async fn fresh() -> Self {
        sqlite_store(true).await
    }
}

impl FreshStore for PostgresPaymentStore {
    async fn fresh() -> Self {
        postgres_store(true).await
    }
}

impl FreshStore for DynamoDbPaymentStore {
    async fn fresh() -> Self {
        MotoResources::new().await.store()
    }
}
