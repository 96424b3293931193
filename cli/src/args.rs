//! The `telepay` command line's arguments: every command, subcommand and flag, as clap
//! derives them. `main.rs` runs them.

use clap::{Parser, Subcommand};
use telepay_shared::queues::QUEUE_NAMES;

#[derive(Parser)]
#[command(
    name = "telepay",
    version,
    about = "Operate a TelePay Lambda deployment"
)]
pub(crate) struct Cli {
    /// JSON lines (one object per line) even on a terminal, for scripts. Without a
    /// terminal (a pipe, a file) the output is JSON lines anyway.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// A deployed stack's name: the tables, queues, DLQs, URLs and secrets' ARNs are read
    /// from its outputs (`sam list stack-outputs`) instead of being set one by one; a
    /// variable already set wins.
    #[arg(long, global = true)]
    pub(crate) stack: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Set up a channel for sale: asks for (or takes as flags) the bot token, the
    /// NOWPayments key and IPN secret, the channel, its tiers and your chat, checks each
    /// live (Telegram, NOWPayments) and says what to fix; then writes catalog.json and the
    /// deploy settings (samconfig.toml), never a secret. Then: `make deploy`.
    Init(Box<InitArgs>),
    /// Run the whole chain on this machine (no AWS account): the IPN and bot webhooks,
    /// every stage and scheduled job, the store and its queues in SQLite or Postgres
    /// (TELEPAY_STORE_BACKEND). Refuses to start with a secret or service unset (named);
    /// --demo is `make run`. See docs/self-hosting.md.
    Serve(Box<telepay_local::Args>),
    /// Check everything a sale needs, live: the catalog, the secrets, the bot token, its
    /// webhook, its rights in every private channel, the NOWPayments key, our IPN
    /// endpoint (a signed probe that can never grant), the dead-letter queues. One line
    /// per check with what to fix; exits 1 when anything needs fixing.
    Doctor,
    /// The catalog: channels, tiers and the bot's texts. `check` a file, `apply` it as the
    /// next version (every function uses it within 30 seconds, no redeploy), `show` the
    /// one in force, list the `history`, `rollback` to an older version.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Bring the store's schema up to date: run the SQL migrations (Postgres, SQLite), or
    /// create the missing DynamoDB tables. Safe to run again; never run by a cold start.
    Migrate,
    /// Copy a SQLite store (payments, subscriptions, catalog, queued messages) to a new
    /// file while the server runs: a consistent snapshot (SQLite's `VACUUM INTO`). To
    /// restore, stop the server and put the file in place. Postgres: use pg_dump (see
    /// docs/self-hosting.md).
    Backup {
        /// The backup file to write (must not exist yet).
        #[arg(long)]
        to: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub(crate) enum PaymentsCommand {
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
    /// Ask NOWPayments about a payment now (`GET /v1/payment/<id>` with
    /// TELEPAY_NOWPAYMENTS_API_KEY) and admit it if paid, as its IPN would have been: a
    /// payment whose IPNs were all lost (find its id in the NOWPayments dashboard).
    Recover { payment_id: i64 },
    /// Refund a Telegram Stars payment: its Stars go back to the buyer
    /// (`refundStarPayment`, needs TELEGRAM_BOT_TOKEN) and the time it bought is taken
    /// out of their subscription, once. A crypto payment is refunded in the NOWPayments
    /// dashboard.
    Refund { payment_id: i64 },
    /// Re-queue every payment stuck longer than the given minutes (what the scheduled
    /// reconciler does).
    Reconcile {
        #[arg(long, default_value_t = 15)]
        stuck_after_minutes: u64,
    },
}

#[derive(Subcommand)]
pub(crate) enum ReviewsCommand {
    /// Review entries, newest first.
    List {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// One held payment: why, its IPN, its decision, and whether its buyer and owner were
    /// told.
    Show { payment_id: i64 },
    /// Grant a held payment: it becomes an accepted record and is queued.
    Approve { payment_id: i64 },
    /// Do not grant a held payment (refunds are outside this project).
    Reject { payment_id: i64 },
}

#[derive(Subcommand)]
pub(crate) enum SubscriptionsCommand {
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

/// `telepay init`'s answers: each flag, else its variable, else a question (on a
/// terminal; `--non-interactive` names what is missing instead).
#[derive(clap::Args)]
pub(crate) struct InitArgs {
    /// Else TELEGRAM_BOT_TOKEN, else asked (not shown). BotFather's /newbot gives it.
    #[arg(long)]
    pub(crate) bot_token: Option<String>,
    /// Else TELEPAY_NOWPAYMENTS_API_KEY, else asked (not shown).
    #[arg(long)]
    pub(crate) nowpayments_key: Option<String>,
    /// Else TELEPAY_IPN_SECRET, else asked (not shown).
    #[arg(long)]
    pub(crate) ipn_secret: Option<String>,
    /// NOWPayments' sandbox (its own key and IPN secret): try a sale without money.
    #[arg(long)]
    pub(crate) sandbox: bool,
    /// Your private channel's id, `-100…` (Telegram Web shows it in the channel's address).
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) channel_id: Option<i64>,
    /// What buyers see the channel called.
    #[arg(long)]
    pub(crate) title: Option<String>,
    /// A tier, PRICE CURRENCY LENGTH: "5 usd 30 days" (again for more tiers).
    #[arg(long = "tier")]
    pub(crate) tiers: Vec<String>,
    /// How buyers get in: one_time_link (default) or join_request (only the payer).
    #[arg(long, default_value = "one_time_link")]
    pub(crate) admission: String,
    /// Your own Telegram user id (any id bot tells you): sales and alerts go there.
    #[arg(long)]
    pub(crate) owner_chat_id: Option<i64>,
    /// Where the stack's alarms are mailed.
    #[arg(long)]
    pub(crate) alarm_email: Option<String>,
    /// The stack's name, written to samconfig.toml (`telepay --stack` takes it later).
    #[arg(long, default_value = "telepay-lambda")]
    pub(crate) stack_name: String,
    /// The AWS region to deploy in, written to samconfig.toml.
    #[arg(long, default_value = "us-east-1")]
    pub(crate) region: String,
    /// Where catalog.json and samconfig.toml go.
    #[arg(long, default_value = ".")]
    pub(crate) dir: std::path::PathBuf,
    /// Never ask: a missing answer is an error naming its flag.
    #[arg(long)]
    pub(crate) non_interactive: bool,
    /// Replace an existing catalog.json.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Subcommand)]
pub(crate) enum CatalogCommand {
    /// Check a catalog file without applying it: what it sells, or every problem, one
    /// line each (exit 1).
    Check { file: std::path::PathBuf },
    /// Check a catalog file and apply it as the next version: what changed, one line
    /// each. An invalid file is never applied.
    Apply {
        file: std::path::PathBuf,
        /// Why, for the history (e.g. "December prices").
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The catalog in force (or `--version N`), as its JSON.
    Show {
        #[arg(long)]
        version: Option<u32>,
    },
    /// Every version applied, newest first.
    History {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Apply an older version again, as the newest.
    Rollback { version: u32 },
}

#[derive(Subcommand)]
pub(crate) enum DlqCommand {
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
pub(crate) enum IpnCommand {
    /// Print the x-nowpayments-sig of a body file, signed with TELEPAY_IPN_SECRET.
    Sign { file: std::path::PathBuf },
}

#[derive(Subcommand)]
pub(crate) enum BotCommand {
    /// setWebhook: Telegram delivers the bot's updates (message, callback_query,
    /// chat_join_request, my_chat_member) to URL with TELEPAY_BOT_WEBHOOK_SECRET.
    SetWebhook {
        /// The API's bot webhook URL (the stack's BotWebhookUrl output; with `--stack`,
        /// read from it).
        #[arg(long)]
        url: Option<String>,
        /// Updates Telegram may post at once (1-100). At most the stack's
        /// WebhookReservedConcurrency (20 by default): more would be throttled by Lambda
        /// and retried by Telegram.
        #[arg(long, default_value_t = telepay_shared::telegram::DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u8).range(1..=100))]
        max_connections: u8,
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
