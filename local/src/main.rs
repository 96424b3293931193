//! `telepay-local`: the whole chain in one process, hosting the three handlers exactly as
//! Lambda calls them. By default everything is embedded: the SQLite store and queues in
//! one file (a restart loses no payment and no queued message) and, without
//! `TELEGRAM_BOT_TOKEN`, the in-repo fake Bot API, which prints each invite it would send.
//! With `--aws`: DynamoDB and SQS through the normal SDK configuration
//! (`AWS_ENDPOINT_URL` for moto), consumed as the Lambda event source mapping does.
//!
//! The bot is served too (`POST /telegram-webhook`): with the fake Bot API it is set as
//! the fake's webhook, so a user's actions on the fake (its `/fake/user/...` routes, as
//! `make demo-buy` uses them) reach the bot as Telegram's updates would; without
//! `TELEPAY_NOWPAYMENTS_API_KEY` invoices come from the in-repo fake NOWPayments, whose
//! pay action sends the signed IPNs back to this run's `/np-webhook`.
//!
//! `args` (the flag and the environment), `fakes` (the Bot API and NOWPayments, real or
//! fake), `serve` (the stages, their consumers and the HTTP listener).

mod args;
mod consumer;
mod fakes;
mod gateway;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use telepay_core::chain::StageQueues;
use telepay_core::signature::IpnSecret;
use telepay_shared::aws::{consumer_timeouts, load_sdk_config};
use telepay_shared::config::{self, Environment, ProcessEnvironment, StoreConfig};
use telepay_shared::local_queue::{LocalQueue, create_local_queues};
use telepay_shared::sql::SqliteStore;
use telepay_shared::sqs::SqsQueue;
use telepay_shared::store::AnyStore;
use telepay_shared::telemetry;

use args::Args;
use serve::Chain;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let args = Args::parse();
    let env = ProcessEnvironment;
    let port = args::port(&env)?;
    let ipn_secret_text = args::ipn_secret_text(&env);
    let secret = IpnSecret::new(ipn_secret_text.clone())?;
    let directory = args::directory(&env)?;
    // A fake's port: as set (and then required), or PORT+offset (and then a default).
    let fake_port = |variable: &str, offset: u16| -> anyhow::Result<(u16, bool)> {
        match env.get(variable) {
            Some(text) => Ok((text.parse().with_context(|| variable.to_owned())?, true)),
            None => Ok((port.wrapping_add(offset), false)),
        }
    };

    // Without a token, the fake Bot API stands in for Telegram and prints each invite.
    let (telegram, fake) = fakes::telegram(&env, &fake_port).await?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let bot =
        fakes::bot_settings(&env, port, directory.clone(), &ipn_secret_text, &fake_port).await?;
    if let Some(fake) = &fake {
        // As `telepay bot set-webhook` does against Telegram.
        telegram
            .set_webhook(
                &format!("http://{addr}/telegram-webhook"),
                bot.setup.secret.expose(),
            )
            .await?;
        println!(
            "fake Telegram on {} (a user's actions: POST /fake/user/<id>/write, /press, /join)",
            fake.url()
        );
    }

    if args.aws {
        let store_config = StoreConfig::for_bot_from_env(&env)?;
        let sdk = load_sdk_config(consumer_timeouts()).await;
        let store = AnyStore::connect(&store_config, &sdk).await?;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue = |variable: &'static str| {
            env.required(variable)
                .map(|url| SqsQueue::new(sqs.clone(), url))
        };
        let queues = StageQueues {
            processor: queue(config::PROCESSOR_QUEUE_URL)?,
            invite: queue(config::INVITE_QUEUE_URL)?,
            payout: queue(config::PAYOUT_QUEUE_URL)?,
            lifecycle: queue(config::LIFECYCLE_QUEUE_URL)?,
        };
        let chain = Chain {
            settings: args::chain_settings(&env, secret, directory)?,
            store,
            queues,
            admission: queue(config::ADMISSION_QUEUE_URL)?,
            telegram,
            bot,
        };
        // The payout queue belongs to the payout consumer: left alone here.
        chain.serve(addr, false, "DynamoDB + SQS (--aws)").await
    } else {
        let path = PathBuf::from(
            env.get("TELEPAY_LOCAL_DB")
                .unwrap_or_else(|| ".telepay/local.sqlite".into()),
        );
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let store = SqliteStore::open(&path).await?;
        // A local file of our own: bringing it up to date at start is what a user wants.
        store.migrate().await?;
        create_local_queues(store.pool()).await?;
        let queue = |name| LocalQueue::named(store.pool().clone(), name).expect("a local queue");
        let queues = StageQueues {
            processor: queue("processor"),
            invite: queue("invite"),
            payout: queue("payout"),
            lifecycle: queue("lifecycle"),
        };
        let admission = queue("admission");
        let chain = Chain {
            settings: args::chain_settings(&env, secret, directory)?,
            store,
            queues,
            admission,
            telegram,
            bot,
        };
        chain
            .serve(addr, true, &format!("SQLite file {}", path.display()))
            .await
    }
}
