//! `telepay`: the operator's command line. Configuration comes from the same environment
//! variables as the functions (`TELEPAY_STORE_BACKEND`, `DATABASE_URL`, table names,
//! queue URLs, `TELEPAY_IPN_SECRET`, `TELEGRAM_BOT_TOKEN`, the channel directory).
//! Output is JSON (one object per line for lists); errors go to stderr with exit code 1,
//! bad arguments exit 2.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use serde_json::json;
use telepay_core::bot::WebhookSecret;
use telepay_core::clock::system_clock;
use telepay_core::directory::ChannelDirectory;
use telepay_core::ipn::PaymentId;
use telepay_core::operator::{Bot, Operator, within};
use telepay_core::order::UserId;
use telepay_core::payment::Purchase;
use telepay_core::reconcile::Reconciler;
use telepay_core::signature::IpnSecret;
use telepay_core::store::{BotStore, OperatorStore, Resolution, SubscriptionFilter};
use telepay_core::subscription::{LifecycleSettings, Subscription, SubscriptionKey};
use telepay_shared::aws::{consumer_timeouts, load_sdk_config};
use telepay_shared::config::{self, Environment, ProcessEnvironment, StoreConfig};
use telepay_shared::queues::{AnyQueue, QUEUE_NAMES, open_queue};
use telepay_shared::secrets::read_secrets;
use telepay_shared::store::AnyPaymentStore;
use telepay_shared::telegram::{BotApiInviter, BotToken};

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
    /// Payments in processed_payments.
    Payments {
        #[command(subcommand)]
        command: PaymentsCommand,
    },
    /// Finished payments held for a human in payment_reviews.
    Reviews {
        #[command(subcommand)]
        command: ReviewsCommand,
    },
    /// Subscriptions: who has paid time in which private channel, until when.
    Subscriptions {
        #[command(subcommand)]
        command: SubscriptionsCommand,
    },
    /// Dead-letter queues: what failed five times.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// The Telegram bot's webhook: point Telegram at bot-webhook, or see how it goes.
    Bot {
        #[command(subcommand)]
        command: BotCommand,
    },
    /// NOWPayments IPN helpers.
    Ipn {
        #[command(subcommand)]
        command: IpnCommand,
    },
    /// Bring the store's schema up to date: run the SQL migrations (Postgres, SQLite), or
    /// create the missing DynamoDB tables. Safe to run again; never run by a cold start.
    Migrate,
}

#[derive(Subcommand)]
enum PaymentsCommand {
    /// One payment record, as JSON.
    Show { payment_id: i64 },
    /// What needs attention, with age: not processed, invite not sent, invite failed,
    /// held for review.
    Pending {
        /// Only payments older than this many minutes.
        #[arg(long, default_value_t = 0)]
        older_than_minutes: i64,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Queue a stuck or failed invite again (the protocol keeps it exactly once).
    Replay { payment_id: i64 },
    /// Revoke the stored link and send a new one (a user who started the bot later, or
    /// lost the link). Needs TELEGRAM_BOT_TOKEN to revoke.
    Reissue { payment_id: i64 },
    /// Settle a seed row that needs an operator (never processed, no stored purchase):
    /// give it the purchase it lacks (it is then processed and invited like any payment),
    /// or record that it was handled outside this system.
    Resolve {
        payment_id: i64,
        /// The private channel the buyer paid for (negative, as Telegram ids are).
        #[arg(
            long,
            required_unless_present = "already_handled",
            allow_negative_numbers = true
        )]
        private_channel: Option<i64>,
        /// The days bought.
        #[arg(long, required_unless_present = "already_handled")]
        days: Option<u32>,
        /// What was paid (it goes on the payout instruction).
        #[arg(long, required_unless_present = "already_handled")]
        price: Option<f64>,
        #[arg(long, required_unless_present = "already_handled")]
        currency: Option<String>,
        /// Processed and invited outside this system: mark both stages done.
        #[arg(long, conflicts_with_all = ["private_channel", "days", "price", "currency"])]
        already_handled: bool,
    },
    /// Re-queue every payment stuck longer than the given minutes (what the scheduled
    /// reconciler does).
    Reconcile {
        #[arg(long, default_value_t = 15)]
        stuck_after_minutes: u64,
    },
}

#[derive(Subcommand)]
enum ReviewsCommand {
    /// Review entries, newest first.
    List {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Grant a held payment: it becomes an accepted record and is queued.
    Approve { payment_id: i64 },
    /// Do not grant a held payment (refunds are outside this project).
    Reject { payment_id: i64 },
}

#[derive(Subcommand)]
enum SubscriptionsCommand {
    /// One subscription: its paid time, grants, reminders, ending and history.
    Show {
        user_id: i64,
        /// The private channel (negative, as Telegram ids are).
        #[arg(allow_negative_numbers = true)]
        channel_id: i64,
    },
    /// Subscriptions, soonest end first.
    List {
        /// Only those whose paid time ends within this (e.g. 3d, 12h).
        #[arg(long, conflicts_with_all = ["expired", "failed"])]
        expiring_within: Option<String>,
        /// Only those past their end and not removed yet.
        #[arg(long, conflicts_with = "failed")]
        expired: bool,
        /// Only removal_failed: Telegram refused the removal; fix, then `end` retries it.
        #[arg(long)]
        failed: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Add days of access (an operator grant, in the fold like a payment).
    Extend {
        user_id: i64,
        #[arg(allow_negative_numbers = true)]
        channel_id: i64,
        #[arg(long)]
        days: u32,
        /// Why: kept in the subscription's history.
        #[arg(long)]
        reason: String,
    },
    /// End it now: the member is removed (also the retry of a removal_failed).
    End {
        user_id: i64,
        #[arg(allow_negative_numbers = true)]
        channel_id: i64,
        /// Why: kept in the subscription's history.
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Messages waiting in a queue's dead-letter queue.
    List {
        #[arg(value_parser = QUEUE_NAMES)]
        queue: String,
    },
    /// Move them back to the queue for another try.
    Redrive {
        #[arg(value_parser = QUEUE_NAMES)]
        queue: String,
    },
}

#[derive(Subcommand)]
enum IpnCommand {
    /// Print the x-nowpayments-sig of a body file, signed with TELEPAY_IPN_SECRET.
    Sign { file: std::path::PathBuf },
}

#[derive(Subcommand)]
enum BotCommand {
    /// setWebhook: Telegram delivers the bot's updates (message, callback_query,
    /// chat_join_request, my_chat_member) to URL with TELEPAY_BOT_WEBHOOK_SECRET.
    SetWebhook {
        /// The API's bot webhook URL (the stack's BotWebhookUrl output).
        #[arg(long)]
        url: String,
    },
    /// getWebhookInfo: the URL Telegram uses, updates waiting, the last delivery error.
    Info,
    /// Delete the bot's once-records past their keep time (48 h): run daily on
    /// Postgres or SQLite; DynamoDB's TTL does it on its own.
    Forget {
        #[arg(long, default_value_t = 10_000)]
        limit: usize,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("telepay: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The configured store, the operator's workflows over it, and a lazily built SQS client.
struct Shop {
    store: AnyPaymentStore,
    sdk: aws_config::SdkConfig,
}

impl Shop {
    async fn connect() -> anyhow::Result<Self> {
        let sdk = load_sdk_config(consumer_timeouts()).await;
        // DATABASE_URL_SECRET_ARN works as in the functions.
        let env = read_secrets(ProcessEnvironment, &sdk).await?;
        let config = StoreConfig::from_env(&env)?;
        let store = AnyPaymentStore::connect(&config, &sdk).await?;
        Ok(Self { store, sdk })
    }

    fn store(&self) -> &AnyPaymentStore {
        &self.store
    }

    fn operator(&self) -> Operator<'_, AnyPaymentStore> {
        Operator::new(&self.store, system_clock())
    }

    async fn queue(&self, name: &str) -> anyhow::Result<AnyQueue> {
        Ok(open_queue(name, self.store(), &ProcessEnvironment, || {
            aws_sdk_sqs::Client::new(&self.sdk)
        })
        .await?)
    }
}

fn payment_id(id: i64) -> anyhow::Result<PaymentId> {
    Ok(PaymentId::new(id)?)
}

fn print(value: serde_json::Value) {
    println!("{value}");
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Ipn {
            command: IpnCommand::Sign { file },
        } => {
            let secret = IpnSecret::new(ProcessEnvironment.required(config::IPN_SECRET)?)?;
            let body =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            println!("{}", secret.sign(&body));
            Ok(())
        }
        Command::Migrate => {
            Shop::connect().await?.store().migrate().await?;
            println!("migrate: the store schema is up to date");
            Ok(())
        }
        Command::Bot { command } => bot(command).await,
        Command::Payments { command } => payments(command).await,
        Command::Reviews { command } => reviews(command).await,
        Command::Subscriptions { command } => subscriptions(command).await,
        Command::Dlq { command } => {
            let shop = Shop::connect().await?;
            match command {
                DlqCommand::List { queue } => {
                    for letter in shop.queue(&queue).await?.dead_letters(&queue).await? {
                        print(json!({"message_id": letter.message_id, "body": letter.body}));
                    }
                }
                DlqCommand::Redrive { queue } => {
                    let moved = shop.queue(&queue).await?.redrive(&queue).await?;
                    print(json!({"queue": queue, "redriven": moved}));
                }
            }
            Ok(())
        }
    }
}

async fn payments(command: PaymentsCommand) -> anyhow::Result<()> {
    let shop = Shop::connect().await?;
    let operator = shop.operator();
    match command {
        PaymentsCommand::Show { payment_id: id } => {
            print(serde_json::to_value(
                operator.payment(payment_id(id)?).await?,
            )?);
        }
        PaymentsCommand::Pending {
            older_than_minutes,
            limit,
        } => {
            let older_than = Duration::from_secs(older_than_minutes.max(0) as u64 * 60);
            for line in operator.attention(older_than, limit).await? {
                print(serde_json::to_value(line)?);
            }
        }
        PaymentsCommand::Replay { payment_id: id }
        | PaymentsCommand::Reissue { payment_id: id } => {
            let invite_queue = shop.queue("invite").await?;
            let (telegram, directory) = bot_from_env();
            let bot = Bot {
                telegram: telegram.as_ref(),
                directory: directory.as_ref(),
            };
            let (done, revoked) = if matches!(command, PaymentsCommand::Replay { .. }) {
                let revoked = operator.replay(payment_id(id)?, bot, &invite_queue);
                ("replayed", revoked.await?)
            } else {
                let revoked = operator.reissue(payment_id(id)?, bot, &invite_queue);
                ("reissued", revoked.await?)
            };
            let mut answer = json!({"payment_id": id, "revoked": revoked});
            answer[done] = json!(true);
            print(answer);
        }
        PaymentsCommand::Resolve {
            payment_id: id,
            private_channel,
            days,
            price,
            currency,
            already_handled,
        } => {
            let resolution = match (private_channel, days, price, currency) {
                _ if already_handled => Resolution::AlreadyHandled,
                (
                    Some(private_channel_id),
                    Some(subscription_days),
                    Some(price_amount),
                    Some(price_currency),
                ) => Resolution::SupplyPurchase(Purchase {
                    private_channel_id,
                    subscription_days,
                    duration_seconds: Some(u64::from(subscription_days) * 86_400),
                    price_amount,
                    price_currency,
                    outcome_amount: None,
                    outcome_currency: None,
                }),
                _ => anyhow::bail!(
                    "give --private-channel, --days, --price and --currency, or --already-handled"
                ),
            };
            let processor_queue = shop.queue("processor").await?;
            operator
                .resolve(payment_id(id)?, &resolution, &processor_queue)
                .await?;
            print(json!({"payment_id": id, "resolved": true}));
        }
        PaymentsCommand::Reconcile {
            stuck_after_minutes,
        } => {
            let reconciler = Reconciler::new(
                operator.store.clone(),
                shop.queue("processor").await?,
                shop.queue("invite").await?,
                Duration::from_secs(stuck_after_minutes * 60),
                10_000,
            );
            print(serde_json::to_value(reconciler.reconcile().await?)?);
        }
    }
    Ok(())
}

async fn reviews(command: ReviewsCommand) -> anyhow::Result<()> {
    let shop = Shop::connect().await?;
    let operator = shop.operator();
    match command {
        ReviewsCommand::List { limit } => {
            for review in shop.store().list_reviews(limit).await? {
                print(serde_json::to_value(review)?);
            }
        }
        ReviewsCommand::Reject { payment_id: id } => {
            operator.reject(payment_id(id)?).await?;
            print(json!({"payment_id": id, "decision": "rejected"}));
        }
        ReviewsCommand::Approve { payment_id: id } => {
            let directory = config::channel_directory(&ProcessEnvironment)?;
            let processor_queue = shop.queue("processor").await?;
            operator
                .approve(payment_id(id)?, &directory, &processor_queue)
                .await?;
            print(json!({"payment_id": id, "decision": "approved", "queued": true}));
        }
    }
    Ok(())
}

fn subscription_key(user_id: i64, channel_id: i64) -> anyhow::Result<SubscriptionKey> {
    Ok(SubscriptionKey::new(UserId::new(user_id)?, channel_id))
}

/// A subscription as an operator reads it: where it stands now, then the record.
fn subscription_line(
    subscription: &Subscription,
    settings: &LifecycleSettings,
) -> serde_json::Value {
    let now = chrono::Utc::now();
    json!({
        "user_id": subscription.key.user_id.get(),
        "channel_id": subscription.key.channel_id,
        "status": subscription.status(now, settings).as_str(),
        "expires_at": subscription.expires_at,
        "next_due_at": subscription.next_due_at,
        "needs_invite": subscription.needs_invite,
    })
}

async fn subscriptions(command: SubscriptionsCommand) -> anyhow::Result<()> {
    let shop = Shop::connect().await?;
    let operator = shop.operator();
    let settings = config::lifecycle_settings(&ProcessEnvironment)?;
    match command {
        SubscriptionsCommand::Show {
            user_id,
            channel_id,
        } => {
            let subscription = operator
                .subscription(subscription_key(user_id, channel_id)?)
                .await?;
            let mut shown = subscription_line(&subscription, &settings);
            shown["record"] = serde_json::to_value(&subscription)?;
            print(shown);
        }
        SubscriptionsCommand::List {
            expiring_within,
            expired,
            failed,
            limit,
        } => {
            let now = chrono::Utc::now();
            let filter = match (expiring_within, expired, failed) {
                (Some(text), _, _) => SubscriptionFilter::ExpiringWithin {
                    now,
                    within: within(&text).context("--expiring-within")?,
                },
                (None, true, _) => SubscriptionFilter::Expired { now },
                (None, false, true) => SubscriptionFilter::RemovalFailed,
                (None, false, false) => SubscriptionFilter::All,
            };
            for row in operator.subscriptions(filter, limit).await? {
                match row {
                    Ok(subscription) => print(subscription_line(&subscription, &settings)),
                    Err(unreadable) => print(json!({
                        "user_id": unreadable.user_id,
                        "channel_id": unreadable.channel_id,
                        "status": "unreadable",
                        "reason": unreadable.why,
                    })),
                }
            }
        }
        SubscriptionsCommand::Extend {
            user_id,
            channel_id,
            days,
            reason,
        } => {
            let key = subscription_key(user_id, channel_id)?;
            let extended = operator.extend(key, days, &reason, &settings).await?;
            print(subscription_line(&extended, &settings));
        }
        SubscriptionsCommand::End {
            user_id,
            channel_id,
            reason,
        } => {
            let key = subscription_key(user_id, channel_id)?;
            let lifecycle_queue = shop.queue("lifecycle").await?;
            let ended = operator
                .end(key, &reason, &settings, &lifecycle_queue)
                .await?;
            print(subscription_line(&ended, &settings));
        }
    }
    Ok(())
}

/// The bot (needed only to revoke a link) and the directory (needed only for seed rows
/// without a stored purchase), when configured.
async fn bot(command: BotCommand) -> anyhow::Result<()> {
    if let BotCommand::Forget { limit } = command {
        let shop = Shop::connect().await?;
        let forgotten = shop
            .store()
            .forget_expired(chrono::Utc::now(), limit)
            .await?;
        print(json!({"forgotten": forgotten}));
        return Ok(());
    }
    // The token and the webhook secret may live in Secrets Manager, as for the functions.
    let sdk = load_sdk_config(consumer_timeouts()).await;
    let env = read_secrets(ProcessEnvironment, &sdk).await?;
    let token =
        BotToken::new(env.required(config::BOT_TOKEN)?).context("TELEGRAM_BOT_TOKEN is empty")?;
    let api_url = env.get(config::API_URL).filter(|u| !u.is_empty());
    let telegram = BotApiInviter::new(token, api_url.as_deref())?;
    match command {
        BotCommand::SetWebhook { url } => {
            if !url.starts_with("https://") && !url.starts_with("http://127.0.0.1") {
                anyhow::bail!("--url must be an https URL (Telegram delivers only to https)");
            }
            let secret = WebhookSecret::new(env.required(config::BOT_WEBHOOK_SECRET)?)
                .context(config::BOT_WEBHOOK_SECRET)?;
            telegram.set_webhook(&url, secret.expose()).await?;
            print(
                json!({"webhook": url, "allowed_updates": ["message", "callback_query", "chat_join_request", "my_chat_member"]}),
            );
        }
        BotCommand::Forget { .. } => unreachable!("handled above, without the bot"),
        BotCommand::Info => {
            let info = telegram.webhook_info().await?;
            print(json!({
                "url": info.url.map(|u| u.to_string()),
                "pending_update_count": info.pending_update_count,
                "last_error_date": info.last_error_date,
                "last_error_message": info.last_error_message,
                "max_connections": info.max_connections,
                "allowed_updates": info.allowed_updates,
            }));
        }
    }
    Ok(())
}

fn bot_from_env() -> (Option<BotApiInviter>, Option<ChannelDirectory>) {
    (
        telegram_from_env().ok(),
        config::channel_directory(&ProcessEnvironment).ok(),
    )
}

fn telegram_from_env() -> anyhow::Result<BotApiInviter> {
    let env = ProcessEnvironment;
    let token =
        BotToken::new(env.required(config::BOT_TOKEN)?).context("TELEGRAM_BOT_TOKEN is empty")?;
    let api_url = env.get(config::API_URL).filter(|u| !u.is_empty());
    Ok(BotApiInviter::new(token, api_url.as_deref())?)
}
