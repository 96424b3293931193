//! The adapters around the domain (`telepay-core`): the store backends (DynamoDB,
//! Postgres, SQLite) and the run-time choice between them, the queues (SQS, and the
//! server's queues in its SQL database), the Telegram Bot API through teloxide-core, configuration
//! read once from the environment, the SQS batch response, and telemetry.

pub mod aws;
pub mod aws_http;
pub mod batch;
pub mod cold_start;
pub mod config;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod nowpayments;
#[cfg(all(feature = "sqlite", feature = "postgres"))]
pub mod queues;
pub mod secrets;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod sql;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub mod sql_queue;
pub mod sqs;
pub mod sqs_event;
pub mod store;
pub mod telegram;
pub mod telemetry;

#[cfg(not(any(feature = "dynamodb", feature = "postgres", feature = "sqlite")))]
compile_error!("telepay-shared needs a store backend: enable dynamodb, postgres or sqlite");
