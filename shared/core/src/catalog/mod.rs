//! The catalog: what the channel owner sells and what the bot says, in one JSON document
//! kept in the store (not in the functions' environment, whose 4 KB it outgrew), changed
//! with `telepay catalog apply` and read by every function within
//! [`live::REFRESH_EVERY`] of the change, without a redeploy.
//!
//! ```json
//! {
//!   "price_tolerance_percent": 1.0,
//!   "channels": [ { "channel_id": -100…, "private_channel_id": -100…, "title": "…",
//!                   "tiers": [ { "price_amount": 5, "price_currency": "usd",
//!                                "duration": "30 days" } ] } ],
//!   "texts": { "help": "…" }
//! }
//! ```
//! `channels` and `price_tolerance_percent` are the channel directory
//! ([`crate::directory`]); `texts` overrides the bot's texts by name
//! ([`crate::bot::BotTexts`]). Each applied catalog gets the next version number and is
//! kept ([`crate::store::CatalogStore`]); the bot writes the version into each invoice's
//! order, so a payment is matched against the prices its invoice was made at, whatever
//! was applied since ([`crate::order`]).
//!
//! Two readings: [`Catalog::read`] accepts what the functions accept (the short
//! durations of older directories); [`Catalog::check`] is what an apply must pass, and
//! names every problem: durations spelled out (`"3m"` is three minutes, which many read
//! as three months), plus everything `read` refuses (overlapping tiers, unknown text
//! names, a channel without tiers…).
//!
//! Tests: below; `tests/tests/conformance.rs` (`catalog_*`), `tests/tests/catalog.rs`
//! (a change reaching a running chain on moto), `local/tests/local_run.rs` (`make run`).

pub mod apply;
pub mod live;

use serde_json::Value;

use crate::bot::BotTexts;
use crate::directory::ChannelDirectory;
use crate::subscription::is_spelled_out;

pub use apply::{Applied, ApplyError, apply, changes, reapply};
pub use live::{CatalogLoadError, CatalogSource, LiveCatalog, REFRESH_EVERY};

/// A catalog as the functions use it.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Its version in the store; 0 for a catalog from the environment (a local run, the
    /// tests), which no order names.
    pub version: u32,
    pub directory: ChannelDirectory,
    pub texts: BotTexts,
}

/// Why a catalog cannot be used or applied: every problem found, one line each.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .problems.join("; "))]
pub struct CatalogError {
    pub problems: Vec<String>,
}

impl CatalogError {
    fn one(problem: impl Into<String>) -> Self {
        Self {
            problems: vec![problem.into()],
        }
    }
}

impl Catalog {
    /// A catalog of a directory with the default texts (the environment's, the tests').
    pub fn of(directory: ChannelDirectory, texts: BotTexts) -> Self {
        Self {
            version: 0,
            directory,
            texts,
        }
    }

    /// What the functions accept: the directory's rules and known text names.
    pub fn read(json: &str, version: u32) -> Result<Self, CatalogError> {
        let mut document: serde_json::Map<String, Value> = serde_json::from_str(json)
            .map_err(|e| CatalogError::one(format!("the catalog is not a JSON object: {e}")))?;
        let texts = match document.remove("texts") {
            None | Some(Value::Null) => BotTexts::default(),
            Some(texts @ Value::Object(_)) => BotTexts::from_json(&texts.to_string())
                .map_err(|e| CatalogError::one(format!("texts: {e}")))?,
            Some(_) => return Err(CatalogError::one("texts must be an object of text names")),
        };
        let directory = ChannelDirectory::from_json(&Value::Object(document).to_string())
            .map_err(|e| CatalogError::one(e.to_string()))?;
        Ok(Self {
            version,
            directory,
            texts,
        })
    }

    /// What an apply must pass: everything [`Catalog::read`] refuses, and every tier's
    /// duration spelled out. All problems are named, not only the first.
    pub fn check(json: &str) -> Result<Self, CatalogError> {
        let mut problems = Vec::new();
        if let Ok(document) = serde_json::from_str::<Value>(json) {
            problems.extend(short_durations(&document));
        }
        match Self::read(json, 0) {
            Ok(catalog) if problems.is_empty() => Ok(catalog),
            Ok(_) => Err(CatalogError { problems }),
            Err(refused) => {
                problems.extend(refused.problems);
                Err(CatalogError { problems })
            }
        }
    }
}

/// Each tier whose `duration` names its unit by a letter: the fix spelled out.
fn short_durations(document: &Value) -> Vec<String> {
    let channels = document["channels"].as_array().into_iter().flatten();
    channels
        .flat_map(|channel| {
            let id = channel["channel_id"].clone();
            channel["tiers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |tier| {
                    let text = tier["duration"].as_str()?;
                    if is_spelled_out(text) {
                        return None;
                    }
                    let spelled = text
                        .parse::<crate::subscription::AccessDuration>()
                        .map(|d| format!(" (\"{}\")", d.spoken()))
                        .unwrap_or_default();
                    Some(format!(
                        "channel {id}: duration \"{text}\" must be spelled out, e.g. \"30 days\", \"12 hours\", \"90 minutes\"{spelled}"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::SAMPLE_DIRECTORY;

    fn with(edit: impl FnOnce(&mut Value)) -> String {
        let mut document: Value = serde_json::from_str(SAMPLE_DIRECTORY).unwrap();
        edit(&mut document);
        document.to_string()
    }

    #[test]
    fn a_catalog_carries_the_directory_and_the_texts() {
        let json = with(|d| d["texts"] = serde_json::json!({"help": "Hilfe"}));
        let catalog = Catalog::read(&json, 7).unwrap();
        assert_eq!(catalog.version, 7);
        assert_eq!(catalog.texts.help, "Hilfe");
        assert!(!catalog.directory.channels().is_empty());
    }

    #[test]
    fn an_apply_asks_for_durations_spelled_out_and_names_each() {
        let json = with(|d| {
            d["channels"][0]["tiers"] = serde_json::json!([
                {"price_amount": 1, "price_currency": "usd", "duration": "3m"},
                {"price_amount": 9, "price_currency": "usd", "duration": "30 days"},
                {"price_amount": 5, "price_currency": "usd", "duration": "12h"}
            ])
        });
        assert!(
            Catalog::read(&json, 1).is_ok(),
            "the functions still read them"
        );
        let refused = Catalog::check(&json).unwrap_err();
        assert_eq!(refused.problems.len(), 2, "{refused}");
        assert!(
            refused.problems[0].contains("\"3m\"") && refused.problems[0].contains("3 minutes")
        );
        assert!(
            refused.problems[1].contains("\"12h\"") && refused.problems[1].contains("12 hours")
        );
    }

    #[test]
    fn an_apply_refuses_unknown_text_names_and_overlapping_tiers() {
        let unknown = with(|d| d["texts"] = serde_json::json!({"hepl": "typo"}));
        let refused = Catalog::check(&unknown).unwrap_err();
        assert!(refused.to_string().contains("hepl"), "{refused}");

        let overlapping = with(|d| {
            d["channels"][0]["tiers"] = serde_json::json!([
                {"price_amount": 10, "price_currency": "usd", "duration": "30 days"},
                {"price_amount": 10.05, "price_currency": "usd", "duration": "31 days"}
            ])
        });
        let refused = Catalog::check(&overlapping).unwrap_err();
        assert!(refused.to_string().contains("tolerance"), "{refused}");

        assert!(Catalog::check("[]").is_err());
        assert!(Catalog::check(&with(|d| d["texts"] = Value::from(3))).is_err());
    }
}
