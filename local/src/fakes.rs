//! The local run's counterparts: the real Bot API and NOWPayments when their keys are
//! set, else the in-repo fakes (the fake Bot API prints each invite it would send; the
//! fake NOWPayments' pay action sends signed IPNs back to this run), each on PORT+1 and
//! PORT+2 unless set, and anywhere free when that default is taken.

use std::net::SocketAddr;

use anyhow::Context;
use fake_bot_api::FakeBotApi;
use fake_nowpayments::FakeNowPayments;
use telepay_core::bot::{BotSetup, BotTiming, InvoiceUrls, WebhookSecret};
use telepay_core::catalog::LiveCatalog;
use telepay_shared::config::{self, Environment, ProcessEnvironment};
use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsInvoices};
use telepay_shared::telegram::{BotToken, TelegramBotApi};
use tracing::info;

/// The bot's demo webhook secret when `TELEPAY_BOT_WEBHOOK_SECRET` is not set.
/// The demo's bot webhook secret (`make run`; the sample events carry it).
pub const DEMO_WEBHOOK_SECRET: &str = "local-demo-webhook-secret-0123456789";
const DEMO_NOWPAYMENTS_KEY: &str = "local-demo-nowpayments-key";

/// A fake's port by its variable and its offset from PORT: (port, set explicitly).
pub type FakePort<'a> = dyn Fn(&str, u16) -> anyhow::Result<(u16, bool)> + 'a;

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The Bot API adapter: the real Bot API with `TELEGRAM_BOT_TOKEN`, else the fake, paced
/// as Telegram paces a bot.
pub async fn telegram(
    env: &ProcessEnvironment,
    fake_port: &FakePort<'_>,
    demo: bool,
) -> anyhow::Result<(TelegramBotApi, Option<FakeBotApi>)> {
    Ok(match env.get(config::BOT_TOKEN).and_then(BotToken::new) {
        Some(token) => {
            let api_url = env.get(config::API_URL).filter(|u| !u.is_empty());
            (TelegramBotApi::new(token, api_url.as_deref())?, None)
        }
        None if !demo => anyhow::bail!("{} is not set", config::BOT_TOKEN),
        None => {
            let (wanted, explicit) = fake_port("FAKE_TELEGRAM_PORT", 1)?;
            let start = |port| FakeBotApi::start_on(loopback(port), "local-demo-token", true);
            let fake = match start(wanted).await {
                Ok(fake) => fake,
                // The default port is taken: anywhere will do for `make run` alone.
                Err(_) if !explicit => {
                    let fake = start(0).await.context("starting the fake Bot API")?;
                    println!(
                        "port {wanted} is busy: FAKE_TELEGRAM_PORT={} for make demo-buy",
                        fake.port()
                    );
                    fake
                }
                Err(e) => {
                    return Err(e).context(format!("starting the fake Bot API on port {wanted}"));
                }
            };
            info!(url = %fake.url(), "TELEGRAM_BOT_TOKEN not set: invites go to the fake Bot API and are printed");
            // As Telegram does: about 30 messages a second, one per second per chat.
            fake.enforce_pace();
            let token = BotToken::new("local-demo-token").expect("not empty");
            (TelegramBotApi::new(token, Some(&fake.url()))?, Some(fake))
        }
    })
}

/// The bot's settings and its invoice API (the real one, or the fake NOWPayments).
pub struct LocalBot {
    pub setup: BotSetup,
    pub invoices: NowPaymentsInvoices,
    /// Kept running while the local run lives.
    pub _fake_nowpayments: Option<FakeNowPayments>,
}

pub async fn bot_settings(
    env: &ProcessEnvironment,
    port: u16,
    catalog: LiveCatalog,
    ipn_secret: &str,
    fake_port: &FakePort<'_>,
    demo: bool,
    polling: bool,
) -> anyhow::Result<LocalBot> {
    let secret = match env
        .get(config::BOT_WEBHOOK_SECRET)
        .filter(|s| !s.trim().is_empty())
    {
        Some(secret) => WebhookSecret::new(secret).context(config::BOT_WEBHOOK_SECRET)?,
        // Polling: no webhook to guard, so a secret nobody knows closes /telegram-webhook.
        None if polling => WebhookSecret::new(uuid::Uuid::new_v4().simple().to_string())
            .expect("hex is a valid secret"),
        None if !demo => anyhow::bail!("{} is not set", config::BOT_WEBHOOK_SECRET),
        None => WebhookSecret::new(DEMO_WEBHOOK_SECRET).expect("a valid demo secret"),
    };
    if !demo && env.get(config::NOWPAYMENTS_API_KEY).is_none() {
        anyhow::bail!("{} is not set", config::NOWPAYMENTS_API_KEY);
    }
    let (invoices, fake) = match env
        .get(config::NOWPAYMENTS_API_KEY)
        .and_then(NowPaymentsApiKey::new)
    {
        Some(key) => {
            let url = env
                .get(config::NOWPAYMENTS_API_URL)
                .filter(|u| !u.is_empty());
            (NowPaymentsInvoices::new(key, url.as_deref())?, None)
        }
        None => {
            let (wanted, explicit) = fake_port("FAKE_NOWPAYMENTS_PORT", 2)?;
            let start =
                |port| FakeNowPayments::start_on(loopback(port), DEMO_NOWPAYMENTS_KEY, ipn_secret);
            let fake = match start(wanted).await {
                Ok(fake) => fake,
                Err(_) if !explicit => {
                    let fake = start(0).await.context("starting the fake NOWPayments")?;
                    println!(
                        "port {wanted} is busy: FAKE_NOWPAYMENTS_PORT={} for make demo-buy",
                        fake.port()
                    );
                    fake
                }
                Err(e) => {
                    return Err(e)
                        .context(format!("starting the fake NOWPayments on port {wanted}"));
                }
            };
            println!(
                "fake NOWPayments on {} (pay an invoice: POST /fake/pay/<invoice id>)",
                fake.url()
            );
            let key = NowPaymentsApiKey::new(DEMO_NOWPAYMENTS_KEY).expect("not empty");
            (
                NowPaymentsInvoices::new(key, Some(&fake.url()))?,
                Some(fake),
            )
        }
    };
    let ipn_callback_url = match env
        .get(config::IPN_CALLBACK_URL)
        .filter(|u| !u.trim().is_empty())
    {
        Some(url) => url,
        None if !demo => anyhow::bail!("{} is not set", config::IPN_CALLBACK_URL),
        None => format!("http://127.0.0.1:{port}/np-webhook"),
    };
    Ok(LocalBot {
        setup: BotSetup {
            secret,
            catalog,
            settings: config::lifecycle_settings(env)?,
            urls: InvoiceUrls {
                ipn_callback_url,
                success_url: env
                    .get(config::PAYMENT_SUCCESS_URL)
                    .filter(|u| !u.trim().is_empty()),
            },
            timing: BotTiming::default(),
            budgets: config::bot_budgets(env)?,
        },
        invoices,
        _fake_nowpayments: fake,
    })
}
