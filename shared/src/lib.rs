//! What the TelePay functions share beyond the domain: the AWS adapters (DynamoDB store,
//! SQS queue), configuration read once from the environment, and telemetry.
//! The domain itself is re-exported from `telepay-core`.

pub use telepay_core as core;

pub mod aws;
pub mod batch;
pub mod config;
pub mod dynamodb;
pub mod local_queue;
pub mod sql;
pub mod sqs;
pub mod sqs_event;
pub mod store;
pub mod telegram;
pub mod telemetry;
