//! Applying a catalog (`telepay catalog apply`): checked in full first ([`Catalog::check`]:
//! nothing invalid is ever written, so no function can start on it), then written as the
//! next version in one conditional write ([`CatalogStore::apply_catalog`]). The same
//! catalog as the newest writes nothing; two owners applying at once cannot both win
//! (the second is told to apply again on top of the first). Every version is kept; going
//! back is applying an older one again, as a new version.
//!
//! Tests: below; `tests/tests/conformance.rs` (`catalog_*`), `cli/tests/catalog.rs`.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Catalog, CatalogError};
use crate::store::{CatalogApplied, CatalogStore, StoreError, StoredCatalog};

/// What an apply did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Written as `version`; what changed from the version before, one line each.
    Now { version: u32, changes: Vec<String> },
    /// The newest version is this catalog already: nothing written.
    Unchanged { version: u32 },
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("the catalog is not applied: {0}")]
    Invalid(CatalogError),
    #[error(
        "another apply wrote version {0} meanwhile: nothing was written; check `telepay catalog show` and apply again"
    )]
    Raced(u32),
    #[error("version {0} does not exist (`telepay catalog history` lists them)")]
    NoSuchVersion(u32),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks `json` and writes it as the next version, unless it is the newest already.
pub async fn apply<S: CatalogStore>(
    store: &S,
    json: &str,
    note: &str,
    now: DateTime<Utc>,
) -> Result<Applied, ApplyError> {
    let fresh = Catalog::check(json).map_err(ApplyError::Invalid)?;
    let latest = store.latest_catalog().await?;
    let previous = match &latest {
        None => None,
        Some(stored) if same_document(&stored.body, json) => {
            return Ok(Applied::Unchanged {
                version: stored.version,
            });
        }
        // A stored version always reads (it was checked); if not, nothing to compare.
        Some(stored) => Catalog::read(&stored.body, stored.version).ok(),
    };
    let version = latest.as_ref().map_or(1, |stored| stored.version + 1);
    let written = StoredCatalog {
        version,
        body: json.trim().to_owned(),
        applied_at: now,
        note: note.to_owned(),
    };
    match store.apply_catalog(&written).await? {
        CatalogApplied::Applied => Ok(Applied::Now {
            version,
            changes: match previous {
                Some(previous) => changes(&previous, &fresh),
                None => vec!["the first catalog".into()],
            },
        }),
        CatalogApplied::VersionTaken => Err(ApplyError::Raced(version)),
    }
}

/// Applies version `version` again, as the newest (going back to it).
pub async fn reapply<S: CatalogStore>(
    store: &S,
    version: u32,
    now: DateTime<Utc>,
) -> Result<Applied, ApplyError> {
    let old = store
        .catalog_version(version)
        .await?
        .ok_or(ApplyError::NoSuchVersion(version))?;
    apply(store, &old.body, &format!("back to version {version}"), now).await
}

fn same_document(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<Value>(a),
        serde_json::from_str::<Value>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// What changed between two catalogs, as an owner reads it: channels and tiers added or
/// gone, prices changed, texts changed.
pub fn changes(before: &Catalog, after: &Catalog) -> Vec<String> {
    let mut lines = Vec::new();
    let name = |entry: &crate::directory::ChannelEntry| {
        entry
            .title
            .clone()
            .unwrap_or_else(|| entry.channel_id.to_string())
    };
    let tiers = |entry: &crate::directory::ChannelEntry| -> Vec<(u64, String, f64)> {
        entry
            .tiers
            .iter()
            .filter_map(|tier| {
                let length = tier.access()?.seconds();
                Some((
                    length,
                    tier.price_currency.to_uppercase(),
                    tier.price_amount,
                ))
            })
            .collect()
    };
    let spoken = |seconds: u64| {
        crate::subscription::AccessDuration::from_seconds(seconds)
            .map(|d| d.spoken())
            .unwrap_or_default()
    };
    for entry in after.directory.channels() {
        let id = crate::order::ChannelId::new(entry.channel_id);
        let Some(old) = id.ok().and_then(|id| before.directory.channel(id)) else {
            lines.push(format!("channel {} added", name(entry)));
            continue;
        };
        let (old_tiers, new_tiers) = (tiers(old), tiers(entry));
        for (length, currency, price) in &new_tiers {
            match old_tiers
                .iter()
                .find(|(l, c, _)| l == length && c == currency)
            {
                None => lines.push(format!(
                    "{}: tier {} added at {price} {currency}",
                    name(entry),
                    spoken(*length)
                )),
                Some((_, _, old_price)) if (old_price - price).abs() > 1e-9 => lines.push(format!(
                    "{}: {} from {old_price} to {price} {currency}",
                    name(entry),
                    spoken(*length)
                )),
                Some(_) => {}
            }
        }
        for (length, currency, price) in &old_tiers {
            if !new_tiers
                .iter()
                .any(|(l, c, _)| l == length && c == currency)
            {
                lines.push(format!(
                    "{}: tier {} at {price} {currency} removed",
                    name(entry),
                    spoken(*length)
                ));
            }
        }
        if old.owner_chat_id != entry.owner_chat_id
            || old.admission != entry.admission
            || old.partial != entry.partial
            || old.private_channel_id != entry.private_channel_id
            || old.title != entry.title
        {
            lines.push(format!("{}: settings changed", name(entry)));
        }
    }
    for entry in before.directory.channels() {
        let gone = crate::order::ChannelId::new(entry.channel_id)
            .ok()
            .and_then(|id| after.directory.channel(id))
            .is_none();
        if gone {
            lines.push(format!(
                "channel {} removed (open invoices are still honoured)",
                name(entry)
            ));
        }
    }
    if before.texts != after.texts {
        lines.push("texts changed".into());
    }
    if (before.directory.tolerance_percent() - after.directory.tolerance_percent()).abs() > 1e-9 {
        lines.push(format!(
            "price tolerance from {}% to {}%",
            before.directory.tolerance_percent(),
            after.directory.tolerance_percent()
        ));
    }
    if lines.is_empty() {
        lines.push("no change to channels, prices or texts (formatting only)".into());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::SAMPLE_DIRECTORY;
    use crate::store::memory::MemoryStore;

    fn priced(price: f64, duration: &str) -> String {
        let mut document: Value = serde_json::from_str(SAMPLE_DIRECTORY).unwrap();
        document["channels"][0]["tiers"] = serde_json::json!([
            {"price_amount": price, "price_currency": "usd", "duration": duration}
        ]);
        document.to_string()
    }

    #[tokio::test]
    async fn a_valid_catalog_is_the_next_version_and_says_what_changed() {
        let store = MemoryStore::new();
        let now = Utc::now();
        let first = apply(&store, &priced(3.0, "30 days"), "first", now)
            .await
            .unwrap();
        assert_eq!(
            first,
            Applied::Now {
                version: 1,
                changes: vec!["the first catalog".into()]
            }
        );
        let again = apply(&store, &priced(3.0, "30 days"), "", now)
            .await
            .unwrap();
        assert_eq!(again, Applied::Unchanged { version: 1 });
        let Applied::Now { version, changes } =
            apply(&store, &priced(5.0, "30 days"), "price up", now)
                .await
                .unwrap()
        else {
            panic!("a new price is a new version")
        };
        assert_eq!(version, 2);
        assert_eq!(changes, vec!["Demo channel: 30 days from 3 to 5 USD"]);
        // Back to the first prices: a third version, the first one's body.
        let Applied::Now { version, .. } = reapply(&store, 1, now).await.unwrap() else {
            panic!("going back writes a version")
        };
        assert_eq!(version, 3);
        let latest = store.latest_catalog().await.unwrap().unwrap();
        assert_eq!(latest.body, priced(3.0, "30 days"));
        assert_eq!(latest.note, "back to version 1");
        assert!(matches!(
            reapply(&store, 9, now).await,
            Err(ApplyError::NoSuchVersion(9))
        ));
    }

    #[tokio::test]
    async fn an_invalid_catalog_is_never_written() {
        let store = MemoryStore::new();
        let refused = apply(&store, &priced(3.0, "3m"), "", Utc::now()).await;
        assert!(
            matches!(&refused, Err(ApplyError::Invalid(e)) if e.to_string().contains("3 minutes")),
            "{refused:?}"
        );
        assert!(store.latest_catalog().await.unwrap().is_none());
    }
}
