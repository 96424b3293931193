//! The seeded schedule: what each payment is, how forgeries are made, and Telegram's
//! faults per (method, payment, attempt). The same seed gives the same schedule.

use std::sync::Arc;
use std::time::Duration;

use fake_bot_api::FaultKind;
use serde_json::{Value, json};
use telepay_core::fixtures::SAMPLE_CHANNEL_ID;

use super::dice::{Dice, tag};
use super::faults::{Chaos, FaultRates};

pub(super) const BOT_TOKEN: &str = "777000:chaos-run-token";
pub(super) const PAYMENT_BASE: i64 = 5_000_000_000;
pub(super) const USER_BASE: i64 = 100_000;
pub(super) const ATTACKER_BASE: i64 = 900_000_000;
/// The price of the demo directory's only tier.
pub(super) const PRICE: f64 = 3.21;
/// This share of genuine payments has every finishing IPN lost (the callback broke after
/// the in-flight ones): only the recovery pass, asking NOWPayments, brings them in.
pub(super) const IPNS_LOST: f64 = 0.05;
/// A payment's buyer is one of the recent earlier buyers this often: a renewal through
/// the invite path, sharing the subscription's live link.
pub(super) const BUY_AGAIN: f64 = 0.2;
/// A top-up's payment id is its purchase's first payment's id plus this.
pub(super) const TOPUP_OFFSET: i64 = 1_000_000_000;
/// The tier every chaos order names: the demo directory's 30 days.
pub(super) const TIER_SECONDS: u64 = 30 * 86_400;
/// The catalog version every chaos invoice was made at (its price: [`PRICE`]).
pub(super) const INVOICE_VERSION: u32 = 1;
/// A new catalog version (a price change) is applied this often during the run.
pub(super) const PRICE_CHANGE_EVERY: Duration = Duration::from_millis(150);

/// The catalog at `price`: the demo directory's one tier, spelled out.
pub(super) fn catalog_at(price: f64) -> String {
    json!({
        "price_tolerance_percent": 1,
        "channels": [{
            "channel_id": SAMPLE_CHANNEL_ID,
            "private_channel_id": SAMPLE_CHANNEL_ID,
            "title": "Demo channel",
            "tiers": [{"price_amount": price, "price_currency": "usd", "duration": "30 days"}]
        }]
    })
    .to_string()
}

/// What arrives of a short payment: 60 % of the crypto asked.
const SHORT_ACTUALLY_PAID: f64 = 0.034_301_646;
/// How far back a returning buyer's earlier payment may be, in schedule positions.
const BUY_AGAIN_WITHIN: u64 = 30;

/// What a payment is, in the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentKind {
    /// A finished payment at the right price: must end with exactly one working invite,
    /// or a terminal `invite_failed` when the buyer cannot be messaged.
    Paid,
    /// A repeat deposit (`parent_payment_id` set): must be held for review.
    RepeatDeposit,
    /// Paid the wrong amount: must be held for review.
    PriceMismatch,
    /// Never paid: only forged or tampered IPNs arrive for it. Must leave no trace.
    ForgedOnly,
    /// Sent less than asked and never paid the rest: its IPNs say `partially_paid`.
    /// Must be held (`underpaid`), its buyer told, its purchase left open.
    Underpaid,
    /// Sent less than asked, then paid the rest with a top-up invoice once told: the
    /// top-up's record must grant the tier once, the first payment never.
    ToppedUp,
    /// Sent more than asked: granted the tier, the surplus recorded for the owner.
    Overpaid,
}

impl PaymentKind {
    /// Whether a payment of this kind ends granted.
    pub fn grants(self) -> bool {
        matches!(self, Self::Paid | Self::ToppedUp | Self::Overpaid)
    }
}

/// How a forged or tampered IPN is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Forgery {
    WrongSecret,
    Unsigned,
    TruncatedSignature,
    UppercaseSignature,
    SignatureOfAnotherBody,
    /// A genuine body and its signature, then the buyer changed to the attacker.
    BuyerChangedAfterSigning,
    /// A genuine body and its signature, then the price lowered.
    PriceChangedAfterSigning,
}

pub(super) const FORGERIES: [Forgery; 7] = [
    Forgery::WrongSecret,
    Forgery::Unsigned,
    Forgery::TruncatedSignature,
    Forgery::UppercaseSignature,
    Forgery::SignatureOfAnotherBody,
    Forgery::BuyerChangedAfterSigning,
    Forgery::PriceChangedAfterSigning,
];

/// One payment's part of the schedule.
#[derive(Debug, Clone)]
pub struct PaymentPlan {
    pub payment_id: i64,
    pub user_id: i64,
    pub kind: PaymentKind,
    /// How many times NOWPayments sends the finished IPN (each retried on failure).
    pub(super) finished_copies: u64,
    /// Earlier statuses sent before (or, out of order, after) the finished ones.
    pub(super) earlier: Vec<&'static str>,
    pub(super) earlier_after_finished: bool,
    /// Every finishing IPN (`finished`, or `partially_paid` for a short one) is lost on
    /// its way: only the in-flight ones arrive ([`IPNS_LOST`]).
    pub ipns_lost: bool,
    /// Forged or tampered IPNs sent for this payment.
    pub(super) forgeries: Vec<Forgery>,
}

impl PaymentPlan {
    pub(super) fn new(dice: &Dice, index: u64) -> Self {
        let payment_id = PAYMENT_BASE + index as i64;
        let roll = dice.unit(&[tag("kind"), index]);
        // The shares: 10 % top up, 3 % never do, 2 % overpay, 1 % repeat.
        let kind = match roll {
            r if r < 0.01 => PaymentKind::RepeatDeposit,
            r if r < 0.03 => PaymentKind::PriceMismatch,
            r if r < 0.05 => PaymentKind::ForgedOnly,
            r if r < 0.08 => PaymentKind::Underpaid,
            r if r < 0.18 => PaymentKind::ToppedUp,
            r if r < 0.20 => PaymentKind::Overpaid,
            _ => PaymentKind::Paid,
        };
        let ipns_lost =
            kind != PaymentKind::ForgedOnly && dice.chance(IPNS_LOST, &[tag("ipns lost"), index]);
        let mut earlier = Vec::new();
        if ipns_lost {
            // What NOWPayments sent before the callback broke: the payment is watched.
            earlier.extend(["waiting", "confirming"]);
        } else if dice.chance(0.4, &[tag("waiting"), index]) {
            earlier.push("waiting");
            if dice.chance(0.5, &[tag("confirming"), index]) {
                earlier.push("confirming");
            }
        }
        let forgery = |n: u64| {
            FORGERIES[dice.below(FORGERIES.len() as u64, &[tag("forgery"), index, n]) as usize]
        };
        let forgeries = match kind {
            PaymentKind::ForgedOnly => (0..1 + dice.below(3, &[tag("forgeries"), index]))
                .map(forgery)
                .collect(),
            _ if dice.chance(0.05, &[tag("tampered"), index]) => vec![forgery(0)],
            _ => Vec::new(),
        };
        // A returning buyer is an earlier position's buyer (its payment may have been
        // anything; whatever paid first is the subscription's first grant).
        let buyer_index = if index > 0 && dice.chance(BUY_AGAIN, &[tag("buys again"), index]) {
            index - 1 - dice.below(index.min(BUY_AGAIN_WITHIN), &[tag("earlier"), index])
        } else {
            index
        };
        Self {
            payment_id,
            user_id: USER_BASE + buyer_index as i64,
            kind,
            finished_copies: 1 + dice.below(5, &[tag("copies"), index]),
            earlier,
            earlier_after_finished: !ipns_lost && dice.chance(0.1, &[tag("out of order"), index]),
            ipns_lost,
            forgeries,
        }
    }

    /// The IPN NOWPayments would send with `status` (compact, keys sorted, like theirs).
    pub(super) fn ipn(&self, status: &str) -> String {
        let price = match self.kind {
            PaymentKind::PriceMismatch => PRICE / 2.0,
            _ => PRICE,
        };
        let parent = match self.kind {
            PaymentKind::RepeatDeposit => json!(self.payment_id - 1),
            _ => Value::Null,
        };
        let short = matches!(self.kind, PaymentKind::Underpaid | PaymentKind::ToppedUp);
        if short && status == "finished" {
            // NOWPayments' last word on a short payment; 60 % of the crypto arrived.
            let body = ipn_body(
                self.payment_id,
                self.user_id,
                "partially_paid",
                price,
                parent,
            );
            return tamper(&body, "actually_paid", json!(SHORT_ACTUALLY_PAID));
        }
        let body = ipn_body(self.payment_id, self.user_id, status, price, parent);
        if self.kind == PaymentKind::Overpaid && status == "finished" {
            // Half as much again as asked arrived.
            return tamper(&body, "actually_paid", json!(0.05716941 * 1.5));
        }
        body
    }

    /// The top-up's payment id, for a plan whose buyer pays the rest.
    pub fn topup_id(&self) -> Option<i64> {
        (self.kind == PaymentKind::ToppedUp).then_some(self.payment_id + TOPUP_OFFSET)
    }

    /// The payment whose record grants this plan's tier.
    pub fn granted_id(&self) -> i64 {
        self.topup_id().unwrap_or(self.payment_id)
    }

    /// The top-up's IPN with `status`: an invoice for the rest (what the bot's /topup
    /// asks: the missing amount rounded up to the cent), its order naming the purchase.
    pub(super) fn topup_ipn(&self, status: &str) -> Option<String> {
        let topup_id = self.topup_id()?;
        let arrived = PRICE * SHORT_ACTUALLY_PAID / 0.05716941;
        let rest = ((PRICE - arrived) * 100.0).ceil() / 100.0;
        let body = ipn_body(topup_id, self.user_id, status, rest, Value::Null);
        let order = format!(
            "PGP-{}|{SAMPLE_CHANNEL_ID}|{TIER_SECONDS}|{}",
            self.user_id, self.payment_id
        );
        Some(tamper(&body, "order_id", json!(order)))
    }

    /// The buyer the invite must go to.
    pub(super) fn buyer(&self) -> i64 {
        self.user_id
    }
}

pub(super) fn ipn_body(
    payment_id: i64,
    user_id: i64,
    status: &str,
    price: f64,
    parent: Value,
) -> String {
    json!({
        "payment_id": payment_id,
        "parent_payment_id": parent,
        "invoice_id": payment_id + 1_000_000_000,
        "payment_status": status,
        "pay_address": "MEEim9nyiAWcDbMAqVZj6tE5xktqbSDrCJ",
        "price_amount": price,
        "price_currency": "usd",
        "pay_amount": 0.05716941,
        "actually_paid": if status == "finished" { 0.05716941 } else { 0.0 },
        "pay_currency": "ltc",
        // Every invoice was made at catalog version 1; version 2 (a dollar more) is in
        // force before the first IPN, and more versions are applied during the run.
        "order_id": format!("PGP-{user_id}|{SAMPLE_CHANNEL_ID}|{TIER_SECONDS}@{INVOICE_VERSION}"),
        "order_description": "Demo channel, 30 days",
        "outcome_amount": 0.001408,
        "outcome_currency": "eth",
        "payin_extra_id": null,
        "payment_extra_ids": null,
        "purchase_id": (payment_id + 2_000_000_000).to_string(),
        "updated_at": 1_774_390_831_880_i64,
    })
    .to_string()
}

/// `body` with `field` set to `value`, which must differ from what was signed.
pub(super) fn tamper(body: &str, field: &str, value: Value) -> String {
    let mut ipn: serde_json::Map<String, Value> = serde_json::from_str(body).unwrap();
    let before = ipn.insert(field.to_owned(), value);
    let tampered = serde_json::to_string(&ipn).unwrap();
    assert_ne!(
        tampered, body,
        "a tampered IPN differs from the signed one ({before:?})"
    );
    tampered
}

/// Which payment a user id in the schedule belongs to.
pub(super) fn payment_of_user(user_id: i64) -> i64 {
    PAYMENT_BASE + (user_id - USER_BASE)
}

/// Whether the buyer of `payment_id` blocked the bot / never started it.
pub(super) fn buyer_blocked(dice: &Dice, rates: &FaultRates, payment_id: i64) -> bool {
    dice.chance(rates.buyer_blocked, &[tag("blocked"), payment_id as u64])
}

pub(super) fn buyer_unknown(dice: &Dice, rates: &FaultRates, payment_id: i64) -> bool {
    !buyer_blocked(dice, rates, payment_id)
        && dice.chance(rates.buyer_unknown, &[tag("unknown"), payment_id as u64])
}

/// Whether the buyer of `payment_id` clicks the links they receive.
pub(super) fn buyer_clicks(dice: &Dice, rates: &FaultRates, payment_id: i64) -> bool {
    !dice.chance(
        rates.buyer_never_clicks,
        &[tag("never clicks"), payment_id as u64],
    )
}

/// The invite link in a message's text.
pub(super) fn link_in(text: &str) -> Option<&str> {
    let start = text.find("https://t.me/+")?;
    text[start..].split_whitespace().next()
}

/// Telegram's faults, decided by the seed per (method, payment, attempt).
pub(super) fn telegram_policy(
    chaos: Arc<Chaos>,
    call_timeout: Duration,
) -> impl Fn(&str, &Value) -> Option<FaultKind> + Send + Sync {
    move |method, params| {
        let (dice, rates) = (&chaos.dice, &chaos.rates);
        let payment_id = match method {
            "sendMessage" => payment_of_user(params["chat_id"].as_i64()?),
            "getChatMember" => payment_of_user(params["user_id"].as_i64()?),
            _ => params["name"]
                .as_str()?
                .strip_prefix("payment ")?
                .parse()
                .ok()?,
        };
        if method == "sendMessage" && buyer_blocked(dice, rates, payment_id) {
            chaos.count("telegram 403 bot blocked");
            return Some(FaultKind::Forbidden(
                "Forbidden: bot was blocked by the user".into(),
            ));
        }
        if method == "sendMessage" && buyer_unknown(dice, rates, payment_id) {
            chaos.count("telegram 400 chat not found");
            return Some(FaultKind::BadRequest("Bad Request: chat not found".into()));
        }
        let attempt = chaos.attempt(method, payment_id);
        let roll = dice.unit(&[tag("telegram"), tag(method), payment_id as u64, attempt]);
        let late = call_timeout + Duration::from_millis(300);
        let faults = [
            (rates.telegram_429, "telegram 429", FaultKind::RetryAfter(1)),
            (rates.telegram_500, "telegram 500", FaultKind::ServerError),
            (
                rates.telegram_too_slow,
                "telegram answered too late",
                FaultKind::Delay(late),
            ),
            (
                rates.telegram_slow,
                "telegram slow",
                FaultKind::Delay(call_timeout / 4),
            ),
        ];
        // Consecutive slices of [0, 1): each fault's rate is its width.
        let mut edge = 0.0;
        let fault = faults.into_iter().find_map(|(rate, name, kind)| {
            edge += rate;
            (roll < edge).then_some((name, kind))
        });
        fault.map(|(name, kind)| {
            chaos.count(format!("{name} {method}"));
            kind
        })
    }
}
