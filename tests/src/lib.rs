//! Helpers for the integration tests, one job a module: AWS on moto, API Gateway-shaped
//! requests, the chain harness on moto, SQL stores, captured logs and metrics, template.yaml read as text, and the chaos run.

pub mod chaos;
pub mod fresh;
pub mod harness;
pub mod logs;
pub mod metrics;
pub mod moto;
pub mod requests;
pub mod sql;
pub mod template;

pub use fresh::FreshStore;
pub use harness::{BOT_TOKEN, Chain};
pub use logs::LogBuffer;
pub use moto::{
    DynamoDbRequests, MotoResources, WireRequests, moto, queue_with_dlq, refused_endpoint, sdk_at,
    unique,
};
pub use requests::{ipn_request, outcome, sample_with, sign, signed_ipn};
pub use sql::{SEED_DDL, database_url, postgres_store, sqlite_store};
