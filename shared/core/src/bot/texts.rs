//! What the bot says. Configurable as one JSON object of overrides
//! (`TELEPAY_BOT_TEXTS`); English defaults. Placeholders: `{channel}`, `{price}`,
//! `{stars}`, `{duration}`, `{expires_at}`, `{status}`, `{paid_with}`.
//!
//! Tests: below.

use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BotTexts {
    /// Above the list of channels when /start names none and several are sold.
    pub choose_channel: String,
    /// Above a channel's tiers: `{channel}`.
    pub choose_tier: String,
    /// A tier's button: `{price}`, `{duration}`.
    pub tier_button: String,
    /// With the Pay button: `{channel}`, `{price}`, `{duration}`.
    pub pay: String,
    pub pay_button: String,
    /// A tier's Telegram Stars button, beside its crypto one: `{stars}`, `{duration}`.
    pub stars_tier_button: String,
    /// With the Stars Pay button, one-time: `{channel}`, `{stars}`, `{duration}`.
    pub stars_pay: String,
    /// With the Stars Pay button of a 30-day tier, which Telegram renews every 30 days:
    /// `{channel}`, `{stars}`, `{duration}`.
    pub stars_pay_renewing: String,
    /// The Stars Pay button: `{stars}`.
    pub stars_pay_button: String,
    /// To a buyer whose Stars were refunded at once because nothing could be granted for
    /// them (a tier gone meanwhile): `{stars}`.
    pub stars_refunded_unsold: String,
    /// After Stars went back to the buyer: `{stars}`, `{channel}`, `{expires_at}` (the
    /// access left, which may be none).
    pub stars_refunded: String,
    /// After /cancel stopped a Stars subscription's renewals: `{channel}`, `{expires_at}`.
    pub stars_cancelled: String,
    /// After /cancel found no Stars subscription renewing.
    pub stars_nothing_to_cancel: String,
    pub help: String,
    /// The answer to any other text.
    pub unknown: String,
    pub status_none: String,
    /// One line per subscription: `{channel}`, `{status}`, `{expires_at}`, `{paid_with}`
    /// (the rails that paid its time: crypto, Telegram Stars, or both).
    pub status_line: String,
    /// After /status found the buyer active but not in the channel: the link follows.
    pub status_link: String,
    /// After /status found the buyer active, not in, and no link to send now.
    pub status_link_coming: String,
    /// /status when this paid period's new invites are used up: `{channel}`.
    pub status_reissue_limit: String,
    /// To someone whose join request is declined, above the channel's tiers.
    pub join_declined: String,
    /// The button answer when the invoice could not be made now.
    pub invoice_later: String,
    /// A button that no longer means anything (an old menu, a tier since removed).
    pub stale_button: String,
    /// A payment held because its price matches no tier now: `{channel}`,
    /// `{payment_id}`, `{price}` (sent by the invite sender).
    pub held_price: String,
    /// A repeat deposit to an invoice already paid, held: same placeholders.
    pub held_repeat_deposit: String,
    /// A payment whose order names no channel on sale, held: same placeholders.
    pub held_unknown: String,
    /// A payment that arrived short, held: also `{paid}` (what arrived) and `{missing}`.
    pub held_underpaid: String,
    /// A payment that arrived short in a channel that offers top-ups, held: the
    /// placeholders of `held_underpaid`; it should name `/topup`.
    pub held_underpaid_topup: String,
    /// /topup's Pay message: `{channel}`, `{missing}` (what the invoice asks), `{paid}`
    /// (what arrived so far), `{price}`.
    pub topup_pay: String,
    /// /topup when the buyer has no purchase waiting for the rest.
    pub topup_none: String,
    /// /status, for each payment still under way at NOWPayments: `{channel}`,
    /// `{payment_id}`, `{status}` (waiting, confirming, confirmed, sending).
    pub status_under_way: String,
    /// After the invite of a short payment a channel prorates: `{paid}`, `{price}`,
    /// `{granted}` (the time it bought), `{tier}` (the tier's length).
    pub prorated: String,
}

impl Default for BotTexts {
    fn default() -> Self {
        Self {
            choose_channel: "Which channel would you like to join?".into(),
            choose_tier: "{channel}: choose how long you would like access.".into(),
            tier_button: "{price} · {duration}".into(),
            pay: "{channel}, {duration} for {price}. Pay with crypto below; your invite \
                  arrives here as soon as the payment is confirmed."
                .into(),
            pay_button: "Pay".into(),
            stars_tier_button: "⭐ {stars} · {duration}".into(),
            stars_pay: "{channel}, {duration} for ⭐ {stars}. Pay with Telegram Stars below; \
                        your invite arrives here as soon as Telegram confirms the payment."
                .into(),
            stars_pay_renewing: "{channel}, {duration} for ⭐ {stars}, renewed by Telegram \
                                 every 30 days until you send /cancel. Your invite arrives \
                                 here as soon as the first payment is confirmed."
                .into(),
            stars_pay_button: "Pay ⭐ {stars}".into(),
            stars_refunded_unsold: "This purchase is no longer sold, so your ⭐ {stars} \
                                    were refunded. Send /start to see what is on offer."
                .into(),
            stars_refunded: "Your ⭐ {stars} for {channel} were refunded, and the time they \
                             bought taken back: your access now ends {expires_at}."
                .into(),
            stars_cancelled: "Your Telegram Stars subscription to {channel} will not renew. \
                              Your access runs until {expires_at}."
                .into(),
            stars_nothing_to_cancel: "You have no Telegram Stars subscription that renews. \
                                      Crypto payments never renew by themselves."
                .into(),
            help: "/start: buy access to a channel\n/status: your subscriptions, and your \
                   invite again if you are not in\n/topup: pay the rest of a payment that \
                   arrived short\n/cancel: stop a Telegram Stars subscription renewing\n\
                   /help: this message"
                .into(),
            unknown: "I did not understand that. Send /start to buy access, /status to \
                      see your subscriptions, /help for help."
                .into(),
            status_none: "You have no subscriptions yet. Send /start to buy access.".into(),
            status_line: "{channel}: {status} until {expires_at} (paid with {paid_with})".into(),
            status_link: "You are not in {channel} yet. Your invite: {link}".into(),
            status_link_coming: "You are not in {channel} yet; a new invite is on its way.".into(),
            status_reissue_limit: "You have had every new invite to {channel} this period \
                                   allows. If you still cannot get in, please write to the \
                                   channel's owner."
                .into(),
            join_declined: "{channel} is for subscribers. Choose how long you would like \
                            access; after paying, use the invite the bot sends you."
                .into(),
            invoice_later: "The payment page could not be made just now; please try again \
                            in a minute."
                .into(),
            stale_button: "That menu is out of date; send /start for a new one.".into(),
            held_price: "Your payment {payment_id} ({price}) for {channel} arrived, but it \
                         does not match the current price, so a person will check it before \
                         your access starts. You do not need to pay again: you will hear \
                         from us here."
                .into(),
            held_repeat_deposit: "A second payment ({payment_id}, {price}) arrived for an \
                                  invoice that was already paid. A person will check it and \
                                  settle it with you; you do not need to do anything."
                .into(),
            held_unknown: "Your payment {payment_id} ({price}) arrived, but we could not \
                           match it to a channel on sale, so a person will check it. You do \
                           not need to pay again: you will hear from us here."
                .into(),
            held_underpaid: "Your payment {payment_id} for {channel} arrived short: {paid} \
                             of {price} reached us ({missing} missing, often a wallet or \
                             network fee). A person will check it and tell you here how it \
                             is settled; please do not send more to the same address."
                .into(),
            held_underpaid_topup: "Your payment {payment_id} for {channel} arrived short: \
                                   {paid} of {price} reached us ({missing} missing, often a \
                                   wallet or network fee). Send /topup to pay the missing \
                                   {missing}: your access starts as soon as it arrives. \
                                   Please do not send more to the same address."
                .into(),
            topup_pay: "{channel}: {paid} of {price} arrived; {missing} is missing. Pay it \
                        below; your invite arrives here as soon as it is confirmed."
                .into(),
            topup_none: "You have no payment waiting for the rest. Send /status to see your \
                         subscriptions and payments."
                .into(),
            status_under_way: "Your payment {payment_id} for {channel} is on its way \
                               ({status}). Your invite comes here as soon as it is \
                               confirmed; you do not need to pay again."
                .into(),
            prorated: "Your payment arrived short ({paid} of {price}), so it bought \
                       {granted} of the {tier} you chose."
                .into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("TELEPAY_BOT_TEXTS is not a JSON object of the documented texts: {0}")]
pub struct BadBotTexts(String);

impl BotTexts {
    /// The defaults with `json`'s overrides.
    pub fn from_json(json: &str) -> Result<Self, BadBotTexts> {
        serde_json::from_str(json).map_err(|e| BadBotTexts(e.to_string()))
    }
}

/// Fills the placeholders a template uses.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |text, (name, value)| {
            text.replace(&format!("{{{name}}}"), value)
        })
}

pub fn format_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_name() {
        let texts = BotTexts::from_json(r#"{"help":"Hilfe"}"#).unwrap();
        assert_eq!(texts.help, "Hilfe");
        assert_eq!(texts.unknown, BotTexts::default().unknown);
        assert!(BotTexts::from_json(r#"{"hepl":"typo"}"#).is_err());
    }
}
