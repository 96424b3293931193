//! `telepay`: the operator's command line. Configuration comes from the same environment
//! variables as the functions (`TELEPAY_STORE_BACKEND`, `DATABASE_URL`, table names,
//! queue URLs, `TELEPAY_IPN_SECRET`, `TELEGRAM_BOT_TOKEN`, the channel directory).
//! Output is a table on a terminal, JSON lines otherwise or with `--json` (`output.rs`);
//! errors go to stderr with exit code 1,
//! bad arguments exit 2.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use telepay_core::bot::WebhookSecret;
use telepay_core::catalog::{Applied, ApplyError, Catalog};
use telepay_core::clock::system_clock;
use telepay_core::ipn::PaymentId;
use telepay_core::operator::{LinkRevoker, Operator, within};
use telepay_core::order::UserId;
use telepay_core::payment::Purchase;
use telepay_core::reconcile::Reconciler;
use telepay_core::recovery::{PaymentRecovery, RecoverySettings};
use telepay_core::signature::IpnSecret;
use telepay_core::store::{
    BotStore, CatalogStore, HeldNoticeStore, OperatorStore, PurchasePartsStore, Resolution,
    SubscriptionFilter,
};
use telepay_core::subscription::{LifecycleSettings, Subscription, SubscriptionKey};
use telepay_core::webhook::PaymentIngress;
use telepay_shared::aws::{consumer_timeouts, load_sdk_config};
use telepay_shared::config::{self, Environment, ProcessEnvironment, StoreConfig};
use telepay_shared::nowpayments::{NowPaymentsApiKey, NowPaymentsPayments};
use telepay_shared::queues::{AnyQueue, open_queue};
use telepay_shared::secrets::read_secrets;
use telepay_shared::store::AnyStore;
use telepay_shared::telegram::{BotToken, TelegramBotApi};

mod alarms;
mod args;
mod catalog;
mod doctor;
mod init;
mod output;
mod stack;

use args::*;
use catalog::{catalog_in_force, offer_lines, read_catalog_file, refused};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(stack) = &cli.stack {
        match stack::variables(stack) {
            Ok(variables) => {
                for (name, value) in variables {
                    if std::env::var_os(&name).is_none() {
                        // SAFETY: nothing else runs yet (the runtime starts below), so no
                        // thread reads the environment while it is written.
                        unsafe { std::env::set_var(name, value) };
                    }
                }
            }
            Err(error) => {
                eprintln!("telepay: {error:#}");
                return ExitCode::FAILURE;
            }
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts")
        .block_on(run_cli(cli))
}

async fn run_cli(cli: Cli) -> ExitCode {
    output::choose(cli.json);
    let json = cli.json;
    let ran = run(cli.command, json).await;
    output::finish();
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("telepay: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The configured store, the operator's workflows over it, and a lazily built SQS client.
struct Deployment {
    store: AnyStore,
    sdk: aws_config::SdkConfig,
}

impl Deployment {
    async fn connect() -> anyhow::Result<Self> {
        let sdk = load_sdk_config(consumer_timeouts()).await;
        // DATABASE_URL_SECRET_ARN works as in the functions.
        let env = read_secrets(ProcessEnvironment, &sdk).await?;
        let config = StoreConfig::from_env(&env)?;
        let store = AnyStore::connect(&config, &sdk).await?;
        Ok(Self { store, sdk })
    }

    fn store(&self) -> &AnyStore {
        &self.store
    }

    /// The catalog in force: the store's newest version, else the environment's
    /// directory (a store without a catalog yet).
    async fn catalog(&self) -> anyhow::Result<Catalog> {
        catalog_in_force(&self.store).await
    }

    fn operator(&self) -> Operator<'_, AnyStore> {
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
    output::print(value);
}

async fn run(command: Command, json: bool) -> anyhow::Result<()> {
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
        Command::Serve(args) => {
            telepay_shared::telemetry::init();
            telepay_local::run(*args).await
        }
        Command::Backup { to } => {
            let deployment = Deployment::connect().await?;
            let AnyStore::Sqlite(store) = deployment.store() else {
                anyhow::bail!(
                    "telepay backup copies a SQLite store; for Postgres use pg_dump -Fc (docs/self-hosting.md), for DynamoDB its point-in-time recovery"
                );
            };
            store.backup_to(&to).await?;
            println!(
                "backup: {} written (restore: stop the server, put it in place of the store's file)",
                to.display()
            );
            Ok(())
        }
        Command::Migrate => {
            Deployment::connect().await?.store().migrate().await?;
            println!("migrate: the store schema is up to date");
            Ok(())
        }
        Command::Bot { command } => bot(command).await,
        Command::Catalog { command } => catalog(command).await,
        Command::Doctor => doctor::run(json).await,
        Command::Init(answers) => init::run(*answers).await,
        Command::Payments { command } => payments(command).await,
        Command::Reviews { command } => reviews(command).await,
        Command::Subscriptions { command } => subscriptions(command).await,
        Command::Dlq { command } => {
            let deployment = Deployment::connect().await?;
            match command {
                DlqCommand::List { queue } => {
                    for letter in deployment.queue(&queue).await?.dead_letters(&queue).await? {
                        print(json!({"message_id": letter.message_id, "body": letter.body}));
                    }
                }
                DlqCommand::Redrive { queue } => {
                    let moved = deployment.queue(&queue).await?.redrive(&queue).await?;
                    print(json!({"queue": queue, "redriven": moved}));
                }
            }
            Ok(())
        }
    }
}

async fn payments(command: PaymentsCommand) -> anyhow::Result<()> {
    let deployment = Deployment::connect().await?;
    let operator = deployment.operator();
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
            let invite_queue = deployment.queue("invite").await?;
            let telegram = telegram_from_env().ok();
            let catalog = deployment.catalog().await.ok();
            let bot = LinkRevoker {
                telegram: telegram.as_ref(),
                directory: catalog.as_ref().map(|c| &c.directory),
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
                ) => Resolution::SupplyPurchase(Purchase::of_days(
                    private_channel_id,
                    subscription_days,
                    price_amount,
                    price_currency,
                )),
                _ => anyhow::bail!(
                    "give --private-channel, --days, --price and --currency, or --already-handled"
                ),
            };
            let processor_queue = deployment.queue("processor").await?;
            operator
                .resolve(payment_id(id)?, &resolution, &processor_queue)
                .await?;
            print(json!({"payment_id": id, "resolved": true}));
        }
        PaymentsCommand::Recover { payment_id: id } => {
            let env = read_secrets(ProcessEnvironment, &deployment.sdk).await?;
            let key = NowPaymentsApiKey::new(env.required(config::NOWPAYMENTS_API_KEY)?)
                .context("TELEPAY_NOWPAYMENTS_API_KEY is empty")?;
            let api =
                NowPaymentsPayments::new(key, env.get(config::NOWPAYMENTS_API_URL).as_deref())?;
            let ingress = PaymentIngress::new(
                deployment.catalog().await?,
                operator.store.clone(),
                deployment.queue("processor").await?,
            )
            .with_notice_queue(deployment.queue("invite").await?)
            .with_lifecycle(config::lifecycle_settings(&env)?);
            let recovery = PaymentRecovery::new(ingress, api, RecoverySettings::default());
            let found = recovery.recover_now(payment_id(id)?).await.context(
                "NOWPayments could not say; check TELEPAY_NOWPAYMENTS_API_KEY and the payment id",
            )?;
            print(serde_json::to_value(found)?);
        }
        PaymentsCommand::Refund { payment_id: id } => {
            let telegram = telegram_from_env()
                .context("a Stars refund asks Telegram: set TELEGRAM_BOT_TOKEN")?;
            let env = read_secrets(ProcessEnvironment, &deployment.sdk).await?;
            let refunded = operator
                .refund_stars(
                    payment_id(id)?,
                    &telegram,
                    &config::lifecycle_settings(&env)?,
                )
                .await?;
            print(serde_json::to_value(refunded)?);
        }
        PaymentsCommand::Reconcile {
            stuck_after_minutes,
        } => {
            let reconciler = Reconciler::new(
                operator.store.clone(),
                deployment.queue("processor").await?,
                deployment.queue("invite").await?,
                Duration::from_secs(stuck_after_minutes * 60),
                10_000,
            );
            print(serde_json::to_value(reconciler.reconcile().await?)?);
        }
    }
    Ok(())
}

async fn reviews(command: ReviewsCommand) -> anyhow::Result<()> {
    let deployment = Deployment::connect().await?;
    let operator = deployment.operator();
    match command {
        ReviewsCommand::List { limit } => {
            for review in deployment.store().list_reviews(limit).await? {
                print(serde_json::to_value(review)?);
            }
        }
        ReviewsCommand::Show { payment_id: id } => {
            let store = deployment.store();
            let Some(review) = store.get_review(payment_id(id)?).await? else {
                anyhow::bail!("no review entry for payment {id}");
            };
            let notice = store.notice_state(payment_id(id)?).await?;
            let mut shown = serde_json::to_value(review)?;
            shown["told_at"] = json!(notice.as_ref().and_then(|n| n.told_at));
            shown["told"] = json!(notice.and_then(|n| n.told));
            // A short payment's purchase: what its parts brought, and who settled it.
            if let Some(purchase) = store.purchase_of(payment_id(id)?).await? {
                shown["purchase"] = json!({
                    "price": format!("{} {}", purchase.price_amount, purchase.price_currency.to_uppercase()),
                    "paid": format!("{:.2}", purchase.paid_total),
                    "missing": format!("{:.2}", purchase.missing()),
                    "parts": purchase.parts.iter().map(|p| p.get()).collect::<Vec<_>>(),
                    "settled_by": purchase.settled_by.map(|p| p.get()),
                    "owner_told_at": purchase.owner_told_at,
                });
            }
            print(shown);
        }
        ReviewsCommand::Reject { payment_id: id } => {
            operator.reject(payment_id(id)?).await?;
            print(json!({"payment_id": id, "decision": "rejected"}));
        }
        ReviewsCommand::Approve { payment_id: id } => {
            let catalog = deployment.catalog().await?;
            let processor_queue = deployment.queue("processor").await?;
            operator
                .approve(payment_id(id)?, &catalog.directory, &processor_queue)
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
    let deployment = Deployment::connect().await?;
    let operator = deployment.operator();
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
            let lifecycle_queue = deployment.queue("lifecycle").await?;
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
        let deployment = Deployment::connect().await?;
        let forgotten = deployment
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
    let telegram = TelegramBotApi::new(token, api_url.as_deref())?;
    match command {
        BotCommand::SetWebhook {
            url,
            max_connections,
        } => {
            let url = match url.or_else(|| env.get("TELEPAY_BOT_WEBHOOK_URL")) {
                Some(url) => url,
                None => anyhow::bail!(
                    "give --url <the stack's BotWebhookUrl output> (or --stack NAME, which reads it)"
                ),
            };
            if !url.starts_with("https://") && !url.starts_with("http://127.0.0.1") {
                anyhow::bail!("--url must be an https URL (Telegram delivers only to https)");
            }
            let secret = WebhookSecret::new(env.required(config::BOT_WEBHOOK_SECRET)?)
                .context(config::BOT_WEBHOOK_SECRET)?;
            telegram
                .set_webhook(&url, secret.expose(), max_connections)
                .await?;
            print(
                json!({"webhook": url, "max_connections": max_connections, "allowed_updates": telepay_core::doctor::ALLOWED_UPDATES}),
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

async fn catalog(command: CatalogCommand) -> anyhow::Result<()> {
    if let CatalogCommand::Check { file } = &command {
        let json = read_catalog_file(file)?;
        let catalog = Catalog::check(&json).map_err(refused)?;
        for line in offer_lines(&catalog) {
            print(line);
        }
        return Ok(());
    }
    let deployment = Deployment::connect().await?;
    let store = deployment.store();
    if !store.holds_catalog() {
        anyhow::bail!(
            "{} is not set: the stack's CatalogTable output names the table",
            config::CATALOG_TABLE
        );
    }
    let applied = match command {
        CatalogCommand::Check { .. } => unreachable!("handled above, without the store"),
        CatalogCommand::Apply { file, note } => {
            let json = read_catalog_file(&file)?;
            telepay_core::catalog::apply(store, &json, &note, chrono::Utc::now()).await
        }
        CatalogCommand::Rollback { version } => {
            telepay_core::catalog::reapply(store, version, chrono::Utc::now()).await
        }
        CatalogCommand::Show { version } => {
            let stored = match version {
                Some(version) => store.catalog_version(version).await?,
                None => store.latest_catalog().await?,
            };
            let Some(stored) = stored else {
                anyhow::bail!("no such catalog version: `telepay catalog history` lists them");
            };
            // The document itself, as applied: ready to edit and apply again.
            let document: serde_json::Value = serde_json::from_str(&stored.body)?;
            println!("{}", serde_json::to_string_pretty(&document)?);
            return Ok(());
        }
        CatalogCommand::History { limit } => {
            for stored in store.catalog_history(limit).await? {
                let channels = Catalog::read(&stored.body, stored.version)
                    .map(|c| c.directory.channels().len().to_string())
                    .unwrap_or_else(|e| format!("unreadable: {e}"));
                print(json!({
                    "version": stored.version,
                    "applied_at": stored.applied_at,
                    "channels": channels,
                    "note": stored.note,
                }));
            }
            return Ok(());
        }
    };
    match applied {
        Ok(Applied::Now { version, changes }) => {
            for change in changes {
                print(json!({"version": version, "change": change}));
            }
            eprintln!(
                "catalog version {version} applied: every function uses it within {} seconds; invoices made before keep their prices",
                telepay_core::catalog::REFRESH_EVERY.as_secs()
            );
            Ok(())
        }
        Ok(Applied::Unchanged { version }) => {
            print(json!({"version": version, "change": "none: this is the catalog in force"}));
            Ok(())
        }
        Err(ApplyError::Invalid(problems)) => Err(refused(problems)),
        Err(other) => Err(other.into()),
    }
}

fn telegram_from_env() -> anyhow::Result<TelegramBotApi> {
    let env = ProcessEnvironment;
    let token =
        BotToken::new(env.required(config::BOT_TOKEN)?).context("TELEGRAM_BOT_TOKEN is empty")?;
    let api_url = env.get(config::API_URL).filter(|u| !u.is_empty());
    Ok(TelegramBotApi::new(token, api_url.as_deref())?)
}
