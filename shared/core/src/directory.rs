//! The channel directory: which private channel an order's channel id grants, at what
//! price and for how long. Read from configuration (JSON), validated once at cold start.
//!
//! ```json
//! {
//!   "price_tolerance_percent": 1.0,
//!   "channels": [
//!     {
//!       "channel_id": -1003111266231,
//!       "private_channel_id": -1002222222222,
//!       "title": "Premium signals",
//!       "tiers": [
//!         { "price_amount": 3.21, "price_currency": "usd", "subscription_days": 30 },
//!         { "price_amount": 0.5, "price_currency": "usd", "duration": "12h" }
//!       ]
//!     }
//!   ]
//! }
//! ```
//! `channel_id` is the id in the order; `private_channel_id` the channel invited to (the
//! same id is fine). A payment must match one tier's currency and price within the
//! tolerance (percent of the tier price, default 1), or it is held for review: the tier
//! its order names (by length), else, for an order from before tiers were named, the
//! nearest price. Two tiers of a channel in one currency whose prices are within the
//! tolerance of each other are refused at cold start (a payment between them could be
//! either). A tier sells
//! either `subscription_days` or a `duration` (`"30d"`, `"12h"`, `"3m"`: see
//! [`AccessDuration`]), never both.
//!
//! Tests: below.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::order::ChannelId;
use crate::subscription::AccessDuration;

pub const DEFAULT_PRICE_TOLERANCE_PERCENT: f64 = 1.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub price_amount: f64,
    pub price_currency: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// The tier's price in Telegram Stars too, when it is also sold for Stars (docs/stars.md;
    /// whole Stars, at least 1). A 30-day tier sold for Stars renews every 30 days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stars: Option<u32>,
}

impl Tier {
    /// How long this tier admits: exactly one of `subscription_days` and `duration`.
    pub fn access(&self) -> Option<AccessDuration> {
        match (self.subscription_days, self.duration.as_deref()) {
            (Some(days), None) => AccessDuration::from_days(days).ok(),
            (None, Some(text)) => text.parse().ok(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelEntry {
    pub channel_id: i64,
    pub private_channel_id: i64,
    #[serde(default)]
    pub title: Option<String>,
    pub tiers: Vec<Tier>,
    /// How buyers get in: a one-time link (the default) or a link that asks, approved by
    /// the bot only for a buyer whose subscription is active.
    #[serde(default)]
    pub admission: Admission,
    /// Where the bot tells the owner of sales, renewals, failed removals and lost rights
    /// (the owner must have started the bot). None: the owner is not told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_chat_id: Option<i64>,
    /// What a short payment buys: `topup` (the default: held, and the buyer offered an
    /// invoice for the rest), `hold` or `prorate`.
    #[serde(default)]
    pub partial: PartialPolicy,
}

/// What a payment that arrived short of its tier's price buys, per channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartialPolicy {
    /// Held, the buyer told what is missing and offered an invoice for it (`/topup`):
    /// the parts add up to the tier and grant it once ([`crate::topup`]). The owner may
    /// still settle it by hand.
    #[default]
    #[serde(rename = "topup")]
    TopUp,
    /// Held for a person, the buyer and the owner told (`telepay reviews approve|reject`).
    Hold,
    /// The tier's time in proportion to what arrived, rounded down to the minute (less
    /// than a minute is held).
    Prorate,
}

/// How a channel admits its buyers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Admission {
    /// A link for one member (`member_limit = 1`): whoever clicks it first gets in.
    #[default]
    OneTimeLink,
    /// A link that creates a join request (`creates_join_request = true`): the bot
    /// approves only a user whose subscription to the channel is active, so a forwarded
    /// link admits no one else.
    JoinRequest,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default)]
    price_tolerance_percent: Option<f64>,
    channels: Vec<ChannelEntry>,
}

/// What a matched payment grants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grant {
    pub private_channel_id: i64,
    pub access: AccessDuration,
    /// The matched tier's price (what arrived above it is a surplus).
    pub tier_price: f64,
}

/// A short payment's proportional grant, and the tier it was a share of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prorated {
    pub grant: Grant,
    pub tier_length: AccessDuration,
}

/// Why a finished payment cannot be granted automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierMismatch {
    UnknownChannel,
    PriceMismatch,
}

#[derive(Debug, Clone)]
pub struct ChannelDirectory {
    tolerance_percent: f64,
    channels: HashMap<i64, ChannelEntry>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DirectoryError {
    #[error("channel directory is not valid JSON of the documented shape: {0}")]
    Shape(String),
    #[error("channel directory lists no channel")]
    Empty,
    #[error("channel directory: channel_id {0} must be negative")]
    ChannelIdNotNegative(i64),
    #[error("channel directory: private_channel_id {0} must be negative")]
    PrivateChannelIdNotNegative(i64),
    #[error("channel directory: channel_id {0} is listed twice")]
    Duplicate(i64),
    #[error("channel directory: channel_id {0} has no tier")]
    NoTier(i64),
    #[error(
        "channel directory: channel_id {0} has a tier with a non-positive price, no currency, or not exactly one of subscription_days (> 0) and duration (e.g. \"30d\")"
    )]
    BadTier(i64),
    #[error(
        "channel directory: channel_id {0} has a tier priced at 0 Stars (\"stars\" is whole Stars, at least 1)"
    )]
    ZeroStars(i64),
    #[error("channel directory: price_tolerance_percent must be within 0..50")]
    BadTolerance,
    #[error(
        "channel directory: {channel} has tiers {first} and {second} within the {tolerance}% price tolerance of each other: a payment between them could be either; set their prices further apart or lower price_tolerance_percent"
    )]
    OverlappingTiers {
        /// The channel's title and order id.
        channel: String,
        first: String,
        second: String,
        tolerance: f64,
    },
}

impl ChannelDirectory {
    pub fn from_json(json: &str) -> Result<Self, DirectoryError> {
        let file: DirectoryFile =
            serde_json::from_str(json).map_err(|e| DirectoryError::Shape(e.to_string()))?;
        let tolerance_percent = file
            .price_tolerance_percent
            .unwrap_or(DEFAULT_PRICE_TOLERANCE_PERCENT);
        if !(0.0..50.0).contains(&tolerance_percent) {
            return Err(DirectoryError::BadTolerance);
        }
        if file.channels.is_empty() {
            return Err(DirectoryError::Empty);
        }
        let mut channels = HashMap::with_capacity(file.channels.len());
        for entry in file.channels {
            let id = entry.channel_id;
            if id >= 0 {
                return Err(DirectoryError::ChannelIdNotNegative(id));
            }
            if entry.private_channel_id >= 0 {
                return Err(DirectoryError::PrivateChannelIdNotNegative(
                    entry.private_channel_id,
                ));
            }
            if entry.tiers.is_empty() {
                return Err(DirectoryError::NoTier(id));
            }
            let tier_is_bad = |t: &Tier| {
                !(t.price_amount.is_finite() && t.price_amount > 0.0)
                    || t.price_currency.trim().is_empty()
                    || t.access().is_none()
            };
            if entry.tiers.iter().any(tier_is_bad) {
                return Err(DirectoryError::BadTier(id));
            }
            if entry.tiers.iter().any(|t| t.stars == Some(0)) {
                return Err(DirectoryError::ZeroStars(id));
            }
            refuse_overlaps(&entry, tolerance_percent)?;
            if channels.insert(id, entry).is_some() {
                return Err(DirectoryError::Duplicate(id));
            }
        }
        Ok(Self {
            tolerance_percent,
            channels,
        })
    }

    /// How far a payment may be from a tier's price, in percent.
    pub fn tolerance_percent(&self) -> f64 {
        self.tolerance_percent
    }

    pub fn channel(&self, channel_id: ChannelId) -> Option<&ChannelEntry> {
        self.channels.get(&channel_id.get())
    }

    /// Every channel, in the order of their order channel ids (stable menus).
    pub fn channels(&self) -> Vec<&ChannelEntry> {
        let mut entries: Vec<&ChannelEntry> = self.channels.values().collect();
        entries.sort_by_key(|entry| std::cmp::Reverse(entry.channel_id));
        entries
    }

    /// The entry selling `private_channel_id` (the first, if two sell it).
    pub fn selling(&self, private_channel_id: i64) -> Option<&ChannelEntry> {
        self.channels()
            .into_iter()
            .find(|entry| entry.private_channel_id == private_channel_id)
    }

    /// How `private_channel_id` admits buyers (one-time links when no entry says).
    pub fn admission_of(&self, private_channel_id: i64) -> Admission {
        self.selling(private_channel_id)
            .map_or(Admission::OneTimeLink, |entry| entry.admission)
    }

    /// What to call a private channel in a message to a buyer: its title, else its id.
    pub fn private_channel_name(&self, private_channel_id: i64) -> String {
        self.channels
            .values()
            .filter(|entry| entry.private_channel_id == private_channel_id)
            .find_map(|entry| entry.title.clone())
            .unwrap_or_else(|| format!("channel {private_channel_id}"))
    }

    /// The tier this payment bought, if its channel is known and its price matches one:
    /// the tier its order names (`tier_seconds`, the tier's length), else the tier of the
    /// nearest price.
    pub fn match_payment(
        &self,
        channel_id: ChannelId,
        tier_seconds: Option<u64>,
        price_amount: Option<f64>,
        price_currency: Option<&str>,
    ) -> Result<Grant, TierMismatch> {
        let entry = self
            .channel(channel_id)
            .ok_or(TierMismatch::UnknownChannel)?;
        let (Some(paid), Some(currency)) = (price_amount, price_currency) else {
            return Err(TierMismatch::PriceMismatch);
        };
        offered(entry, currency, tier_seconds)
            // The tier the order names sells at its price or more: a buyer who paid more
            // (the price fell while the invoice was open) gets it, and the owner hears
            // of the surplus. Without a named tier, only the price says which it is.
            .filter(|(tier, _)| {
                price_matches(self.tolerance_percent, tier.price_amount, paid)
                    || (tier_seconds.is_some() && paid > tier.price_amount)
            })
            .min_by(|(a, _), (b, _)| {
                (a.price_amount - paid)
                    .abs()
                    .total_cmp(&(b.price_amount - paid).abs())
            })
            .map(|(tier, access)| Grant {
                private_channel_id: entry.private_channel_id,
                access,
                tier_price: tier.price_amount,
            })
            .ok_or(TierMismatch::PriceMismatch)
    }

    /// What `arrived` (in `price_currency`, less than the price) buys in a channel whose
    /// short payments are prorated: the tier the order names (else the nearest price
    /// above what arrived), for the share of its length that arrived, rounded down to the
    /// minute. `None` (hold it) when the channel holds short payments, no tier fits, or
    /// less than a minute would be granted.
    pub fn prorate(
        &self,
        channel_id: ChannelId,
        tier_seconds: Option<u64>,
        price_currency: Option<&str>,
        arrived: f64,
    ) -> Option<Prorated> {
        let entry = self.channel(channel_id)?;
        if entry.partial != PartialPolicy::Prorate || arrived <= 0.0 {
            return None;
        }
        let (tier, full) = offered(entry, price_currency?, tier_seconds)
            .filter(|(tier, _)| tier.price_amount > arrived)
            .min_by(|(a, _), (b, _)| a.price_amount.total_cmp(&b.price_amount))?;
        let share = arrived / tier.price_amount;
        let minutes = (full.seconds() as f64 * share / 60.0).floor() as u64;
        let access = AccessDuration::from_seconds(minutes * 60).ok()?;
        Some(Prorated {
            grant: Grant {
                private_channel_id: entry.private_channel_id,
                access,
                tier_price: tier.price_amount,
            },
            tier_length: full,
        })
    }

    /// The tier of `channel_id` that is `seconds` long (what an order names), if any.
    pub fn tier_of_length(&self, channel_id: ChannelId, seconds: u64) -> Option<&Tier> {
        self.channel(channel_id)?.tiers.iter().find(|tier| {
            tier.access()
                .is_some_and(|access| access.seconds() == seconds)
        })
    }
}

/// A channel's tiers in `currency` with their lengths: the one `tier_seconds` long when
/// the order names one, else all (what a payment may have bought, before its price).
fn offered<'a>(
    entry: &'a ChannelEntry,
    currency: &'a str,
    tier_seconds: Option<u64>,
) -> impl Iterator<Item = (&'a Tier, AccessDuration)> + 'a {
    entry
        .tiers
        .iter()
        .filter(move |tier| tier.price_currency.eq_ignore_ascii_case(currency.trim()))
        .filter_map(|tier| Some((tier, tier.access()?)))
        .filter(move |(_, access)| tier_seconds.is_none_or(|seconds| access.seconds() == seconds))
}

fn price_matches(tolerance_percent: f64, tier_price: f64, paid: f64) -> bool {
    // A tiny absolute slack absorbs float noise at tolerance 0.
    let allowed = tier_price * tolerance_percent / 100.0 + 1e-9;
    (paid - tier_price).abs() <= allowed
}

/// Refuses two tiers of one currency whose tolerance bands meet: some payment would match
/// both, and which one it bought would be a guess.
fn refuse_overlaps(entry: &ChannelEntry, tolerance_percent: f64) -> Result<(), DirectoryError> {
    let band = |price: f64| {
        let slack = price * tolerance_percent / 100.0 + 1e-9;
        (price - slack, price + slack)
    };
    for (i, first) in entry.tiers.iter().enumerate() {
        for second in &entry.tiers[i + 1..] {
            if !first
                .price_currency
                .trim()
                .eq_ignore_ascii_case(second.price_currency.trim())
            {
                continue;
            }
            let (low_a, high_a) = band(first.price_amount);
            let (low_b, high_b) = band(second.price_amount);
            if low_a <= high_b && low_b <= high_a {
                let named = |tier: &Tier| {
                    let length = tier
                        .access()
                        .map_or_else(String::new, |a| format!(" ({a})"));
                    format!(
                        "{} {}{length}",
                        tier.price_amount,
                        tier.price_currency.trim().to_lowercase()
                    )
                };
                let channel = match &entry.title {
                    Some(title) => format!("\"{title}\" (channel_id {})", entry.channel_id),
                    None => format!("channel_id {}", entry.channel_id),
                };
                return Err(DirectoryError::OverlappingTiers {
                    channel,
                    first: named(first),
                    second: named(second),
                    tolerance: tolerance_percent,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIRECTORY: &str = r#"{
        "price_tolerance_percent": 2,
        "channels": [
          { "channel_id": -1003111266231, "private_channel_id": -1002222222222,
            "title": "Premium",
            "tiers": [
              { "price_amount": 3.21, "price_currency": "usd", "subscription_days": 30 },
              { "price_amount": 8, "price_currency": "USD", "subscription_days": 90 }
            ] }
        ]
    }"#;

    fn channel() -> ChannelId {
        ChannelId::new(-1003111266231).unwrap()
    }

    #[test]
    fn a_short_payment_buys_its_share_of_the_tier_rounded_down_to_the_minute_where_prorated() {
        let holding = ChannelDirectory::from_json(DIRECTORY).unwrap();
        let thirty = Some(30 * 86_400);
        assert_eq!(
            holding.prorate(channel(), thirty, Some("usd"), 2.25),
            None,
            "a channel holds short payments unless it says prorate"
        );
        let prorating = ChannelDirectory::from_json(&DIRECTORY.replace(
            "\"title\": \"Premium\",",
            "\"title\": \"Premium\", \"partial\": \"prorate\",",
        ))
        .unwrap();
        // 2.25 of 3.21 for 30 days: 30,280.37 minutes, rounded down.
        let share = prorating
            .prorate(channel(), thirty, Some("usd"), 2.25)
            .unwrap();
        assert_eq!(share.grant.access.seconds(), 30_280 * 60);
        assert_eq!(share.tier_length.seconds(), 30 * 86_400);
        // No tier named: the cheapest tier above what arrived.
        let nearest = prorating
            .prorate(channel(), None, Some("usd"), 5.0)
            .unwrap();
        assert_eq!(nearest.tier_length.seconds(), 90 * 86_400);
        // Less than a minute, another currency, or the full price: nothing to prorate.
        assert_eq!(
            prorating.prorate(channel(), thirty, Some("usd"), 0.00001),
            None
        );
        assert_eq!(
            prorating.prorate(channel(), thirty, Some("eur"), 2.25),
            None
        );
        assert_eq!(
            prorating.prorate(channel(), thirty, Some("usd"), 3.21),
            None
        );
    }

    #[test]
    fn tiers_whose_prices_overlap_within_the_tolerance_are_refused_with_the_channels_name() {
        // 20 % around 12 and around 10 overlap: a payment of 11 could be either.
        let overlapping = r#"{"price_tolerance_percent": 20, "channels": [
            {"channel_id": -7, "private_channel_id": -7, "title": "Premium",
             "tiers": [{"price_amount": 12, "price_currency": "usd", "subscription_days": 90},
                       {"price_amount": 10, "price_currency": "USD", "subscription_days": 30}]}]}"#;
        let refused = ChannelDirectory::from_json(overlapping)
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("Premium") && refused.contains("-7"),
            "names the channel: {refused}"
        );
        assert!(
            refused.contains("12 usd") && refused.contains("10 usd"),
            "names the tiers: {refused}"
        );
        // The same price for two lengths is the extreme case.
        let same_price = overlapping.replace("\"price_amount\": 12", "\"price_amount\": 10");
        assert!(ChannelDirectory::from_json(&same_price).is_err());
        // Apart by more than both tolerances, or in other currencies: fine.
        let apart = overlapping.replace(
            "\"price_tolerance_percent\": 20",
            "\"price_tolerance_percent\": 5",
        );
        assert!(ChannelDirectory::from_json(&apart).is_ok());
        let currencies = overlapping.replace("\"USD\"", "\"eur\"");
        assert!(ChannelDirectory::from_json(&currencies).is_ok());
    }

    #[test]
    fn a_payment_at_the_tier_price_grants_that_tier() {
        let dir = ChannelDirectory::from_json(DIRECTORY).unwrap();
        assert_eq!(
            dir.match_payment(channel(), None, Some(3.21), Some("usd")),
            Ok(Grant {
                private_channel_id: -1002222222222,
                access: AccessDuration::from_days(30).unwrap(),
                tier_price: 3.21,
            })
        );
        let long = dir
            .match_payment(channel(), None, Some(8.0), Some("usd"))
            .unwrap();
        assert_eq!(
            long.access.seconds(),
            90 * 86_400,
            "currency compares case-insensitively"
        );
    }

    #[test]
    fn the_price_may_differ_within_the_tolerance_and_not_beyond() {
        let dir = ChannelDirectory::from_json(DIRECTORY).unwrap();
        // 2% of 3.21 = 0.0642
        assert!(
            dir.match_payment(channel(), None, Some(3.15), Some("usd"))
                .is_ok()
        );
        assert!(
            dir.match_payment(channel(), None, Some(3.27), Some("usd"))
                .is_ok()
        );
        assert_eq!(
            dir.match_payment(channel(), None, Some(3.145), Some("usd")),
            Err(TierMismatch::PriceMismatch)
        );
        assert_eq!(
            dir.match_payment(channel(), None, Some(3.21), Some("eur")),
            Err(TierMismatch::PriceMismatch)
        );
        assert_eq!(
            dir.match_payment(channel(), None, None, Some("usd")),
            Err(TierMismatch::PriceMismatch)
        );
    }

    #[test]
    fn the_default_tolerance_is_one_percent() {
        let dir = ChannelDirectory::from_json(
            r#"{"channels":[{"channel_id":-1,"private_channel_id":-1,
                "tiers":[{"price_amount":100,"price_currency":"usd","subscription_days":30}]}]}"#,
        )
        .unwrap();
        let ch = ChannelId::new(-1).unwrap();
        assert!(dir.match_payment(ch, None, Some(99.0), Some("usd")).is_ok());
        assert!(
            dir.match_payment(ch, None, Some(98.9), Some("usd"))
                .is_err()
        );
    }

    #[test]
    fn a_tier_may_sell_a_duration_shorter_than_a_day() {
        let dir = ChannelDirectory::from_json(
            r#"{"channels":[{"channel_id":-1,"private_channel_id":-2,
                "tiers":[{"price_amount":1,"price_currency":"usd","duration":"3m"},
                         {"price_amount":9,"price_currency":"usd","duration":"30d"}]}]}"#,
        )
        .unwrap();
        let ch = ChannelId::new(-1).unwrap();
        let demo = dir.match_payment(ch, None, Some(1.0), Some("usd")).unwrap();
        assert_eq!(demo.access.seconds(), 180);
        let month = dir.match_payment(ch, None, Some(9.0), Some("usd")).unwrap();
        assert_eq!(month.access.seconds(), 30 * 86_400);
    }

    #[test]
    fn an_unknown_channel_is_a_mismatch() {
        let dir = ChannelDirectory::from_json(DIRECTORY).unwrap();
        assert_eq!(
            dir.match_payment(ChannelId::new(-5).unwrap(), None, Some(3.21), Some("usd")),
            Err(TierMismatch::UnknownChannel)
        );
    }

    #[test]
    fn an_invalid_directory_is_refused_with_the_reason() {
        let tier = r#"[{"price_amount":1,"price_currency":"usd","subscription_days":30}]"#;
        let one = |ch: i64, private: i64, tiers: &str| {
            format!(
                r#"{{"channels":[{{"channel_id":{ch},"private_channel_id":{private},"tiers":{tiers}}}]}}"#
            )
        };
        use DirectoryError::*;
        assert_eq!(
            ChannelDirectory::from_json(&one(5, -1, tier)).unwrap_err(),
            ChannelIdNotNegative(5)
        );
        assert_eq!(
            ChannelDirectory::from_json(&one(-5, 1, tier)).unwrap_err(),
            PrivateChannelIdNotNegative(1)
        );
        assert_eq!(
            ChannelDirectory::from_json(&one(-5, -1, "[]")).unwrap_err(),
            NoTier(-5)
        );
        for bad_length in [
            r#""subscription_days":0"#,
            r#""duration":"0d""#,
            r#""duration":"1mo""#,
            r#""subscription_days":30,"duration":"30d""#,
            r#""price_currency":"usd""#, // neither a length nor days
        ] {
            let tier = format!(r#"[{{"price_amount":1,{bad_length}}}]"#)
                .replace(
                    r#"1,"subscription"#,
                    r#"1,"price_currency":"usd","subscription"#,
                )
                .replace(r#"1,"duration"#, r#"1,"price_currency":"usd","duration"#);
            assert_eq!(
                ChannelDirectory::from_json(&one(-5, -1, &tier)).unwrap_err(),
                BadTier(-5),
                "{tier}"
            );
        }
        assert_eq!(
            ChannelDirectory::from_json(r#"{"channels":[]}"#).unwrap_err(),
            Empty
        );
        assert!(matches!(
            ChannelDirectory::from_json(r#"{"chanels":[]}"#).unwrap_err(),
            Shape(_)
        ));
        let twice = format!(
            r#"{{"channels":[{{"channel_id":-5,"private_channel_id":-1,"tiers":{tier}}},{{"channel_id":-5,"private_channel_id":-1,"tiers":{tier}}}]}}"#
        );
        assert_eq!(
            ChannelDirectory::from_json(&twice).unwrap_err(),
            Duplicate(-5)
        );
        let tolerance = format!(
            r#"{{"price_tolerance_percent":75,"channels":[{{"channel_id":-5,"private_channel_id":-1,"tiers":{tier}}}]}}"#
        );
        assert_eq!(
            ChannelDirectory::from_json(&tolerance).unwrap_err(),
            BadTolerance
        );
        let starred = |stars: &str| {
            one(
                -5,
                -1,
                &format!(
                    r#"[{{"price_amount":1,"price_currency":"usd","duration":"30d","stars":{stars}}}]"#
                ),
            )
        };
        assert_eq!(
            ChannelDirectory::from_json(&starred("0")).unwrap_err(),
            ZeroStars(-5)
        );
        for not_whole in ["-1", "2.5", "\"100\"", "4294967296"] {
            assert!(
                matches!(
                    ChannelDirectory::from_json(&starred(not_whole)).unwrap_err(),
                    Shape(_)
                ),
                "{not_whole}"
            );
        }
        let sold = ChannelDirectory::from_json(&starred("250")).unwrap();
        assert_eq!(sold.channels()[0].tiers[0].stars, Some(250));
    }
}
