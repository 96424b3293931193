//! The catalog as the CLI reads it: the one in force (the store's newest version, else
//! the environment's), a catalog file, what a catalog sells, why one is refused.

use anyhow::Context;
use serde_json::json;
use telepay_core::catalog::Catalog;
use telepay_core::store::CatalogStore;
use telepay_shared::config::{self, ProcessEnvironment};
use telepay_shared::store::AnyStore;

/// The store's newest catalog, else the environment's directory and texts.
pub(crate) async fn catalog_in_force(store: &AnyStore) -> anyhow::Result<Catalog> {
    if store.holds_catalog()
        && let Some(stored) = store.latest_catalog().await?
    {
        return Ok(Catalog::read(&stored.body, stored.version)?);
    }
    config::catalog_config(&ProcessEnvironment)?.seed.context(
        "no catalog applied yet: `telepay catalog apply catalog.json` (see docs/catalog.md)",
    )
}

pub(crate) fn read_catalog_file(file: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

/// Every problem of a refused catalog, one line each.
pub(crate) fn refused(problems: telepay_core::catalog::CatalogError) -> anyhow::Error {
    let lines: Vec<String> = problems
        .problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect();
    anyhow::anyhow!(
        "the catalog is not valid ({} problem{}), nothing applied:\n{}",
        lines.len(),
        if lines.len() == 1 { "" } else { "s" },
        lines.join("\n")
    )
}

/// What a catalog sells, a line per tier.
pub(crate) fn offer_lines(catalog: &Catalog) -> Vec<serde_json::Value> {
    let mut lines = Vec::new();
    for entry in catalog.directory.channels() {
        for tier in &entry.tiers {
            lines.push(json!({
                "channel_id": entry.channel_id,
                "title": entry.title,
                "private_channel_id": entry.private_channel_id,
                "tier": tier.access().map(|d| d.spoken()),
                "price": format!("{} {}", tier.price_amount, tier.price_currency.to_uppercase()),
                "admission": format!("{:?}", entry.admission),
                "owner_chat_id": entry.owner_chat_id,
            }));
        }
    }
    lines
}
