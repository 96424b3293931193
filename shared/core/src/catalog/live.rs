//! The catalog as a running function holds it: the version read at cold start, read
//! again from the store at most once per [`REFRESH_EVERY`] at the start of a piece of
//! work, so an applied change reaches every warm function within that time. Between
//! reads nothing is asked of the store: a paid payment costs no catalog read (one read
//! per function instance per period, whatever the traffic). An open invoice's older
//! version is read once and kept (versions never change). A read that fails keeps the
//! version held; a version that cannot be read (which an apply never writes) is logged
//! and skipped.
//!
//! Tests: below; `tests/tests/catalog.rs`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::{Catalog, CatalogError};
use crate::metrics::{self, signal};
use crate::store::{CatalogStore, StoredCatalog};

/// How long a held catalog is used before the store is asked again
/// (`TELEPAY_CATALOG_REFRESH_SECONDS`).
pub const REFRESH_EVERY: Duration = Duration::from_secs(30);

type Read<'a> = Pin<Box<dyn Future<Output = Result<Option<StoredCatalog>, String>> + Send + 'a>>;

/// Where the catalog's versions are read (the store).
pub trait CatalogSource: Send + Sync {
    fn latest(&self) -> Read<'_>;
    fn version(&self, version: u32) -> Read<'_>;
}

impl<S: CatalogStore> CatalogSource for S {
    fn latest(&self) -> Read<'_> {
        Box::pin(async move { self.latest_catalog().await.map_err(|e| e.to_string()) })
    }
    fn version(&self, version: u32) -> Read<'_> {
        Box::pin(async move {
            self.catalog_version(version)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// Why a function cannot start on the store's catalog.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogLoadError {
    #[error(
        "no catalog applied yet: apply one with `telepay catalog apply catalog.json` (see docs/catalog.md)"
    )]
    NoneApplied,
    #[error("the catalog could not be read: {0}")]
    Unreadable(String),
    #[error("catalog version {version} cannot be used: {source}")]
    Invalid { version: u32, source: CatalogError },
}

/// The catalog held by a function, cheap to clone (the stages of one process share it).
#[derive(Clone)]
pub struct LiveCatalog {
    inner: Arc<Inner>,
}

struct Inner {
    current: RwLock<Arc<Catalog>>,
    source: Option<Arc<dyn CatalogSource>>,
    every: Duration,
    checked_at: Mutex<Instant>,
    /// Older versions an open invoice named, read once.
    versions: Mutex<HashMap<u32, Arc<Catalog>>>,
}

impl std::fmt::Debug for LiveCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCatalog")
            .field("version", &self.now().version)
            .field("refreshed", &self.inner.source.is_some())
            .finish()
    }
}

impl From<crate::directory::ChannelDirectory> for LiveCatalog {
    fn from(directory: crate::directory::ChannelDirectory) -> Self {
        Self::fixed(Catalog::of(directory, Default::default()))
    }
}

impl From<Catalog> for LiveCatalog {
    fn from(catalog: Catalog) -> Self {
        Self::fixed(catalog)
    }
}

impl LiveCatalog {
    /// A catalog never read again (from the environment: a local run, the tests).
    pub fn fixed(catalog: Catalog) -> Self {
        Self::build(catalog, None, REFRESH_EVERY)
    }

    fn build(catalog: Catalog, source: Option<Arc<dyn CatalogSource>>, every: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                current: RwLock::new(Arc::new(catalog)),
                source,
                every,
                checked_at: Mutex::new(Instant::now()),
                versions: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// `held`, read again from `source` once `every` has passed (a caller that read the
    /// newest version itself: the chaos run builds its stages synchronously).
    pub fn following(held: Catalog, source: Arc<dyn CatalogSource>, every: Duration) -> Self {
        Self::build(held, Some(source), every)
    }

    /// Cold start: the store's newest version; else `seed` (a catalog from the
    /// environment, version 0) when given; else the function must not start.
    pub async fn load(
        source: Arc<dyn CatalogSource>,
        every: Duration,
        seed: Option<Catalog>,
    ) -> Result<Self, CatalogLoadError> {
        let catalog = match source.latest().await {
            Err(why) => return Err(CatalogLoadError::Unreadable(why)),
            Ok(Some(stored)) => Catalog::read(&stored.body, stored.version).map_err(|source| {
                CatalogLoadError::Invalid {
                    version: stored.version,
                    source,
                }
            })?,
            Ok(None) => seed.ok_or(CatalogLoadError::NoneApplied)?,
        };
        info!(version = catalog.version, "catalog loaded");
        Ok(Self::build(catalog, Some(source), every))
    }

    /// The catalog held now, without asking the store (the rest of a piece of work uses
    /// the one [`LiveCatalog::current`] returned at its start, or this).
    pub fn now(&self) -> Arc<Catalog> {
        self.inner.current.read().unwrap().clone()
    }

    /// At the start of a piece of work: the newest catalog, asking the store if the one
    /// held was read more than the refresh period ago.
    pub async fn current(&self) -> Arc<Catalog> {
        let Some(source) = &self.inner.source else {
            return self.now();
        };
        {
            let mut checked = self.inner.checked_at.lock().unwrap();
            if checked.elapsed() < self.inner.every {
                return self.now();
            }
            // Claimed before the read: concurrent work keeps the held version meanwhile.
            *checked = Instant::now();
        }
        let held = self.now().version;
        match source.latest().await {
            Ok(Some(stored)) if stored.version > held => {
                match Catalog::read(&stored.body, stored.version) {
                    Ok(fresh) => {
                        info!(
                            from = held,
                            to = fresh.version,
                            "a new catalog was applied: used from now on"
                        );
                        metrics::count(signal::CATALOG_CHANGED);
                        *self.inner.current.write().unwrap() = Arc::new(fresh);
                    }
                    Err(e) => {
                        error!(version = stored.version, error = %e, "the newest catalog cannot be used; keeping the one held");
                    }
                }
            }
            Ok(_) => {}
            Err(why) => {
                warn!(%why, version = held, "could not read the catalog again; keeping the one held")
            }
        }
        self.now()
    }

    /// The catalog an order names (`None`: the current one): an open invoice is matched
    /// at the prices it was made at. `None` when that version cannot be read now (the
    /// caller retries) or does not exist.
    pub async fn of_version(&self, version: Option<u32>) -> Result<Arc<Catalog>, String> {
        let current = self.current().await;
        let Some(version) = version.filter(|v| *v != current.version) else {
            return Ok(current);
        };
        if let Some(kept) = self.inner.versions.lock().unwrap().get(&version) {
            return Ok(kept.clone());
        }
        let Some(source) = &self.inner.source else {
            // A fixed catalog knows no other version: the current one decides.
            return Ok(current);
        };
        match source.version(version).await? {
            // An order naming a version never applied (written by hand): the current.
            None => Ok(current),
            Some(stored) => {
                let catalog = Arc::new(
                    Catalog::read(&stored.body, stored.version).map_err(|e| e.to_string())?,
                );
                self.inner
                    .versions
                    .lock()
                    .unwrap()
                    .insert(version, catalog.clone());
                Ok(catalog)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::SAMPLE_DIRECTORY;
    use crate::store::memory::MemoryStore;
    use crate::store::{CatalogApplied, CatalogStore};

    fn priced(price: f64) -> String {
        let mut document: serde_json::Value = serde_json::from_str(SAMPLE_DIRECTORY).unwrap();
        document["channels"][0]["tiers"][0]["price_amount"] = price.into();
        document.to_string()
    }

    async fn apply(store: &MemoryStore, version: u32, price: f64) {
        let applied = store
            .apply_catalog(&StoredCatalog {
                version,
                body: priced(price),
                applied_at: chrono::Utc::now(),
                note: String::new(),
            })
            .await
            .unwrap();
        assert_eq!(applied, CatalogApplied::Applied);
    }

    fn price(catalog: &Arc<Catalog>) -> f64 {
        catalog.directory.channels()[0].tiers[0].price_amount
    }

    #[tokio::test]
    async fn a_new_version_is_used_once_the_period_has_passed_and_not_before() {
        let store = Arc::new(MemoryStore::new());
        apply(&store, 1, 3.0).await;
        let slow = LiveCatalog::load(store.clone(), Duration::from_secs(3600), None)
            .await
            .unwrap();
        let fast = LiveCatalog::load(store.clone(), Duration::ZERO, None)
            .await
            .unwrap();
        apply(&store, 2, 5.0).await;
        assert_eq!(price(&slow.current().await), 3.0, "within the period: held");
        assert_eq!(price(&fast.current().await), 5.0, "past the period: read");
        assert_eq!(fast.now().version, 2);
    }

    #[tokio::test]
    async fn an_order_made_at_an_older_version_is_matched_at_it() {
        let store = Arc::new(MemoryStore::new());
        apply(&store, 1, 3.0).await;
        apply(&store, 2, 5.0).await;
        let live = LiveCatalog::load(store.clone(), Duration::ZERO, None)
            .await
            .unwrap();
        assert_eq!(price(&live.of_version(Some(1)).await.unwrap()), 3.0);
        assert_eq!(price(&live.of_version(None).await.unwrap()), 5.0);
        assert_eq!(price(&live.of_version(Some(9)).await.unwrap()), 5.0);
        store.set_unavailable(true);
        assert_eq!(
            price(&live.of_version(Some(1)).await.unwrap()),
            3.0,
            "kept once read"
        );
        assert_eq!(
            price(&live.current().await),
            5.0,
            "an outage keeps the held one"
        );
    }

    #[tokio::test]
    async fn a_function_starts_on_the_store_else_the_seed_else_not_at_all() {
        let store = Arc::new(MemoryStore::new());
        let seed = Catalog::read(&priced(2.0), 0).unwrap();
        let seeded = LiveCatalog::load(store.clone(), REFRESH_EVERY, Some(seed.clone()))
            .await
            .unwrap();
        assert_eq!(seeded.now().version, 0);
        assert_eq!(
            LiveCatalog::load(store.clone(), REFRESH_EVERY, None)
                .await
                .unwrap_err(),
            CatalogLoadError::NoneApplied
        );
        apply(&store, 1, 4.0).await;
        let stored = LiveCatalog::load(store.clone(), REFRESH_EVERY, Some(seed))
            .await
            .unwrap();
        assert_eq!(price(&stored.now()), 4.0, "the store wins over the seed");
        store.set_unavailable(true);
        assert!(matches!(
            LiveCatalog::load(store, REFRESH_EVERY, None).await,
            Err(CatalogLoadError::Unreadable(_))
        ));
    }
}
