//! The catalog's versions in memory: an apply checks the version's absence and writes
//! under one lock.
//!
//! Tests: `tests/tests/conformance.rs` (the memory backend among the four).

use super::MemoryStore;
use crate::store::StoreError;
use crate::store::catalog::{CatalogApplied, CatalogStore, StoredCatalog};

impl CatalogStore for MemoryStore {
    async fn latest_catalog(&self) -> Result<Option<StoredCatalog>, StoreError> {
        self.check_available()?;
        Ok(self.catalogs.lock().unwrap().values().next_back().cloned())
    }

    async fn catalog_version(&self, version: u32) -> Result<Option<StoredCatalog>, StoreError> {
        self.check_available()?;
        Ok(self.catalogs.lock().unwrap().get(&version).cloned())
    }

    async fn apply_catalog(&self, catalog: &StoredCatalog) -> Result<CatalogApplied, StoreError> {
        self.check_available()?;
        let mut catalogs = self.catalogs.lock().unwrap();
        if catalogs.contains_key(&catalog.version) {
            return Ok(CatalogApplied::VersionTaken);
        }
        catalogs.insert(catalog.version, catalog.clone());
        Ok(CatalogApplied::Applied)
    }

    async fn catalog_history(&self, limit: usize) -> Result<Vec<StoredCatalog>, StoreError> {
        self.check_available()?;
        let catalogs = self.catalogs.lock().unwrap();
        Ok(catalogs.values().rev().take(limit).cloned().collect())
    }
}
