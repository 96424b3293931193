//! The payment domain of TelePay Lambda, free of AWS, Telegram and SQL: it builds in
//! seconds for tests, benchmarks and fuzzing. Adapters live in `telepay-shared`.

pub mod access;
pub mod bot;
pub mod catalog;
pub mod chain;
pub mod clock;
pub mod directory;
pub mod doctor;
pub mod fixtures;
pub mod held;
pub mod invite;
pub mod ipn;
pub mod metrics;
pub mod operator;
pub mod order;
pub mod owner;
pub mod payment;
pub mod polling;
pub mod processor;
pub mod queue;
pub mod reconcile;
pub mod recovery;
pub mod review;
pub mod rotation;
pub mod setup;
pub mod signature;
pub mod stars;
pub mod store;
pub mod subscription;
pub mod telegram;
pub mod topup;
pub mod webhook;
