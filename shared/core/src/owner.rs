//! What the bot tells a channel's owner (`owner_chat_id` in the directory; the owner
//! must have started the bot): a sale, a renewal, a removal that failed, and the bot
//! losing the rights it needs. Notices are sent once after the write that decided the
//! event (the invite's completion, the removal's record, the update's claim), best
//! effort: a notice that cannot be sent is logged with the event, never retried into a
//! second one, and never holds up the buyer's work.
//!
//! Tests: `functions/invite-sender/src/tests/link.rs`, `functions/bot-webhook/src/tests/membership.rs`,
//! `functions/subscription-lifecycle/src/tests.rs`.

use chrono::{DateTime, Utc};
use tracing::warn;

use crate::directory::ChannelDirectory;
use crate::payment::{HoldReason, Purchase};
use crate::subscription::AccessDuration;
use crate::telegram::TelegramInviter;

#[derive(Debug, Clone, PartialEq)]
pub enum OwnerNotice {
    Sale {
        user_id: i64,
        price: String,
        paid_until: DateTime<Utc>,
        /// What the payment brought other than the tier's price: a surplus, or a short
        /// payment's share ([`PaidNote`]).
        note: Option<PaidNote>,
        /// Its IPNs never arrived: the recovery pass found it ([`Purchase::recovered`]).
        recovered: bool,
    },
    Renewal {
        user_id: i64,
        price: String,
        paid_until: DateTime<Utc>,
        note: Option<PaidNote>,
        recovered: bool,
    },
    RemovalFailed {
        user_id: i64,
        reason: String,
    },
    RightsLost {
        status: String,
    },
    /// Someone came in through a link made for another buyer (a forwarded one-time
    /// link): they were removed and the link revoked.
    LinkShared {
        joined: i64,
        buyer: i64,
        /// Whether the removal went through (else the owner removes them by hand).
        removed: bool,
    },
    /// A paid buyer's time ran out before their invite went out (they could not be
    /// reached, or the chain was down longer than the tier): nothing was sent.
    AccessEndedBeforeInvite {
        user_id: i64,
        payment_id: i64,
        private_channel_id: i64,
        paid_until: DateTime<Utc>,
    },
    /// A payment held for review: why, and the commands that settle it.
    PaymentHeld {
        payment_id: i64,
        user_id: Option<i64>,
        price: String,
        /// What arrived, in the price's currency, when known.
        paid: Option<String>,
        reason: HoldReason,
        /// Whether the buyer's own message reached them.
        buyer_told: bool,
        /// A short payment whose buyer was offered the rest (`/topup`): the purchase the
        /// commands settle (the first short payment's id).
        topup_of: Option<i64>,
    },
    /// A short payment whose buyer never paid the rest within the wait.
    PurchaseNeverCompleted {
        purchase_id: i64,
        user_id: i64,
        paid: String,
        price: String,
        missing: String,
        /// How many payments it has (the first among them).
        parts: usize,
    },
}

/// Why a hold needs the owner, in the owner's words.
fn hold_why(reason: HoldReason) -> &'static str {
    match reason {
        HoldReason::PriceMismatch => {
            "its price matches no tier of the channel now (the price changed while the \
             invoice was open, or the invoice was not made by this bot)"
        }
        HoldReason::RepeatDeposit => {
            "it is a repeat deposit to an invoice already paid (NOWPayments advises never \
             to grant these automatically)"
        }
        HoldReason::UnknownChannel => "its order names a channel that is not in the directory",
        HoldReason::UnparseableOrderId => {
            "its order_id names no buyer and channel (not an invoice made by this bot)"
        }
        HoldReason::Underpaid => "less arrived than was asked",
    }
}

/// A sale that did not bring its tier's price exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum PaidNote {
    /// More than the price arrived, e.g. `2.00 USD`.
    Surplus(String),
    /// A short payment in a channel that prorates: what arrived, what it bought, of what.
    Prorated {
        paid: String,
        price: String,
        granted: String,
        tier: String,
    },
}

impl PaidNote {
    /// What `purchase` brought other than its tier's price: a surplus, or a short
    /// payment's share (what arrived is the price in the share the grant is of the tier).
    pub fn of(purchase: &Purchase) -> Option<Self> {
        let currency = purchase.price_currency.to_uppercase();
        if let Some(surplus) = purchase.overpaid_by {
            return Some(Self::Surplus(format!("{surplus:.2} {currency}")));
        }
        let tier = AccessDuration::from_seconds(purchase.prorated_from_seconds?).ok()?;
        let granted = purchase.access()?;
        let paid = purchase.price_amount * granted.seconds() as f64 / tier.seconds() as f64;
        Some(Self::Prorated {
            paid: format!("{paid:.2} {currency}"),
            price: format!("{} {currency}", purchase.price_amount),
            granted: granted.spoken(),
            tier: tier.spoken(),
        })
    }
}

/// The sentence on a sale's note, if there is one.
fn paid_note(note: Option<&PaidNote>) -> String {
    match note {
        None => String::new(),
        Some(PaidNote::Surplus(surplus)) => format!(
            " They paid {surplus} more than the tier's price (the tier was granted as \
             bought): settle the surplus with them, or keep it as a tip."
        ),
        Some(PaidNote::Prorated {
            paid,
            price,
            granted,
            tier,
        }) => format!(
            " Their payment arrived short ({paid} of {price}), so it bought {granted} of \
             the {tier} tier (this channel prorates short payments)."
        ),
    }
}

/// The sentence on a payment whose IPNs never arrived.
fn recovered_note(recovered: bool) -> &'static str {
    if recovered {
        " NOWPayments' notification of this payment never reached your bot; TelePay \
         found it by asking NOWPayments, so the buyer was let in later than they should \
         have been. Check the IPN callback URL in your NOWPayments store settings and \
         that it is reachable (the IpnRecovered alarm says the same)."
    } else {
        ""
    }
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

impl OwnerNotice {
    pub fn text(&self, channel: &str) -> String {
        match self {
            Self::Sale {
                user_id,
                price,
                paid_until,
                note,
                recovered,
            } => format!(
                "New subscriber in {channel}: user {user_id} paid {price}; access until {}.{}{}",
                time(*paid_until),
                paid_note(note.as_ref()),
                recovered_note(*recovered)
            ),
            Self::Renewal {
                user_id,
                price,
                paid_until,
                note,
                recovered,
            } => format!(
                "Renewal in {channel}: user {user_id} paid {price}; access now until {}.{}{}",
                time(*paid_until),
                paid_note(note.as_ref()),
                recovered_note(*recovered)
            ),
            Self::RemovalFailed { user_id, reason } => format!(
                "Could not remove user {user_id} from {channel} after their access ended: \
                 {reason}. Remove them by hand (an admin or the owner cannot be removed by \
                 the bot), or give the bot the right to ban users."
            ),
            Self::LinkShared {
                joined,
                buyer,
                removed,
            } => {
                let done = if *removed {
                    "They were removed and the link revoked"
                } else {
                    "The link was revoked, but they could not be removed: remove them by hand"
                };
                format!(
                    "User {joined} joined {channel} through the invite link made for user                      {buyer}, and has no access of their own. {done}. User {buyer} can get a                      new link with /status."
                )
            }
            Self::RightsLost { status } => format!(
                "The bot can no longer manage {channel} (it is now \"{status}\"). Until it is \
                 an administrator again with the rights to invite users and ban users, buyers \
                 get no invite and expired members are not removed: Telegram answers \
                 \"chat not found\" or \"not enough rights\"."
            ),
            Self::AccessEndedBeforeInvite {
                user_id,
                payment_id,
                private_channel_id,
                paid_until,
            } => format!(
                "User {user_id} paid for {channel} (payment {payment_id}), but their access \
                 ended at {} before the invite reached them, so no link was sent. To give \
                 them time and an invite: telepay subscriptions extend {user_id} \
                 {private_channel_id} --days N --reason \"...\", then telepay payments \
                 reissue {payment_id}.",
                time(*paid_until)
            ),
            Self::PaymentHeld {
                payment_id,
                user_id,
                price,
                paid,
                reason,
                buyer_told,
                topup_of,
            } => {
                let who = user_id.map_or_else(
                    || "an unknown buyer".to_owned(),
                    |user_id| format!("user {user_id}"),
                );
                let told = match (*buyer_told, topup_of) {
                    (true, Some(_)) => {
                        "The buyer was told what is missing and asked to pay the rest with \
                         /topup: the access starts by itself once it arrives, and you are \
                         told if it never does."
                    }
                    (true, None) => "The buyer was told a person will look at it.",
                    (false, _) => {
                        "The buyer could not be told (no buyer in the order, or they have \
                         not started the bot)."
                    }
                };
                // A top-up's commands settle its whole purchase.
                let settle = topup_of.unwrap_or(*payment_id);
                let arrived = paid
                    .as_ref()
                    .map(|paid| format!(" ({paid} of {price} arrived)"))
                    .unwrap_or_default();
                format!(
                    "Payment {payment_id} from {who} ({price}) for {channel} is held for \
                     review: {}{arrived}. {told} To grant the access it paid for anyway: \
                     telepay reviews approve {settle}. To refuse it (refund it in \
                     NOWPayments): telepay reviews reject {settle}. Details: telepay \
                     reviews show {settle}.",
                    hold_why(*reason)
                )
            }
            Self::PurchaseNeverCompleted {
                purchase_id,
                user_id,
                paid,
                price,
                missing,
                parts,
            } => {
                let payments = if *parts == 1 {
                    "one payment".to_owned()
                } else {
                    format!("{parts} payments")
                };
                format!(
                    "The purchase of user {user_id} for {channel} is still short: {paid} of \
                     {price} arrived in {payments}, {missing} missing, and the buyer has not \
                     paid the rest with /topup. To grant the access anyway: telepay reviews \
                     approve {purchase_id}. To refuse it (refund what arrived in \
                     NOWPayments): telepay reviews reject {purchase_id}. Details: telepay \
                     reviews show {purchase_id}."
                )
            }
        }
    }
}

/// Tells the owner of `private_channel_id`, if the directory names one, within
/// `timeout` (the caller's Bot API call cap: a notice never holds up its worker). Never
/// fails: a notice that cannot go out is logged.
pub async fn tell_owner<T: TelegramInviter>(
    telegram: &T,
    directory: &ChannelDirectory,
    private_channel_id: i64,
    notice: OwnerNotice,
    timeout: std::time::Duration,
) {
    let Some(entry) = directory.selling(private_channel_id) else {
        return;
    };
    let Some(owner) = entry.owner_chat_id else {
        return;
    };
    let channel = directory.private_channel_name(private_channel_id);
    let text = notice.text(&channel);
    match tokio::time::timeout(timeout, telegram.send_message(owner, &text)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(owner_chat_id = owner, error = %e, ?notice, "owner notice not sent"),
        Err(_) => warn!(
            owner_chat_id = owner,
            ?notice,
            "owner notice not sent in time"
        ),
    }
}
