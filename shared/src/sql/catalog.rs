//! The catalog's versions on SQL: one row per version in `catalog_versions`. An apply
//! is one insert that does nothing on conflict (the primary key decides); the newest is
//! the highest version.

use telepay_core::store::{CatalogApplied, CatalogStore, StoreError, StoredCatalog};

use super::dialect::{Bind, SqlDialect};
use super::rows::CatalogRow;
use super::statements::catalog::{APPLY, NEWEST, VERSION};
use super::{SqlStore, limit, unavailable};

impl<DB: SqlDialect> SqlStore<DB> {
    async fn catalog_rows(
        &self,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<StoredCatalog>, StoreError> {
        self.statements.count();
        DB::catalog_rows(&self.pool, sql, binds)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(CatalogRow::into_catalog)
            .collect()
    }
}

impl<DB: SqlDialect> CatalogStore for SqlStore<DB> {
    async fn latest_catalog(&self) -> Result<Option<StoredCatalog>, StoreError> {
        Ok(self.catalog_rows(NEWEST, vec![limit(1)]).await?.pop())
    }

    async fn catalog_version(&self, version: u32) -> Result<Option<StoredCatalog>, StoreError> {
        let binds = vec![i64::from(version).into()];
        Ok(self.catalog_rows(VERSION, binds).await?.pop())
    }

    async fn apply_catalog(&self, catalog: &StoredCatalog) -> Result<CatalogApplied, StoreError> {
        let binds = vec![
            i64::from(catalog.version).into(),
            catalog.body.as_str().into(),
            catalog.applied_at.timestamp_millis().into(),
            catalog.note.as_str().into(),
        ];
        Ok(if self.write(APPLY, binds).await? {
            CatalogApplied::Applied
        } else {
            CatalogApplied::VersionTaken
        })
    }

    async fn catalog_history(&self, limit_to: usize) -> Result<Vec<StoredCatalog>, StoreError> {
        self.catalog_rows(NEWEST, vec![limit(limit_to)]).await
    }
}
