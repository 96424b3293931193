//! Telegram Stars as the fake models them (docs/stars.md, each fact cited there): invoice
//! links in `XTR` with no provider token, one price, a payload of 1–128 bytes and, for a
//! subscription, the one period Telegram allows (30 days); a buyer's payment goes
//! through a `pre_checkout_query` the bot must answer within 10 seconds, else Telegram
//! cancels it; a payment answered ok is charged and reported as a message with
//! `successful_payment` (a fresh `telegram_payment_charge_id`); a subscription is
//! renewed on the test's clock until it is cancelled (`editUserStarSubscription`) or
//! refunded; `refundStarPayment` refunds a charge once, and a `refunded_payment` message
//! follows. The bot's ledger (`getStarTransactions`) lists every charge as an incoming
//! transaction from its buyer, with its invoice payload, and every refund as an
//! outgoing one under the charge's own id, oldest first ("in chronological order").
//! Refusals are 400s in Telegram's style; their exact words are the fake's.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Telegram's answer window for a pre-checkout query.
pub const PRE_CHECKOUT_WINDOW: Duration = Duration::from_secs(10);
/// The only subscription period Telegram allows.
pub const SUBSCRIPTION_PERIOD: i64 = 2_592_000;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StarsInvoiceState {
    pub(crate) title: String,
    pub(crate) payload: String,
    pub(crate) stars: u32,
    pub(crate) recurring: bool,
}

#[derive(Debug, Clone)]
struct PendingCheckout {
    asked_at: Instant,
    answer: Option<Result<(), String>>,
}

/// A charge Telegram made, as a test reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StarCharge {
    pub charge_id: String,
    pub user_id: i64,
    pub payload: String,
    pub stars: u32,
    /// Part of a subscription; `first_charge_id` names its first charge (its own id for
    /// the first).
    pub recurring: bool,
    pub first_charge_id: String,
    /// Unix seconds the subscription's period ends (recurring charges only).
    pub subscription_expires_at: Option<i64>,
    pub refunded: bool,
    /// The subscription was cancelled (on its first charge).
    pub canceled: bool,
    /// When Telegram charged it, Unix seconds (the ledger's `date`).
    pub paid_at: i64,
}

/// How a buyer's payment went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StarsCheckout {
    /// Charged: the charge's id.
    Paid(String),
    /// The bot refused at pre-checkout, with the message Telegram showed.
    Refused(String),
    /// The bot did not answer within 10 seconds: Telegram cancelled it.
    Unanswered,
    /// No such invoice link.
    UnknownInvoice,
}

#[derive(Debug, Default)]
pub(crate) struct Payments {
    made: u64,
    invoices: HashMap<String, StarsInvoiceState>,
    checkouts: HashMap<String, PendingCheckout>,
    pub(crate) charges: Vec<StarCharge>,
    /// `getStarTransactions`' answer, oldest first.
    ledger: Vec<Value>,
}

fn bad(text: &str) -> Option<String> {
    Some(format!("Bad Request: {text}"))
}

impl Payments {
    fn next(&mut self) -> u64 {
        self.made += 1;
        self.made
    }

    /// Why Telegram refuses a payments call, if it does.
    pub(crate) fn refusal(&self, method: &str, params: &Value) -> Option<String> {
        match method {
            "createInvoiceLink" => {
                let text_len = |name: &str| params[name].as_str().map_or(0, |t| t.chars().count());
                let payload_len = params["payload"].as_str().map_or(0, str::len);
                let prices = params["prices"].as_array().cloned().unwrap_or_default();
                if params["currency"].as_str() != Some("XTR") {
                    return bad(
                        "the fake makes Telegram Stars invoices only: currency must be XTR",
                    );
                }
                if params["provider_token"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty())
                {
                    return bad("provider_token must be empty for payments in Telegram Stars");
                }
                if prices.len() != 1 || prices[0]["amount"].as_u64().is_none_or(|a| a == 0) {
                    return bad("Telegram Stars invoices have exactly one price, in whole Stars");
                }
                if !(1..=32).contains(&text_len("title"))
                    || !(1..=255).contains(&text_len("description"))
                    || !(1..=128).contains(&payload_len)
                {
                    return bad(
                        "INVOICE_PAYLOAD_INVALID or a title/description of the wrong length",
                    );
                }
                let period = params.get("subscription_period").and_then(Value::as_i64);
                if period.is_some_and(|p| p != SUBSCRIPTION_PERIOD) {
                    return bad("SUBSCRIPTION_PERIOD_INVALID");
                }
                None
            }
            "answerPreCheckoutQuery" => {
                let id = params["pre_checkout_query_id"].as_str().unwrap_or_default();
                let open = self.checkouts.get(id).is_some_and(|c| {
                    c.answer.is_none() && c.asked_at.elapsed() <= PRE_CHECKOUT_WINDOW
                });
                if !open {
                    return bad(
                        "query is too old and response timeout expired or query ID is invalid",
                    );
                }
                let ok = params["ok"].as_bool().unwrap_or(false);
                let message = params["error_message"].as_str().unwrap_or_default();
                (!ok && message.is_empty()).then(|| "Bad Request: error_message is empty".into())
            }
            "getStarTransactions" => {
                let limit = params.get("limit").and_then(Value::as_i64).unwrap_or(100);
                (!(1..=100).contains(&limit))
                    .then(|| "Bad Request: limit must be between 1 and 100".to_owned())
            }
            "refundStarPayment" | "editUserStarSubscription" => {
                let charge = self.charge(params);
                match charge {
                    None => bad("CHARGE_NOT_FOUND"),
                    Some(c) if method == "refundStarPayment" && c.refunded => {
                        bad("CHARGE_ALREADY_REFUNDED")
                    }
                    Some(c) if method == "editUserStarSubscription" && !c.recurring => {
                        bad("this payment is not a subscription")
                    }
                    Some(_) => None,
                }
            }
            _ => None,
        }
    }

    fn charge(&self, params: &Value) -> Option<&StarCharge> {
        let id = params["telegram_payment_charge_id"].as_str()?;
        let user = params["user_id"].as_i64()?;
        self.charges
            .iter()
            .find(|c| c.charge_id == id && c.user_id == user)
    }

    /// What Telegram does for a payments call it took (after [`Self::refusal`]), and
    /// the updates it sends because of it.
    pub(crate) fn act(&mut self, method: &str, params: &Value) -> Option<(Value, Vec<Value>)> {
        match method {
            "createInvoiceLink" => {
                let url = format!("https://t.me/$fakeinvoice{:06}", self.next());
                let invoice = StarsInvoiceState {
                    title: params["title"].as_str().unwrap_or_default().to_owned(),
                    payload: params["payload"].as_str().unwrap_or_default().to_owned(),
                    stars: params["prices"][0]["amount"].as_u64().unwrap_or_default() as u32,
                    recurring: params
                        .get("subscription_period")
                        .is_some_and(|p| !p.is_null()),
                };
                self.invoices.insert(url.clone(), invoice);
                Some((json!(url), Vec::new()))
            }
            "answerPreCheckoutQuery" => {
                let id = params["pre_checkout_query_id"].as_str()?;
                let answer = if params["ok"].as_bool().unwrap_or(false) {
                    Ok(())
                } else {
                    Err(params["error_message"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned())
                };
                self.checkouts.get_mut(id)?.answer = Some(answer);
                Some((json!(true), Vec::new()))
            }
            "getStarTransactions" => {
                let offset = params.get("offset").and_then(Value::as_u64).unwrap_or(0) as usize;
                let limit = params.get("limit").and_then(Value::as_u64).unwrap_or(100) as usize;
                let page: Vec<Value> = self
                    .ledger
                    .iter()
                    .skip(offset)
                    .take(limit)
                    .cloned()
                    .collect();
                Some((json!({ "transactions": page }), Vec::new()))
            }
            "refundStarPayment" => {
                let id = params["telegram_payment_charge_id"].as_str()?.to_owned();
                let charge = self.charges.iter_mut().find(|c| c.charge_id == id)?;
                charge.refunded = true;
                let refund = json!({
                    "id": charge.charge_id, "amount": charge.stars,
                    "date": crate::params::unix_ms() / 1000,
                    "receiver": partner(charge.user_id, &charge.payload, false),
                });
                self.ledger.push(refund);
                let refunded = json!({
                    "currency": "XTR", "total_amount": charge.stars,
                    "invoice_payload": charge.payload, "telegram_payment_charge_id": charge.charge_id,
                });
                let update = service_message(charge.user_id, "refunded_payment", refunded);
                Some((json!(true), vec![update]))
            }
            "editUserStarSubscription" => {
                let id = params["telegram_payment_charge_id"].as_str()?.to_owned();
                let cancel = params["is_canceled"].as_bool().unwrap_or(false);
                let first = self
                    .charges
                    .iter()
                    .find(|c| c.charge_id == id)?
                    .first_charge_id
                    .clone();
                for charge in self
                    .charges
                    .iter_mut()
                    .filter(|c| c.first_charge_id == first)
                {
                    charge.canceled = cancel;
                }
                Some((json!(true), Vec::new()))
            }
            _ => None,
        }
    }

    /// A buyer confirms a payment by `link`: the pre-checkout query the bot is asked.
    pub(crate) fn ask(&mut self, user_id: i64, link: &str) -> Option<(String, Value)> {
        let invoice = self.invoices.get(link)?.clone();
        let id = format!("pcq{}", self.next());
        self.checkouts.insert(
            id.clone(),
            PendingCheckout {
                asked_at: Instant::now(),
                answer: None,
            },
        );
        let query = json!({"pre_checkout_query": {
            "id": id, "from": buyer(user_id), "currency": "XTR",
            "total_amount": invoice.stars, "invoice_payload": invoice.payload,
        }});
        Some((id, query))
    }

    /// The bot's answer to a query, once it came in time.
    pub(crate) fn answer(&self, query_id: &str) -> Option<Result<(), String>> {
        self.checkouts.get(query_id)?.answer.clone()
    }

    /// Charges `user_id` for `link` (the first charge of a subscription, or a one-time
    /// payment): the charge and its `successful_payment` message.
    pub(crate) fn charge_first(
        &mut self,
        user_id: i64,
        link: &str,
        now: i64,
    ) -> Option<(String, Value)> {
        let invoice = self.invoices.get(link)?.clone();
        let id = format!("stxfake{:08}", self.next());
        let expires = invoice.recurring.then_some(now + SUBSCRIPTION_PERIOD);
        self.record_incoming(
            &id,
            user_id,
            &invoice.payload,
            invoice.stars,
            invoice.recurring,
            now,
        );
        self.charges.push(StarCharge {
            charge_id: id.clone(),
            user_id,
            payload: invoice.payload.clone(),
            stars: invoice.stars,
            recurring: invoice.recurring,
            first_charge_id: id.clone(),
            subscription_expires_at: expires,
            refunded: false,
            canceled: false,
            paid_at: now,
        });
        let paid = successful_payment(
            &id,
            &invoice.payload,
            invoice.stars,
            invoice.recurring,
            invoice.recurring,
            expires,
        );
        Some((
            id.clone(),
            service_message(user_id, "successful_payment", paid),
        ))
    }

    /// Telegram renews the subscription begun by `first_charge_id` (its period ended on
    /// the test's clock): a new charge, unless it was cancelled or refunded.
    pub(crate) fn renew(&mut self, first_charge_id: &str) -> Option<(String, Value)> {
        let last = self
            .charges
            .iter()
            .rfind(|c| c.first_charge_id == first_charge_id && c.recurring)?
            .clone();
        if last.canceled
            || self
                .charges
                .iter()
                .any(|c| c.first_charge_id == first_charge_id && c.refunded)
        {
            return None;
        }
        let id = format!("stxfake{:08}", self.next());
        let expires = last
            .subscription_expires_at
            .map(|at| at + SUBSCRIPTION_PERIOD);
        let now = crate::params::unix_ms() / 1000;
        self.record_incoming(&id, last.user_id, &last.payload, last.stars, true, now);
        self.charges.push(StarCharge {
            charge_id: id.clone(),
            subscription_expires_at: expires,
            paid_at: now,
            ..last.clone()
        });
        let paid = successful_payment(&id, &last.payload, last.stars, true, false, expires);
        Some((
            id,
            service_message(last.user_id, "successful_payment", paid),
        ))
    }
}

impl Payments {
    /// The charge as the bot's ledger lists it: an incoming transaction from the buyer.
    fn record_incoming(
        &mut self,
        id: &str,
        user_id: i64,
        payload: &str,
        stars: u32,
        recurring: bool,
        date: i64,
    ) {
        self.ledger.push(json!({
            "id": id, "amount": stars, "date": date,
            "source": partner(user_id, payload, recurring),
        }));
    }
}

/// A `TransactionPartnerUser` paying (or refunded) an invoice.
fn partner(user_id: i64, payload: &str, recurring: bool) -> Value {
    let mut partner = json!({
        "type": "user", "transaction_type": "invoice_payment",
        "user": buyer(user_id), "invoice_payload": payload,
    });
    if recurring {
        partner["subscription_period"] = json!(SUBSCRIPTION_PERIOD);
    }
    partner
}

fn buyer(user_id: i64) -> Value {
    json!({"id": user_id, "is_bot": false, "first_name": "Buyer"})
}

fn successful_payment(
    charge_id: &str,
    payload: &str,
    stars: u32,
    recurring: bool,
    first: bool,
    expires: Option<i64>,
) -> Value {
    let mut paid = json!({
        "currency": "XTR", "total_amount": stars, "invoice_payload": payload,
        "telegram_payment_charge_id": charge_id, "provider_payment_charge_id": "",
    });
    if recurring {
        paid["is_recurring"] = json!(true);
        paid["subscription_expiration_date"] = json!(expires);
    }
    if first && recurring {
        paid["is_first_recurring"] = json!(true);
    }
    paid
}

/// A service message in the buyer's private chat with the bot.
fn service_message(user_id: i64, field: &str, body: Value) -> Value {
    let mut message = json!({
        "message_id": crate::params::fastish_id(), "date": crate::params::unix_ms() / 1000,
        "chat": {"id": user_id, "type": "private", "first_name": "Buyer"},
        "from": buyer(user_id),
    });
    message[field] = body;
    json!({ "message": message })
}
