//! The adapters around the domain (`telepay-core`): the store backends (DynamoDB,
//! Postgres, SQLite) and the run-time choice between them, the queues (SQS, and the
//! local run's SQLite queues), the Telegram Bot API through teloxide-core, configuration
//! read once from the environment, the SQS batch response, and telemetry.

pub mod aws;
pub mod batch;
pub mod config;
pub mod dynamodb;
pub mod local_queue;
pub mod nowpayments;
pub mod queues;
pub mod secrets;
pub mod sql;
pub mod sqs;
pub mod sqs_event;
pub mod store;
pub mod telegram;
pub mod telemetry;
