//! The Telegram Stars rail (issue #28, being built): a tier may also be sold for Stars,
//! paid inside Telegram, into the same subscription ledger as crypto. This module holds
//! the rail's own rules, free of Telegram's types; docs/stars.md has the Bot API facts
//! they rest on, each cited.
//!
//! - `order`: the invoice payload that names the purchase (`s1|…`, at most 128 bytes),
//!   and the payment id a charge is recorded under: a Stars charge becomes a payment
//!   record in the same store, in an id range NOWPayments never uses, derived from its
//!   `telegram_payment_charge_id` alone so that every redelivery of it meets the same
//!   record (one conditional write decides, as for an IPN).
//! - `checkout`: the pre-checkout rule (still the catalog's tier and price, this buyer,
//!   Stars), answered from the catalog alone within Telegram's 10 seconds.
//! - `charge`: a successful Stars payment as that payment record (its price in Stars, no
//!   payout, the charge id kept for a refund).
//! - `ledger`: the bot's Stars ledger (`getStarTransactions`), where the processor checks
//!   that a charge handed to it is real before it records it.
//!
//! Tests: each file's own.

pub mod charge;
pub mod checkout;
pub mod ledger;
pub mod order;

pub use charge::{StarsCharge, StarsPaid, StarsUnvouched};
pub use checkout::{Checkout, CheckoutRefusal, pre_checkout, sold_tier};
pub use ledger::{ChargeInLedger, LedgerEntry, LedgerFlow, LedgerMemory, find_charge};
pub use order::{StarsOrder, StarsOrderError, charge_payment_id, is_stars_payment};

/// The currency of a Stars invoice (`XTR`).
pub const STARS_CURRENCY: &str = "XTR";

/// The only subscription period Telegram allows for a recurring Stars invoice: 30 days.
pub const SUBSCRIPTION_PERIOD_SECONDS: u64 = 2_592_000;

/// Telegram cancels a purchase whose pre-checkout query is not answered within this.
pub const PRE_CHECKOUT_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);
