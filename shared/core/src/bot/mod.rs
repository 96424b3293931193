//! The bot's front door: buyers start a purchase in Telegram (`/start`, a channel's
//! tiers, a NOWPayments invoice behind a Pay button), see their subscriptions
//! (`/status`, with their invite again if they are not in), and only payers get in
//! (`admission`: join requests approved for an active subscription only).
//!
//! - `update`: Telegram's updates, as far as the bot reads them, and commands.
//! - `secret`: the webhook's secret token, checked in constant time.
//! - `front_door`: the webhook's decision, each update handled once.
//! - `menu`, `texts`: what the bot shows and says.
//! - `invoice`: the NOWPayments invoice port and its once-per-window claim.
//! - `admission`: join requests, and the delayed re-check of a payment on its way.
//! - `budget`: each user's reply budget and everyone's invoice budget (no spamming it
//!   into silence).
//! - `paced`: its messages at the spare turns of a server's one pace (`telepay serve`).
//! - `timing`: the bot's clocks (update lease, call timeout, re-check pace).
//!
//! Tests: each file names its own.

pub mod admission;
pub mod budget;
pub mod front_door;
pub mod invoice;
pub mod menu;
pub mod paced;
pub mod secret;
pub mod texts;
pub mod timing;
pub mod update;

pub use admission::{AdmissionRecheck, AdmissionStage, Admitted};
pub use budget::BotBudgets;
pub use front_door::{BotError, BotFrontDoor, BotOutcome, BotRequest, BotSetup, FrontDoorStore};
pub use invoice::{Invoice, InvoiceApi, InvoiceError, InvoiceRequest, InvoiceUrls};
pub use secret::{SECRET_HEADER, WebhookSecret};
pub use texts::BotTexts;
pub use timing::{BotTiming, RECHECK_EVERY, WAIT_FOR_GRANT};
pub use update::{BotEvent, BotUpdate};
