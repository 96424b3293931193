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
//! `args` (the flag and the environment), `backends` (the SQLite file, or DynamoDB and
//! SQS), `fakes` (the Bot API and NOWPayments, real or fake), `serve` (the stages, their
//! consumers and the HTTP listener).

mod args;
mod backends;
mod consumer;
mod fakes;
mod gateway;
mod serve;

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use telepay_core::catalog::LiveCatalog;
use telepay_core::signature::IpnSecret;
use telepay_shared::config::{self, Environment, ProcessEnvironment};
use telepay_shared::telemetry;

use args::Args;
use serve::Chain;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init();
    let args = Args::parse();
    let env = ProcessEnvironment;
    let port = args::port(&env)?;
    if !args.demo {
        args::refuse_demo_defaults(&env)?;
    }
    let ipn_secret_text = args::ipn_secret_text(&env, args.demo);
    let secret = IpnSecret::new(ipn_secret_text.clone())?;
    // The catalog: the store's newest version (`telepay catalog apply`), read again as
    // it changes; until one is applied, the environment's directory or the demo one.
    let seed = args::catalog_seed(&env, args.demo)?;
    // Read again every second unless set: a local file costs nothing to read.
    let refresh = match env.get(config::CATALOG_REFRESH_SECONDS) {
        Some(_) => config::catalog_config(&env)?.refresh,
        None => std::time::Duration::from_secs(1),
    };
    // A fake's port: as set (and then required), or PORT+offset (and then a default).
    let fake_port = |variable: &str, offset: u16| -> anyhow::Result<(u16, bool)> {
        match env.get(variable) {
            Some(text) => Ok((text.parse().with_context(|| variable.to_owned())?, true)),
            None => Ok((port.wrapping_add(offset), false)),
        }
    };

    // Without a token, the fake Bot API stands in for Telegram and prints each invite.
    let (telegram, fake) = fakes::telegram(&env, &fake_port, args.demo).await?;
    let addr = SocketAddr::from((args.bind, port));
    let bot = |catalog| async {
        let bot = fakes::bot_settings(&env, port, catalog, &ipn_secret_text, &fake_port, args.demo)
            .await?;
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
        anyhow::Ok(bot)
    };

    if args.aws {
        let backend = backends::aws(&env).await?;
        let catalog = backend.store.live_catalog(refresh, seed).await?;
        let bot = bot(catalog.clone()).await?;
        let settings = args::chain_settings(&env, secret, catalog)?;
        let chain = Chain {
            settings,
            store: backend.store,
            queues: backend.queues,
            admission: backend.admission,
            telegram,
            bot,
        };
        // The payout queue belongs to the payout consumer: left alone here.
        chain.serve(addr, false, &backend.described).await
    } else {
        let backend = backends::sqlite(&env).await?;
        let source = std::sync::Arc::new(backend.store.clone());
        let catalog = LiveCatalog::load(source, refresh, seed).await?;
        let bot = bot(catalog.clone()).await?;
        let settings = args::chain_settings(&env, secret, catalog)?;
        let chain = Chain {
            settings,
            store: backend.store,
            queues: backend.queues,
            admission: backend.admission,
            telegram,
            bot,
        };
        chain.serve(addr, true, &backend.described).await
    }
}
