//! The `order_id` our bot puts on each NOWPayments invoice: who paid, for which channel.
//!
//! Current form: `PGP-{user_id}|{channel_id}|{tier_seconds}` (Telegram channel ids are
//! negative; the tier is named by its length in seconds, so a payment grants the tier the
//! buyer chose). Still accepted: `PGP-{user_id}|{channel_id}` (orders from before the
//! tier part: the nearest price within the tolerance decides).
//! With the catalog's version: `PGP-{user_id}|{channel_id}|{tier_seconds}@{version}`: the
//! catalog the invoice was priced from ([`crate::catalog`]), so a payment is matched at
//! the price its invoice was made at, whatever was applied since. (NOWPayments returns
//! `order_id` unchanged in every IPN; docs/protocol.md.)
//! A top-up (the rest of a short payment, [`crate::topup`]): `PGP-{user_id}|{channel_id}|
//! {tier_seconds}|{purchase_id}`, the purchase named by its first short payment's id.
//! Legacy form: `PGP-{user_id}-{channel_id}`, where a channel's minus sign may have been
//! eaten: `PGP-123--1003111266231` and `PGP-123-1003111266231` both mean `-1003111266231`.
//!
//! Tests: below.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ipn::PaymentId;

/// A Telegram user id: the buyer, and the chat the invite is sent to. > 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct UserId(i64);

impl UserId {
    pub fn new(id: i64) -> Result<Self, OrderIdError> {
        if id > 0 {
            Ok(Self(id))
        } else {
            Err(OrderIdError::UserIdNotPositive)
        }
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A Telegram channel id as written in the order: negative for channels and supergroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct ChannelId(i64);

impl ChannelId {
    pub fn new(id: i64) -> Result<Self, OrderIdError> {
        if id < 0 {
            Ok(Self(id))
        } else {
            Err(OrderIdError::ChannelIdNotNegative)
        }
    }

    /// A channel id as the legacy order form and the seed's rows carry it: a positive
    /// number is a channel whose minus sign the `-` separator ate, so it is restored.
    /// The one rule for both the legacy `order_id` and a stored positive `channel_id`.
    pub fn from_legacy(id: i64) -> Result<Self, OrderIdError> {
        Self::new(if id > 0 { -id } else { id })
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

macro_rules! i64_conversions {
    ($($ty:ident),+) => {$(
        impl TryFrom<i64> for $ty {
            type Error = OrderIdError;
            fn try_from(id: i64) -> Result<Self, Self::Error> {
                $ty::new(id)
            }
        }
        impl From<$ty> for i64 {
            fn from(id: $ty) -> i64 {
                id.0
            }
        }
    )+};
}
i64_conversions!(UserId, ChannelId);

/// A parsed `order_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRef {
    pub user_id: UserId,
    pub channel_id: ChannelId,
    /// The length of the tier ordered, in seconds (`None`: an order from before tiers
    /// were named).
    pub tier_seconds: Option<u64>,
    /// A top-up's purchase: the first short payment whose rest this order pays.
    pub topup_of: Option<PaymentId>,
    /// The catalog version the invoice was priced from (`None`: the current one).
    pub catalog_version: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OrderIdError {
    #[error("order_id is missing")]
    Missing,
    #[error("order_id does not start with PGP-")]
    WrongPrefix,
    #[error("order_id has no user/channel separator")]
    NoSeparator,
    #[error("order_id user id is not a number")]
    UserIdNotANumber,
    #[error("order_id user id must be positive")]
    UserIdNotPositive,
    #[error("order_id channel id is not a number")]
    ChannelIdNotANumber,
    #[error("order_id channel id must be a negative channel id")]
    ChannelIdNotNegative,
    #[error("order_id tier must be a positive number of seconds")]
    TierNotANumber,
    #[error("order_id top-up must name a positive payment id")]
    TopUpNotAPaymentId,
    #[error("order_id catalog version must be a positive number")]
    CatalogVersionNotANumber,
}

const PREFIX: &str = "PGP-";

impl OrderRef {
    pub fn parse(order_id: Option<&str>) -> Result<Self, OrderIdError> {
        let order_id = order_id.map(str::trim).ok_or(OrderIdError::Missing)?;
        let rest = order_id
            .strip_prefix(PREFIX)
            .ok_or(OrderIdError::WrongPrefix)?;
        let mut tier_seconds = None;
        let mut topup_of = None;
        let mut catalog_version = None;
        let (user, channel) = match rest.split_once('|') {
            Some((user, channel)) => {
                let channel = match channel.split_once('|') {
                    Some((channel, tier)) => {
                        let tier = match tier.split_once('|') {
                            Some((tier, purchase)) => {
                                let id = parse_digits(purchase, OrderIdError::TopUpNotAPaymentId)?;
                                topup_of = Some(
                                    PaymentId::new(id)
                                        .map_err(|_| OrderIdError::TopUpNotAPaymentId)?,
                                );
                                tier
                            }
                            None => tier,
                        };
                        let tier = match tier.split_once('@') {
                            Some((tier, version)) => {
                                let version =
                                    parse_digits(version, OrderIdError::CatalogVersionNotANumber)?;
                                catalog_version = Some(
                                    u32::try_from(version)
                                        .ok()
                                        .filter(|v| *v > 0)
                                        .ok_or(OrderIdError::CatalogVersionNotANumber)?,
                                );
                                tier
                            }
                            None => tier,
                        };
                        let seconds = parse_digits(tier, OrderIdError::TierNotANumber)?;
                        if seconds == 0 {
                            return Err(OrderIdError::TierNotANumber);
                        }
                        tier_seconds = Some(seconds as u64);
                        channel
                    }
                    None => channel,
                };
                (user, ChannelId::new(parse_channel(channel)?)?)
            }
            None => {
                let (user, channel) = rest.split_once('-').ok_or(OrderIdError::NoSeparator)?;
                // The legacy separator may have eaten the channel's minus sign.
                let channel = channel.strip_prefix('-').unwrap_or(channel);
                if channel.starts_with(['-', '+']) {
                    return Err(OrderIdError::ChannelIdNotANumber);
                }
                let digits = parse_digits(channel, OrderIdError::ChannelIdNotANumber)?;
                (user, ChannelId::from_legacy(digits)?)
            }
        };
        Ok(OrderRef {
            user_id: UserId::new(parse_digits(user, OrderIdError::UserIdNotANumber)?)?,
            channel_id: channel,
            tier_seconds,
            topup_of,
            catalog_version,
        })
    }

    /// The current form, as the bot writes it.
    pub fn to_order_id(self) -> String {
        let version = self
            .catalog_version
            .map_or(String::new(), |v| format!("@{v}"));
        match (self.tier_seconds, self.topup_of) {
            (Some(seconds), Some(purchase)) => format!(
                "{PREFIX}{}|{}|{seconds}{version}|{purchase}",
                self.user_id, self.channel_id
            ),
            (Some(seconds), None) => {
                format!(
                    "{PREFIX}{}|{}|{seconds}{version}",
                    self.user_id, self.channel_id
                )
            }
            (None, _) => format!("{PREFIX}{}|{}", self.user_id, self.channel_id),
        }
    }
}

fn parse_channel(text: &str) -> Result<i64, OrderIdError> {
    match text.strip_prefix('-') {
        Some(digits) => Ok(-parse_digits(digits, OrderIdError::ChannelIdNotANumber)?),
        None => Err(OrderIdError::ChannelIdNotNegative),
    }
}

/// Plain ASCII digits only: no sign, no spaces, no `+`, within i64.
fn parse_digits(text: &str, error: OrderIdError) -> Result<i64, OrderIdError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error);
    }
    text.parse().map_err(|_| error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(order_id: &str) -> Result<(i64, i64), OrderIdError> {
        OrderRef::parse(Some(order_id)).map(|o| (o.user_id.get(), o.channel_id.get()))
    }

    #[test]
    fn the_current_form_parses() {
        assert_eq!(
            parsed("PGP-6271402111|-1003111266231"),
            Ok((6271402111, -1003111266231))
        );
    }

    #[test]
    fn the_form_with_a_tier_parses_and_round_trips() {
        let order = OrderRef::parse(Some("PGP-6271402111|-1003111266231|2592000")).unwrap();
        assert_eq!(order.tier_seconds, Some(2_592_000));
        assert_eq!(order.channel_id.get(), -1003111266231);
        assert_eq!(order.to_order_id(), "PGP-6271402111|-1003111266231|2592000");
        assert_eq!(
            OrderRef::parse(Some("PGP-6271402111|-1003111266231"))
                .unwrap()
                .tier_seconds,
            None
        );
        for bad in ["|", "|0", "|-5", "|30d", "|0|2", "| 5"] {
            assert_eq!(
                OrderRef::parse(Some(&format!("PGP-6271402111|-1003111266231{bad}"))),
                Err(OrderIdError::TierNotANumber),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_catalog_version_an_invoice_was_priced_from_round_trips() {
        let text = "PGP-6271402111|-1003111266231|2592000@12";
        let order = OrderRef::parse(Some(text)).unwrap();
        assert_eq!(order.catalog_version, Some(12));
        assert_eq!(order.tier_seconds, Some(2_592_000));
        assert_eq!(order.to_order_id(), text);
        let topup = "PGP-6271402111|-1003111266231|2592000@3|5077000001";
        assert_eq!(OrderRef::parse(Some(topup)).unwrap().to_order_id(), topup);
        for bad in ["@", "@0", "@-1", "@x", "@99999999999", "@1@2"] {
            assert_eq!(
                OrderRef::parse(Some(&format!("PGP-6271402111|-1003111266231|2592000{bad}"))),
                Err(OrderIdError::CatalogVersionNotANumber),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_top_up_names_its_purchase_and_round_trips() {
        let text = "PGP-6271402111|-1003111266231|2592000|5077000001";
        let order = OrderRef::parse(Some(text)).unwrap();
        assert_eq!(order.topup_of.map(PaymentId::get), Some(5077000001));
        assert_eq!(order.tier_seconds, Some(2_592_000));
        assert_eq!(order.to_order_id(), text);
        for bad in ["|0", "|-5", "|x", "|", "|1|2"] {
            assert_eq!(
                OrderRef::parse(Some(&format!("PGP-6271402111|-1003111266231|2592000{bad}"))),
                Err(OrderIdError::TopUpNotAPaymentId),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_legacy_forms_restore_the_eaten_minus_sign() {
        assert_eq!(parsed("PGP-123--1003111266231"), Ok((123, -1003111266231)));
        assert_eq!(parsed("PGP-123-1003111266231"), Ok((123, -1003111266231)));
    }

    #[test]
    fn the_current_form_round_trips() {
        let order = OrderRef::parse(Some("PGP-123-1003111266231")).unwrap();
        assert_eq!(order.to_order_id(), "PGP-123|-1003111266231");
    }

    #[test]
    fn malformed_order_ids_say_what_is_wrong() {
        use OrderIdError::*;
        let cases = [
            ("", WrongPrefix),
            ("ABC-1|-2", WrongPrefix),
            ("PGP-123", NoSeparator),
            ("PGP-x|-100", UserIdNotANumber),
            ("PGP-|-100", UserIdNotANumber),
            ("PGP-0|-100", UserIdNotPositive),
            ("PGP-123|100", ChannelIdNotNegative),
            ("PGP-123|-", ChannelIdNotANumber),
            ("PGP-123|-10a", ChannelIdNotANumber),
            ("PGP-123---100", ChannelIdNotANumber),
            ("PGP-123-+100", ChannelIdNotANumber),
            ("PGP-123-0", ChannelIdNotNegative),
            ("PGP-99999999999999999999|-1", UserIdNotANumber),
        ];
        for (order_id, error) in cases {
            assert_eq!(parsed(order_id), Err(error), "{order_id:?}");
        }
        assert_eq!(OrderRef::parse(None), Err(Missing));
    }

    #[test]
    fn a_stored_positive_channel_id_is_read_as_the_legacy_order_form_reads_it() {
        // The seed stored whatever the legacy order form gave: `PGP-1-1003111266231`.
        let legacy = OrderRef::parse(Some("PGP-1-1003111266231")).unwrap();
        assert_eq!(
            ChannelId::from_legacy(1003111266231).unwrap(),
            legacy.channel_id
        );
        assert_eq!(
            ChannelId::from_legacy(-1003111266231).unwrap().get(),
            -1003111266231
        );
        assert!(ChannelId::from_legacy(0).is_err());
    }
}
