//! What a Stars invoice names, and where its charge is recorded.
//!
//! The payload is the bot's own (Telegram hands it back in the pre-checkout query and
//! in the successful payment, never shown to the buyer): `s1|<buyer>|<channel>|<tier
//! seconds>|<catalog version>|<stars>|<r or o>`, recurring or one-time. It is checked
//! against the catalog named before the buyer is charged, so a price changed or a tier
//! removed meanwhile is refused, not sold at the old terms.
//!
//! A charge is recorded as a payment whose id is derived from its
//! `telegram_payment_charge_id`: the top bit range of a positive i64 (from 2^62) that
//! NOWPayments' ten-digit ids never reach, the rest from a SHA-256 of the charge id.
//! The record keeps the charge id itself, so a collision (about 1 in 10^11 for a
//! million charges) is seen, never merged.
//!
//! Tests: below.

use sha2::{Digest, Sha256};

use crate::ipn::PaymentId;
use crate::order::{ChannelId, UserId};

/// Telegram's limit on an invoice payload.
pub const MAX_PAYLOAD_BYTES: usize = 128;
const VERSION: &str = "s1";

/// The first payment id of a Stars charge: ids from here on are never NOWPayments'.
pub const STARS_PAYMENT_ID_FLOOR: i64 = 1 << 62;

/// A Stars purchase as its invoice names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StarsOrder {
    pub user_id: UserId,
    /// The directory entry sold (its public channel id, as crypto orders name it).
    pub channel_id: ChannelId,
    /// The tier's length, which identifies it within the entry.
    pub tier_seconds: u64,
    /// The catalog version the invoice was priced from.
    pub catalog_version: u32,
    /// The price in Stars.
    pub stars: u32,
    /// A 30-day subscription Telegram renews (`subscription_period`), not a one-time
    /// purchase.
    pub recurring: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StarsOrderError {
    #[error("the payload is not a Stars order of this bot")]
    NotOurs,
    #[error("the payload's {0} is not valid")]
    Field(&'static str),
}

impl StarsOrder {
    /// The invoice payload.
    pub fn to_payload(&self) -> String {
        let kind = if self.recurring { "r" } else { "o" };
        let payload = format!(
            "{VERSION}|{}|{}|{}|{}|{}|{kind}",
            self.user_id.get(),
            self.channel_id.get(),
            self.tier_seconds,
            self.catalog_version,
            self.stars
        );
        debug_assert!(payload.len() <= MAX_PAYLOAD_BYTES);
        payload
    }

    /// Reads a payload back: only one this bot could have written.
    pub fn parse(payload: &str) -> Result<Self, StarsOrderError> {
        if payload.len() > MAX_PAYLOAD_BYTES {
            return Err(StarsOrderError::NotOurs);
        }
        let mut parts = payload.split('|');
        if parts.next() != Some(VERSION) {
            return Err(StarsOrderError::NotOurs);
        }
        let mut next = |name: &'static str| parts.next().ok_or(StarsOrderError::Field(name));
        let user_id = next("buyer")?
            .parse()
            .ok()
            .and_then(|id| UserId::new(id).ok())
            .ok_or(StarsOrderError::Field("buyer"))?;
        let channel_id = next("channel")?
            .parse()
            .ok()
            .and_then(|id| ChannelId::new(id).ok())
            .ok_or(StarsOrderError::Field("channel"))?;
        let tier_seconds = next("tier")?
            .parse()
            .ok()
            .filter(|s| *s > 0)
            .ok_or(StarsOrderError::Field("tier"))?;
        let catalog_version = next("catalog version")?
            .parse()
            .map_err(|_| StarsOrderError::Field("catalog version"))?;
        let stars = next("price")?
            .parse()
            .ok()
            .filter(|s| *s > 0)
            .ok_or(StarsOrderError::Field("price"))?;
        let recurring = match next("kind")? {
            "r" => true,
            "o" => false,
            _ => return Err(StarsOrderError::Field("kind")),
        };
        if parts.next().is_some() {
            return Err(StarsOrderError::NotOurs);
        }
        Ok(Self {
            user_id,
            channel_id,
            tier_seconds,
            catalog_version,
            stars,
            recurring,
        })
    }
}

/// The payment id a Stars charge is recorded under: the same for every delivery of
/// `telegram_payment_charge_id`, never one NOWPayments uses.
pub fn charge_payment_id(telegram_payment_charge_id: &str) -> PaymentId {
    let digest = Sha256::digest(telegram_payment_charge_id.as_bytes());
    let mut high = [0u8; 8];
    high.copy_from_slice(&digest[..8]);
    let below_floor = (u64::from_be_bytes(high) >> 2) as i64; // 0 ..= 2^62 - 1
    PaymentId::new(STARS_PAYMENT_ID_FLOOR + below_floor).expect("positive")
}

/// Whether `id` is in the range of Stars charges.
pub fn is_stars_payment(id: PaymentId) -> bool {
    id.get() >= STARS_PAYMENT_ID_FLOOR
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn order() -> StarsOrder {
        StarsOrder {
            user_id: UserId::new(6271402111).unwrap(),
            channel_id: ChannelId::new(-1003111266231).unwrap(),
            tier_seconds: 2_592_000,
            catalog_version: 7,
            stars: 250,
            recurring: true,
        }
    }

    #[test]
    fn a_payload_reads_back_as_written_and_fits_telegrams_limit_at_its_longest() {
        assert_eq!(StarsOrder::parse(&order().to_payload()), Ok(order()));
        let one_time = StarsOrder {
            recurring: false,
            ..order()
        };
        assert_eq!(StarsOrder::parse(&one_time.to_payload()), Ok(one_time));
        let longest = StarsOrder {
            user_id: UserId::new(i64::MAX).unwrap(),
            channel_id: ChannelId::new(i64::MIN + 1).unwrap(),
            tier_seconds: u64::MAX,
            catalog_version: u32::MAX,
            stars: u32::MAX,
            recurring: false,
        };
        assert!(longest.to_payload().len() <= MAX_PAYLOAD_BYTES);
        assert_eq!(StarsOrder::parse(&longest.to_payload()), Ok(longest));
    }

    #[test]
    fn a_payload_the_bot_did_not_write_is_refused() {
        let good = order().to_payload();
        for bad in [
            String::new(),
            "PGP-6271402111|-1003111266231".to_owned(),
            good.replacen("s1", "s2", 1),
            format!("{good}|x"),
            good.replace("|r", "|x"),
            good.replace("|250|", "|0|"),
            good.replace("|2592000|", "|0|"),
            good.replace("6271402111", "-5"),
            good.replace("|7|", "|seven|"),
            "s1|1|2".to_owned(),
            "s1".repeat(100),
        ] {
            assert!(StarsOrder::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_charge_has_one_payment_id_in_a_range_nowpayments_never_uses() {
        let id = charge_payment_id("stxAbC123");
        assert_eq!(
            id,
            charge_payment_id("stxAbC123"),
            "the same for every delivery"
        );
        assert!(is_stars_payment(id));
        // NOWPayments' ids are ten or eleven digits.
        assert!(!is_stars_payment(PaymentId::new(4_492_847_470).unwrap()));
        assert!(!is_stars_payment(
            PaymentId::new(STARS_PAYMENT_ID_FLOOR - 1).unwrap()
        ));
        let ids: HashSet<i64> = (0..100_000)
            .map(|n| charge_payment_id(&format!("stx{n}")).get())
            .collect();
        assert_eq!(ids.len(), 100_000, "distinct charges, distinct ids");
        assert!(ids.iter().all(|id| *id >= STARS_PAYMENT_ID_FLOOR));
    }
}
