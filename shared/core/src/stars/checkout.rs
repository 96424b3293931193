//! The pre-checkout rule: whether a Stars purchase about to be charged still matches the
//! catalog it was priced from. Telegram asks the bot (`pre_checkout_query`) after the
//! buyer confirms and before it takes the Stars, and cancels the purchase unless the
//! bot answers within 10 seconds, so the rule reads nothing but the catalog version the
//! bot already holds and answers at once. A purchase refused here is never charged; one
//! accepted is granted from its `successful_payment` by the same order.
//!
//! Tests: below.

use super::order::StarsOrder;
use super::{STARS_CURRENCY, SUBSCRIPTION_PERIOD_SECONDS};
use crate::directory::{ChannelDirectory, ChannelEntry, Tier};

/// What Telegram says is about to be charged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout<'a> {
    /// Who confirmed (`from.id`).
    pub user_id: i64,
    pub currency: &'a str,
    pub total_amount: u64,
    pub invoice_payload: &'a str,
}

/// Why a purchase is refused before it is charged, in the buyer's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CheckoutRefusal {
    #[error("this is not a purchase of this bot")]
    NotOurs,
    #[error("this invoice was made for another Telegram account")]
    OtherBuyer,
    #[error("this channel or tier is no longer sold")]
    NoLongerSold,
    #[error("the price in Stars has changed: please open the channel's tiers again")]
    PriceChanged,
}

/// The tier `order` names in `directory`, if it is still sold for Stars at the order's
/// price, and the entry it belongs to.
pub fn sold_tier<'d>(
    order: &StarsOrder,
    directory: &'d ChannelDirectory,
) -> Result<(&'d ChannelEntry, &'d Tier), CheckoutRefusal> {
    let entry = directory
        .channel(order.channel_id)
        .ok_or(CheckoutRefusal::NoLongerSold)?;
    let tier = entry
        .tiers
        .iter()
        .find(|tier| tier.access().map(|a| a.seconds()) == Some(order.tier_seconds))
        .ok_or(CheckoutRefusal::NoLongerSold)?;
    match tier.stars {
        None => Err(CheckoutRefusal::NoLongerSold),
        Some(stars) if stars != order.stars => Err(CheckoutRefusal::PriceChanged),
        Some(_) => Ok((entry, tier)),
    }
}

/// Whether `checkout` may be charged, against `directory` (the catalog version its
/// payload names).
pub fn pre_checkout(
    checkout: &Checkout<'_>,
    directory: &ChannelDirectory,
) -> Result<StarsOrder, CheckoutRefusal> {
    let order =
        StarsOrder::parse(checkout.invoice_payload).map_err(|_| CheckoutRefusal::NotOurs)?;
    if checkout.currency != STARS_CURRENCY
        || checkout.total_amount != u64::from(order.stars)
        || (order.recurring && order.tier_seconds != SUBSCRIPTION_PERIOD_SECONDS)
    {
        return Err(CheckoutRefusal::NotOurs);
    }
    if checkout.user_id != order.user_id.get() {
        return Err(CheckoutRefusal::OtherBuyer);
    }
    sold_tier(&order, directory)?;
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::order::{ChannelId, UserId};

    const DIRECTORY: &str = r#"{"channels":[{"channel_id":-1003111266231,"private_channel_id":-1002222222222,
        "tiers":[{"price_amount":5,"price_currency":"usd","duration":"30d","stars":250},
                 {"price_amount":1,"price_currency":"usd","duration":"7d"}]}]}"#;

    fn order(recurring: bool) -> StarsOrder {
        StarsOrder {
            user_id: UserId::new(42).unwrap(),
            channel_id: ChannelId::new(-1003111266231).unwrap(),
            tier_seconds: SUBSCRIPTION_PERIOD_SECONDS,
            catalog_version: 2,
            stars: 250,
            recurring,
        }
    }

    fn checkout(payload: &str) -> Checkout<'_> {
        Checkout {
            user_id: 42,
            currency: "XTR",
            total_amount: 250,
            invoice_payload: payload,
        }
    }

    fn directory(json: &str) -> ChannelDirectory {
        ChannelDirectory::from_json(json).unwrap()
    }

    #[test]
    fn a_purchase_that_still_matches_its_catalog_is_charged() {
        for recurring in [false, true] {
            let payload = order(recurring).to_payload();
            assert_eq!(
                pre_checkout(&checkout(&payload), &directory(DIRECTORY)),
                Ok(order(recurring))
            );
        }
    }

    #[test]
    fn a_changed_price_a_removed_tier_or_a_forged_checkout_is_refused_before_the_charge() {
        let payload = order(false).to_payload();
        let dir = directory(DIRECTORY);
        let cheaper = directory(&DIRECTORY.replace("\"stars\":250", "\"stars\":200"));
        assert_eq!(
            pre_checkout(&checkout(&payload), &cheaper),
            Err(CheckoutRefusal::PriceChanged)
        );
        let no_stars = directory(&DIRECTORY.replace(",\"stars\":250", ""));
        assert_eq!(
            pre_checkout(&checkout(&payload), &no_stars),
            Err(CheckoutRefusal::NoLongerSold)
        );
        let other_length = directory(&DIRECTORY.replace("\"30d\"", "\"31d\""));
        assert_eq!(
            pre_checkout(&checkout(&payload), &other_length),
            Err(CheckoutRefusal::NoLongerSold)
        );
        let gone = directory(&DIRECTORY.replace("-1003111266231", "-1009999999999"));
        assert_eq!(
            pre_checkout(&checkout(&payload), &gone),
            Err(CheckoutRefusal::NoLongerSold)
        );
        let someone_else = Checkout {
            user_id: 43,
            ..checkout(&payload)
        };
        assert_eq!(
            pre_checkout(&someone_else, &dir),
            Err(CheckoutRefusal::OtherBuyer)
        );
        for forged in [
            Checkout {
                currency: "USD",
                ..checkout(&payload)
            },
            Checkout {
                total_amount: 1,
                ..checkout(&payload)
            },
            checkout("PGP-42|-1003111266231"),
        ] {
            assert_eq!(
                pre_checkout(&forged, &dir),
                Err(CheckoutRefusal::NotOurs),
                "{forged:?}"
            );
        }
        // A recurring order for a tier that is not Telegram's 30 days.
        let weekly = StarsOrder {
            tier_seconds: 7 * 86_400,
            recurring: true,
            ..order(true)
        };
        let payload = weekly.to_payload();
        assert_eq!(
            pre_checkout(&checkout(&payload), &dir),
            Err(CheckoutRefusal::NotOurs)
        );
    }
}
