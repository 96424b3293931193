//! The bot's menus: channels, a channel's tiers, the Pay button, built from the channel
//! directory. Button data names what was chosen (`channel:<id>`, `buy:<id>:<tier>`),
//! short enough for Telegram's 64 bytes, and is read back by [`Choice::parse`].
//!
//! Tests: below, and through the bot in `functions/bot-webhook/src/tests/commands.rs`.

use super::texts::{BotTexts, fill};
use crate::directory::{ChannelDirectory, ChannelEntry, Tier};
use crate::subscription::AccessDuration;
use crate::telegram::{Button, ButtonAction};

/// What a pressed button chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// A channel from the channel list: show its tiers.
    Channel(i64),
    /// A tier of a channel (its index in the directory): make the invoice.
    Tier { channel_id: i64, tier: u32 },
    /// A tier, paid in Telegram Stars: make the Stars invoice (docs/stars.md).
    StarsTier { channel_id: i64, tier: u32 },
}

impl Choice {
    pub fn data(self) -> String {
        match self {
            Self::Channel(id) => format!("channel:{id}"),
            Self::Tier { channel_id, tier } => format!("buy:{channel_id}:{tier}"),
            Self::StarsTier { channel_id, tier } => format!("stars:{channel_id}:{tier}"),
        }
    }

    /// None for data this bot never wrote (an old or forged button).
    pub fn parse(data: &str) -> Option<Self> {
        let mut parts = data.split(':');
        let choice = match (parts.next()?, parts.next()?, parts.next()) {
            ("channel", id, None) => Self::Channel(id.parse().ok()?),
            ("buy", id, Some(tier)) => Self::Tier {
                channel_id: id.parse().ok()?,
                tier: tier.parse().ok()?,
            },
            ("stars", id, Some(tier)) => Self::StarsTier {
                channel_id: id.parse().ok()?,
                tier: tier.parse().ok()?,
            },
            _ => return None,
        };
        parts.next().is_none().then_some(choice)
    }
}

/// A message with rows of buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    pub text: String,
    pub buttons: Vec<Vec<Button>>,
}

pub fn channel_title(entry: &ChannelEntry) -> String {
    entry
        .title
        .clone()
        .unwrap_or_else(|| format!("channel {}", entry.private_channel_id))
}

pub fn price(tier: &Tier) -> String {
    format!(
        "{} {}",
        tier.price_amount,
        tier.price_currency.to_uppercase()
    )
}

pub fn duration(tier: &Tier) -> String {
    tier.access()
        .map_or_else(String::new, AccessDuration::spoken)
}

/// The channel list, or straight to the tiers when one channel is sold.
pub fn start_menu(directory: &ChannelDirectory, texts: &BotTexts) -> Menu {
    let channels = directory.channels();
    if let [only] = channels.as_slice() {
        return tier_menu(only, &texts.choose_tier, texts);
    }
    Menu {
        text: texts.choose_channel.clone(),
        buttons: channels
            .iter()
            .map(|entry| {
                vec![Button {
                    text: channel_title(entry),
                    action: ButtonAction::Callback(Choice::Channel(entry.channel_id).data()),
                }]
            })
            .collect(),
    }
}

/// A channel's tiers, one row each, under `heading` (`{channel}`): its crypto button, and
/// beside it its Telegram Stars button when the tier is also sold for Stars.
pub fn tier_menu(entry: &ChannelEntry, heading: &str, texts: &BotTexts) -> Menu {
    let buttons = entry
        .tiers
        .iter()
        .enumerate()
        .map(|(index, tier)| {
            let (channel_id, tier_index) =
                (entry.channel_id, u32::try_from(index).unwrap_or(u32::MAX));
            let text = fill(
                &texts.tier_button,
                &[("price", &price(tier)), ("duration", &duration(tier))],
            );
            let crypto = Choice::Tier {
                channel_id,
                tier: tier_index,
            };
            let mut row = vec![Button {
                text,
                action: ButtonAction::Callback(crypto.data()),
            }];
            if let Some(stars) = tier.stars {
                let text = fill(
                    &texts.stars_tier_button,
                    &[("stars", &stars.to_string()), ("duration", &duration(tier))],
                );
                let choice = Choice::StarsTier {
                    channel_id,
                    tier: tier_index,
                };
                row.push(Button {
                    text,
                    action: ButtonAction::Callback(choice.data()),
                });
            }
            row
        })
        .collect();
    Menu {
        text: fill(heading, &[("channel", &channel_title(entry))]),
        buttons,
    }
}

/// The Pay button to an invoice.
pub fn pay_menu(entry: &ChannelEntry, tier: &Tier, invoice_url: &str, texts: &BotTexts) -> Menu {
    Menu {
        text: fill(
            &texts.pay,
            &[
                ("channel", &channel_title(entry)),
                ("price", &price(tier)),
                ("duration", &duration(tier)),
            ],
        ),
        buttons: vec![vec![Button {
            text: texts.pay_button.clone(),
            action: ButtonAction::Url(invoice_url.to_owned()),
        }]],
    }
}

/// The Stars Pay button to a Stars invoice link; `renewing` for a 30-day subscription.
pub fn stars_pay_menu(
    entry: &ChannelEntry,
    tier: &Tier,
    stars: u32,
    renewing: bool,
    invoice_link: &str,
    texts: &BotTexts,
) -> Menu {
    let stars = stars.to_string();
    let template = if renewing {
        &texts.stars_pay_renewing
    } else {
        &texts.stars_pay
    };
    Menu {
        text: fill(
            template,
            &[
                ("channel", &channel_title(entry)),
                ("stars", &stars),
                ("duration", &duration(tier)),
            ],
        ),
        buttons: vec![vec![Button {
            text: fill(&texts.stars_pay_button, &[("stars", &stars)]),
            action: ButtonAction::Url(invoice_link.to_owned()),
        }]],
    }
}

/// The channel a `/start` parameter names: its order channel id or its private one.
pub fn channel_named<'a>(
    directory: &'a ChannelDirectory,
    parameter: &str,
) -> Option<&'a ChannelEntry> {
    let id: i64 = parameter.trim().parse().ok()?;
    crate::order::ChannelId::new(id)
        .ok()
        .and_then(|channel| directory.channel(channel))
        .or_else(|| directory.selling(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_data_reads_back_and_fits_telegrams_limit() {
        for choice in [
            Choice::Channel(-1003111266231),
            Choice::Tier {
                channel_id: i64::MIN,
                tier: u32::MAX,
            },
            Choice::StarsTier {
                channel_id: i64::MIN,
                tier: u32::MAX,
            },
        ] {
            assert!(choice.data().len() <= 64);
            assert_eq!(Choice::parse(&choice.data()), Some(choice));
        }
        for forged in ["", "buy", "buy:x:1", "buy:-1:1:2", "channel:-1:2", "pay:-1"] {
            assert_eq!(Choice::parse(forged), None, "{forged}");
        }
    }

    #[test]
    fn durations_read_as_people_say_them() {
        let tier = |duration: &str| Tier {
            price_amount: 1.0,
            price_currency: "usd".into(),
            subscription_days: None,
            duration: Some(duration.into()),
            stars: None,
        };
        assert_eq!(duration(&tier("30d")), "30 days");
        assert_eq!(duration(&tier("1d")), "1 day");
        assert_eq!(duration(&tier("12h")), "12 hours");
        assert_eq!(duration(&tier("3m")), "3 minutes");
        assert_eq!(price(&tier("1d")), "1 USD");
    }
}
