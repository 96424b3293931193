//! `telepay-local`: `make run`'s binary, the same server as `telepay serve`
//! (`telepay_local::run`).

use clap::Parser;
use telepay_local::Args;
use telepay_shared::telemetry;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    telepay_local::run(Args::parse()).await
}
