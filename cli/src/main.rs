//! `telepay`: the operator's command line. Configuration comes from the same environment
//! variables as the functions (`TELEPAY_STORE_BACKEND`, `DATABASE_URL`, table names,
//! queue URLs, `TELEPAY_IPN_SECRET`, `TELEGRAM_BOT_TOKEN`, the channel directory).
//! Output is JSON (one object per line for lists); errors go to stderr with exit code 1,
//! bad arguments exit 2.

mod queues;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::{TimeDelta, Utc};
use clap::{Parser, Subcommand};
use queues::{AnyQueue, QUEUE_NAMES, open_queue};
use serde_json::json;
use telepay_core::ipn::PaymentId;
use telepay_core::payment::{ProcessedPayment, RecordState, ReviewDecision};
use telepay_core::queue::{INVITE_MESSAGE_VERSION, InviteRequest, MessageQueue, ProcessorMessage};
use telepay_core::reconcile::Reconciler;
use telepay_core::review::approved_record;
use telepay_core::signature::IpnSecret;
use telepay_core::store::{Decided, PaymentStore, Recorded, Reopened};
use telepay_core::telegram::TelegramInviter;
use telepay_shared::aws::{consumer_timeouts, load_sdk_config};
use telepay_shared::config::{self, Environment, ProcessEnvironment};
use telepay_shared::store::{AnyPaymentStore, StoreConfig};
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
    /// Dead-letter queues: what failed five times.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
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

/// The configured store and a lazily built SQS client.
struct Operator {
    store: AnyPaymentStore,
    sdk: aws_config::SdkConfig,
}

impl Operator {
    async fn connect() -> anyhow::Result<Self> {
        let config = StoreConfig::from_env(&ProcessEnvironment)?;
        let sdk = load_sdk_config(consumer_timeouts()).await;
        let store = config.connect(&sdk).await?;
        Ok(Self { store, sdk })
    }

    async fn queue(&self, name: &str) -> anyhow::Result<AnyQueue> {
        open_queue(name, &self.store, &ProcessEnvironment, || {
            aws_sdk_sqs::Client::new(&self.sdk)
        })
        .await
    }

    async fn payment(&self, payment_id: i64) -> anyhow::Result<ProcessedPayment> {
        let id = PaymentId::new(payment_id)?;
        self.store
            .get_payment(id)
            .await?
            .with_context(|| format!("payment {payment_id} not found"))
    }

    async fn queue_invite(&self, record: &ProcessedPayment) -> anyhow::Result<()> {
        let request = InviteRequest {
            v: INVITE_MESSAGE_VERSION,
            payment_id: record.payment_id,
            user_id: record.user_id,
            channel_id: record.channel_id,
        };
        let body = serde_json::to_string(&request)?;
        self.queue("invite")
            .await?
            .send(record.payment_id, &body)
            .await?;
        Ok(())
    }
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
            Operator::connect().await?.store.migrate().await?;
            println!("migrate: the store schema is up to date");
            Ok(())
        }
        Command::Payments { command } => payments(command).await,
        Command::Reviews { command } => reviews(command).await,
        Command::Dlq { command } => {
            let operator = Operator::connect().await?;
            match command {
                DlqCommand::List { queue } => {
                    for letter in operator.queue(&queue).await?.dead_letters(&queue).await? {
                        print(json!({"message_id": letter.message_id, "body": letter.body}));
                    }
                }
                DlqCommand::Redrive { queue } => {
                    let moved = operator.queue(&queue).await?.redrive(&queue).await?;
                    print(json!({"queue": queue, "redriven": moved}));
                }
            }
            Ok(())
        }
    }
}

async fn payments(command: PaymentsCommand) -> anyhow::Result<()> {
    let operator = Operator::connect().await?;
    match command {
        PaymentsCommand::Show { payment_id } => {
            print(serde_json::to_value(operator.payment(payment_id).await?)?);
        }
        PaymentsCommand::Pending {
            older_than_minutes,
            limit,
        } => {
            let now = Utc::now();
            let age = |t: chrono::DateTime<Utc>| (now - t).num_minutes();
            let cutoff = now - TimeDelta::minutes(older_than_minutes.max(0));
            for record in operator.store.pending_payments(cutoff, limit).await? {
                let stage = if !record.gcwebhook1_processed {
                    "not_processed"
                } else {
                    "invite_not_sent"
                };
                let leased = record.invite_lease_until.is_some_and(|until| until >= now);
                print(
                    json!({"payment_id": record.payment_id, "stage": stage, "leased": leased,
                    "age_minutes": age(record.created_at), "user_id": record.user_id}),
                );
            }
            for record in operator.store.failed_invites(limit).await? {
                print(
                    json!({"payment_id": record.payment_id, "stage": "invite_failed",
                    "reason": record.invite_failure_reason, "age_minutes": age(record.created_at),
                    "user_id": record.user_id}),
                );
            }
            for review in operator.store.list_reviews(limit).await? {
                if review.decision.is_none() && review.received_at <= cutoff {
                    print(
                        json!({"payment_id": review.payment_id, "stage": "held_for_review",
                        "reason": review.reason, "age_minutes": age(review.received_at)}),
                    );
                }
            }
        }
        PaymentsCommand::Replay { payment_id } => {
            let record = operator.payment(payment_id).await?;
            if record.telegram_invite_sent {
                bail!(
                    "payment {payment_id}: the invite was sent; use `telepay payments reissue` to send a new link"
                );
            }
            if record.state == RecordState::InviteFailed {
                // Failed at sendMessage: the user may have started the bot since.
                match operator
                    .store
                    .reopen_invite(record.payment_id, Utc::now())
                    .await?
                {
                    Reopened::Done => {}
                    Reopened::Leased => bail!(
                        "payment {payment_id}: a worker holds it right now; try again shortly"
                    ),
                    Reopened::NotFound => bail!("payment {payment_id} not found"),
                }
            }
            operator.queue_invite(&record).await?;
            print(json!({"payment_id": payment_id, "replayed": true}));
        }
        PaymentsCommand::Reissue { payment_id } => {
            let record = operator.payment(payment_id).await?;
            if let Some(link) = &record.telegram_invite_link {
                let inviter = telegram_from_env()?;
                let chat = record
                    .purchase
                    .as_ref()
                    .map(|p| p.private_channel_id)
                    .or_else(|| {
                        config::channel_directory(&ProcessEnvironment)
                            .ok()
                            .and_then(|d| d.channel(record.channel_id).map(|e| e.private_channel_id))
                    })
                    .with_context(|| format!("payment {payment_id}: its private channel is unknown; set the channel directory"))?;
                inviter
                    .revoke_invite_link(chat, link)
                    .await
                    .context("revoking the old link")?;
            }
            match operator
                .store
                .reopen_invite(record.payment_id, Utc::now())
                .await?
            {
                Reopened::Done => {}
                Reopened::Leased => {
                    bail!("payment {payment_id}: a worker holds it right now; try again shortly")
                }
                Reopened::NotFound => bail!("payment {payment_id} not found"),
            }
            operator.queue_invite(&record).await?;
            print(
                json!({"payment_id": payment_id, "reissued": true, "revoked": record.telegram_invite_link}),
            );
        }
        PaymentsCommand::Reconcile {
            stuck_after_minutes,
        } => {
            let reconciler = Reconciler {
                processor_queue: operator.queue("processor").await?,
                invite_queue: operator.queue("invite").await?,
                store: operator.store,
                stuck_after: Duration::from_secs(stuck_after_minutes * 60),
                batch: 10_000,
            };
            print(serde_json::to_value(
                reconciler.reconcile(Utc::now()).await?,
            )?);
        }
    }
    Ok(())
}

async fn reviews(command: ReviewsCommand) -> anyhow::Result<()> {
    let operator = Operator::connect().await?;
    match command {
        ReviewsCommand::List { limit } => {
            for review in operator.store.list_reviews(limit).await? {
                print(serde_json::to_value(review)?);
            }
        }
        ReviewsCommand::Reject { payment_id } => {
            decide(&operator, payment_id, ReviewDecision::Rejected).await?;
            print(json!({"payment_id": payment_id, "decision": "rejected"}));
        }
        ReviewsCommand::Approve { payment_id } => {
            let id = PaymentId::new(payment_id)?;
            let review = operator
                .store
                .get_review(id)
                .await?
                .with_context(|| format!("no review entry for payment {payment_id}"))?;
            if let Some(decision) = review.decision {
                bail!("payment {payment_id} was already {decision}");
            }
            let directory = config::channel_directory(&ProcessEnvironment)?;
            let record = approved_record(&review, &directory, Utc::now())?;
            // Record first: once accepted, the reconciler also finds it if the send fails.
            let record = match operator.store.record_accepted(&record).await? {
                Recorded::New => record,
                Recorded::Existing(stored) => *stored,
            };
            decide(&operator, payment_id, ReviewDecision::Approved).await?;
            let purchase = record
                .purchase
                .clone()
                .context("approved records carry their purchase")?;
            let message = ProcessorMessage::from_record(&record, &purchase);
            operator
                .queue("processor")
                .await?
                .send(record.payment_id, &message.to_json())
                .await?;
            print(json!({"payment_id": payment_id, "decision": "approved", "queued": true}));
        }
    }
    Ok(())
}

async fn decide(
    operator: &Operator,
    payment_id: i64,
    decision: ReviewDecision,
) -> anyhow::Result<()> {
    match operator
        .store
        .decide_review(PaymentId::new(payment_id)?, decision, Utc::now())
        .await?
    {
        Decided::Done => Ok(()),
        Decided::AlreadyDecided(Some(earlier)) if earlier == decision => Ok(()),
        Decided::AlreadyDecided(earlier) => {
            bail!(
                "payment {payment_id} was already {}",
                earlier.map_or("decided", |d| d.as_str())
            )
        }
        Decided::NotFound => bail!("no review entry for payment {payment_id}"),
    }
}

fn telegram_from_env() -> anyhow::Result<BotApiInviter> {
    let env = ProcessEnvironment;
    let token =
        BotToken::new(env.required(config::BOT_TOKEN)?).context("TELEGRAM_BOT_TOKEN is empty")?;
    let api_url = env.get(config::API_URL).filter(|u| !u.is_empty());
    Ok(BotApiInviter::new(token, api_url.as_deref())?)
}
