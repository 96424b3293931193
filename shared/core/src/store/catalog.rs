//! The catalog's port: every version of the catalog (channels, tiers, the bot's texts)
//! ever applied, kept (the history), each under its number. Applying is one conditional
//! write: version N+1 is written only if no version N+1 exists, so two owners applying at
//! once cannot both become N+1; the loser is told and applies again on top of the
//! winner. A version, once written, never changes, so any version may be cached forever.
//! What the versions hold is checked before they are written ([`crate::catalog`]).
//!
//! Tests: every backend in `tests/tests/conformance.rs` (`catalog_*`).

use std::future::Future;

use chrono::{DateTime, Utc};

use super::StoreError;

/// One applied version of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCatalog {
    /// 1, 2, 3… in the order applied.
    pub version: u32,
    /// The catalog's JSON, as checked.
    pub body: String,
    pub applied_at: DateTime<Utc>,
    /// Who applied it and why (`telepay catalog apply --note`), for the history.
    pub note: String,
}

/// What an apply did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogApplied {
    /// The version is written: it is the latest.
    Applied,
    /// Another apply wrote this version first: nothing was written.
    VersionTaken,
}

pub trait CatalogStore: Send + Sync {
    /// The newest version, or `None` when none was ever applied.
    fn latest_catalog(
        &self,
    ) -> impl Future<Output = Result<Option<StoredCatalog>, StoreError>> + Send;

    /// One version (an open invoice's), or `None` when it does not exist.
    fn catalog_version(
        &self,
        version: u32,
    ) -> impl Future<Output = Result<Option<StoredCatalog>, StoreError>> + Send;

    /// Writes `catalog` only if its version does not exist yet.
    fn apply_catalog(
        &self,
        catalog: &StoredCatalog,
    ) -> impl Future<Output = Result<CatalogApplied, StoreError>> + Send;

    /// Up to `limit` versions, newest first.
    fn catalog_history(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<StoredCatalog>, StoreError>> + Send;
}
