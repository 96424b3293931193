//! `telepay`: the operator's command line. Configuration comes from the same environment
//! variables as the functions (`TELEPAY_STORE_BACKEND`, `DATABASE_URL`, table names, ...).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use telepay_shared::aws::{consumer_timeouts, load_sdk_config};
use telepay_shared::config::ProcessEnvironment;
use telepay_shared::store::StoreConfig;

#[derive(Parser)]
#[command(
    name = "telepay",
    version,
    about = "Operate a TelePay Lambda deployment"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Bring the store's schema up to date: run the SQL migrations (Postgres, SQLite), or
    /// create the DynamoDB tables that are missing. Safe to run again; never run
    /// implicitly by a cold start.
    Migrate,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("telepay: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<String> {
    match command {
        Command::Migrate => {
            let config = StoreConfig::from_env(&ProcessEnvironment)?;
            let sdk = load_sdk_config(consumer_timeouts()).await;
            let store = config.connect(&sdk).await?;
            store.migrate().await?;
            Ok("migrate: the store schema is up to date".into())
        }
    }
}
