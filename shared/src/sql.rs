//! The SQL backends of [`PaymentStore`]: Postgres (optional in Lambda, where many seed
//! users keep their payments) and SQLite (the embedded default of the local run).
//!
//! One set of statements serves both dialects (`$N` placeholders, `ON CONFLICT ... DO
//! NOTHING RETURNING`, `IS NOT TRUE`). Every state change is ONE statement whose WHERE
//! clause is the rule; the affected row decides. Only a refused write reads the row back
//! to say why (a duplicate, a live lease): never read-then-write.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use telepay_core::ipn::PaymentId;
use telepay_core::order::{ChannelId, UserId};
use telepay_core::payment::{PaymentReview, ProcessedPayment, Purchase, ReviewDecision};
use telepay_core::store::{
    ClaimOutcome, Decided, Fenced, Held, InviteClaim, InviteLease, PaymentStore, ProcessedMark,
    Recorded, Reopened, StoreError,
};

/// The migrations in `migrations/`, embedded: `telepay migrate` (or [`PostgresPaymentStore::migrate`])
/// runs them; a cold start never does.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

macro_rules! columns {
    () => {
        "payment_id, user_id, channel_id, state, gcwebhook1_processed, gcwebhook1_processed_at, \
         telegram_invite_sent, telegram_invite_sent_at, telegram_invite_link, created_at, \
         updated_at, payload_hash, private_channel_id, subscription_days, price_amount, \
         price_currency, outcome_amount, outcome_currency, invite_lease_token, \
         invite_lease_until_ms, invite_link_expires_at_ms, invite_failure_reason"
    };
}

const INSERT_PAYMENT: &str = concat!(
    "INSERT INTO processed_payments (",
    columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22) ON CONFLICT (payment_id) DO NOTHING RETURNING payment_id"
);
const SELECT_PAYMENT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM processed_payments WHERE payment_id = $1"
);
const INSERT_REVIEW: &str = "INSERT INTO payment_reviews (payment_id, reason, ipn, received_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (payment_id) DO NOTHING RETURNING payment_id";
const FAILED_INVITES: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM processed_payments WHERE state = 'invite_failed' \
     ORDER BY updated_at DESC, payment_id DESC LIMIT $1"
);
const SELECT_REVIEW: &str = "SELECT payment_id, reason, ipn, received_at, decision, decided_at \
     FROM payment_reviews WHERE payment_id = $1";
const LIST_REVIEWS: &str = "SELECT payment_id, reason, ipn, received_at, decision, decided_at \
     FROM payment_reviews ORDER BY received_at DESC, payment_id DESC LIMIT $1";
const DECIDE_REVIEW: &str = "UPDATE payment_reviews SET decision = $2, decided_at = $3 \
     WHERE payment_id = $1 AND decision IS NULL RETURNING payment_id";
const REOPEN_INVITE: &str = "UPDATE processed_payments \
     SET state = 'accepted', telegram_invite_sent = FALSE, telegram_invite_sent_at = NULL, \
     telegram_invite_link = NULL, invite_link_expires_at_ms = NULL, invite_failure_reason = NULL, \
     invite_lease_token = NULL, invite_lease_until_ms = NULL, updated_at = $2 \
     WHERE payment_id = $1 AND (invite_lease_until_ms IS NULL OR invite_lease_until_ms < $3) \
     RETURNING payment_id";
const MARK_PROCESSED: &str = "UPDATE processed_payments \
     SET gcwebhook1_processed = TRUE, gcwebhook1_processed_at = $2, updated_at = $2 \
     WHERE payment_id = $1 AND state = 'accepted' AND gcwebhook1_processed IS NOT TRUE \
     RETURNING payment_id";
const CLAIM_INVITE: &str = concat!(
    "UPDATE processed_payments \
     SET invite_lease_token = $2, invite_lease_until_ms = $3, updated_at = $4 \
     WHERE payment_id = $1 AND state = 'accepted' AND telegram_invite_sent IS NOT TRUE \
     AND (invite_lease_until_ms IS NULL OR invite_lease_until_ms < $5) RETURNING ",
    columns!()
);
const PERSIST_LINK: &str = "UPDATE processed_payments \
     SET telegram_invite_link = $3, invite_link_expires_at_ms = $4, updated_at = $5 \
     WHERE payment_id = $1 AND invite_lease_token = $2 RETURNING payment_id";
const COMPLETE_INVITE: &str = "UPDATE processed_payments \
     SET telegram_invite_sent = TRUE, telegram_invite_sent_at = $3, updated_at = $3, \
     invite_lease_token = NULL, invite_lease_until_ms = NULL \
     WHERE payment_id = $1 AND invite_lease_token = $2 RETURNING payment_id";
const RELEASE_INVITE: &str = "UPDATE processed_payments \
     SET invite_lease_token = NULL, invite_lease_until_ms = NULL, updated_at = $3 \
     WHERE payment_id = $1 AND invite_lease_token = $2 RETURNING payment_id";
const FAIL_INVITE: &str = "UPDATE processed_payments \
     SET state = 'invite_failed', invite_failure_reason = $3, updated_at = $4, \
     invite_lease_token = NULL, invite_lease_until_ms = NULL \
     WHERE payment_id = $1 AND invite_lease_token = $2 RETURNING payment_id";
const MARK_REQUEUED: &str = "UPDATE processed_payments SET updated_at = $3 \
     WHERE payment_id = $1 AND state = 'accepted' \
     AND (gcwebhook1_processed IS NOT TRUE OR telegram_invite_sent IS NOT TRUE) \
     AND (updated_at IS NULL OR updated_at < $2) RETURNING payment_id";
const PENDING_PAYMENTS: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM processed_payments WHERE state = 'accepted' \
     AND (gcwebhook1_processed IS NOT TRUE OR telegram_invite_sent IS NOT TRUE) \
     AND (created_at IS NULL OR created_at < $1) ORDER BY created_at, payment_id LIMIT $2"
);

/// One `processed_payments` row; seed rows may have NULL flags and no extras.
#[derive(sqlx::FromRow)]
struct PaymentRow {
    payment_id: i64,
    user_id: i64,
    channel_id: i64,
    state: String,
    gcwebhook1_processed: Option<bool>,
    gcwebhook1_processed_at: Option<NaiveDateTime>,
    telegram_invite_sent: Option<bool>,
    telegram_invite_sent_at: Option<NaiveDateTime>,
    telegram_invite_link: Option<String>,
    created_at: Option<NaiveDateTime>,
    updated_at: Option<NaiveDateTime>,
    payload_hash: Option<String>,
    private_channel_id: Option<i64>,
    subscription_days: Option<i64>,
    price_amount: Option<f64>,
    price_currency: Option<String>,
    outcome_amount: Option<f64>,
    outcome_currency: Option<String>,
    invite_lease_token: Option<String>,
    invite_lease_until_ms: Option<i64>,
    invite_link_expires_at_ms: Option<i64>,
    invite_failure_reason: Option<String>,
}

#[derive(sqlx::FromRow)]
struct ReviewRow {
    payment_id: i64,
    reason: String,
    ipn: String,
    received_at: NaiveDateTime,
    decision: Option<String>,
    decided_at: Option<NaiveDateTime>,
}

fn corrupt(payment_id: i64, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        payment_id,
        detail: detail.to_string(),
    }
}

fn millis(payment_id: i64, ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(|ms| {
        DateTime::from_timestamp_millis(ms).ok_or_else(|| corrupt(payment_id, "time out of range"))
    })
    .transpose()
}

impl PaymentRow {
    fn into_record(self) -> Result<ProcessedPayment, StoreError> {
        let id = self.payment_id;
        let purchase = match (
            self.private_channel_id,
            self.subscription_days,
            self.price_amount,
            self.price_currency,
        ) {
            (Some(private_channel_id), Some(days), Some(price_amount), Some(price_currency)) => {
                Some(Purchase {
                    private_channel_id,
                    subscription_days: u32::try_from(days).map_err(|e| corrupt(id, e))?,
                    price_amount,
                    price_currency,
                    outcome_amount: self.outcome_amount,
                    outcome_currency: self.outcome_currency,
                })
            }
            _ => None,
        };
        // The seed's columns default to CURRENT_TIMESTAMP but are nullable.
        let created_at = self
            .created_at
            .or(self.updated_at)
            .map(|t| t.and_utc())
            .unwrap_or(DateTime::UNIX_EPOCH);
        Ok(ProcessedPayment {
            payment_id: PaymentId::new(id).map_err(|e| corrupt(id, e))?,
            user_id: UserId::new(self.user_id).map_err(|e| corrupt(id, e))?,
            channel_id: ChannelId::new(self.channel_id).map_err(|e| corrupt(id, e))?,
            state: self.state.parse().map_err(|e| corrupt(id, e))?,
            gcwebhook1_processed: self.gcwebhook1_processed.unwrap_or(false),
            gcwebhook1_processed_at: self.gcwebhook1_processed_at.map(|t| t.and_utc()),
            telegram_invite_sent: self.telegram_invite_sent.unwrap_or(false),
            telegram_invite_sent_at: self.telegram_invite_sent_at.map(|t| t.and_utc()),
            telegram_invite_link: self.telegram_invite_link,
            created_at,
            updated_at: self.updated_at.map(|t| t.and_utc()).unwrap_or(created_at),
            payload_hash: self.payload_hash,
            purchase,
            invite_lease_token: self.invite_lease_token,
            invite_lease_until: millis(id, self.invite_lease_until_ms)?,
            invite_link_expires_at: millis(id, self.invite_link_expires_at_ms)?,
            invite_failure_reason: self.invite_failure_reason,
        })
    }
}

impl ReviewRow {
    fn into_review(self) -> Result<PaymentReview, StoreError> {
        let id = self.payment_id;
        Ok(PaymentReview {
            payment_id: PaymentId::new(id).map_err(|e| corrupt(id, e))?,
            reason: self.reason.parse().map_err(|e| corrupt(id, e))?,
            ipn: self.ipn,
            received_at: self.received_at.and_utc(),
            decision: self
                .decision
                .map(|d| d.parse())
                .transpose()
                .map_err(|e| corrupt(id, e))?,
            decided_at: self.decided_at.map(|t| t.and_utc()),
        })
    }
}

fn unavailable(error: sqlx::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// Counts the statements sent to the database: the measure of store traffic.
#[derive(Debug, Clone, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    fn count(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// One store type per driver, with the same statements: a macro rather than generics
/// over sqlx's database traits keeps each type plain.
macro_rules! sql_payment_store {
    ($(#[$meta:meta])* $name:ident, $pool:ty) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name {
            pool: $pool,
            statements: StatementCounter,
        }

        impl $name {
            pub fn from_pool(pool: $pool) -> Self {
                Self { pool, statements: StatementCounter::default() }
            }

            pub fn pool(&self) -> &$pool {
                &self.pool
            }

            /// Statements sent so far by this store (and its clones).
            pub fn statements(&self) -> &StatementCounter {
                &self.statements
            }

            /// Applies the pending migrations (the documented `telepay migrate`).
            pub async fn migrate(&self) -> Result<(), StoreError> {
                MIGRATOR
                    .run(&self.pool)
                    .await
                    .map_err(|e| StoreError::Unavailable(e.to_string()))
            }

            async fn select_payment(&self, payment_id: i64) -> Result<Option<ProcessedPayment>, StoreError> {
                self.statements.count();
                sqlx::query_as::<_, PaymentRow>(SELECT_PAYMENT)
                    .bind(payment_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?
                    .map(PaymentRow::into_record)
                    .transpose()
            }

            /// A lease-fenced update: `$1` payment_id, `$2` token, then `binds`.
            async fn fenced(&self, sql: &'static str, lease: &InviteLease, binds: FencedBinds) -> Result<Fenced, StoreError> {
                self.statements.count();
                let mut query = sqlx::query(sql).bind(lease.payment_id.get()).bind(lease.token.as_str());
                for bind in binds.0 {
                    query = match bind {
                        Bind::Text(text) => query.bind(text),
                        Bind::Int(n) => query.bind(n),
                        Bind::Time(t) => query.bind(t),
                    };
                }
                let row = query.fetch_optional(&self.pool).await.map_err(unavailable)?;
                Ok(if row.is_some() { Fenced::Done } else { Fenced::LeaseLost })
            }
        }

        impl PaymentStore for $name {
            async fn record_accepted(&self, record: &ProcessedPayment) -> Result<Recorded, StoreError> {
                let purchase = record.purchase.as_ref();
                self.statements.count();
                let inserted = sqlx::query(INSERT_PAYMENT)
                    .bind(record.payment_id.get())
                    .bind(record.user_id.get())
                    .bind(record.channel_id.get())
                    .bind(record.state.as_str())
                    .bind(record.gcwebhook1_processed)
                    .bind(record.gcwebhook1_processed_at.map(|t| t.naive_utc()))
                    .bind(record.telegram_invite_sent)
                    .bind(record.telegram_invite_sent_at.map(|t| t.naive_utc()))
                    .bind(record.telegram_invite_link.as_deref())
                    .bind(record.created_at.naive_utc())
                    .bind(record.updated_at.naive_utc())
                    .bind(record.payload_hash.as_deref())
                    .bind(purchase.map(|p| p.private_channel_id))
                    .bind(purchase.map(|p| i64::from(p.subscription_days)))
                    .bind(purchase.map(|p| p.price_amount))
                    .bind(purchase.map(|p| p.price_currency.as_str()))
                    .bind(purchase.and_then(|p| p.outcome_amount))
                    .bind(purchase.and_then(|p| p.outcome_currency.as_deref()))
                    .bind(record.invite_lease_token.as_deref())
                    .bind(record.invite_lease_until.map(|t| t.timestamp_millis()))
                    .bind(record.invite_link_expires_at.map(|t| t.timestamp_millis()))
                    .bind(record.invite_failure_reason.as_deref())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                if inserted.is_some() {
                    return Ok(Recorded::New);
                }
                // The insert decided; this read only reports what was there.
                let stored = self.select_payment(record.payment_id.get()).await?.ok_or_else(|| {
                    corrupt(record.payment_id.get(), "insert conflicted but no row is there")
                })?;
                Ok(Recorded::Existing(Box::new(stored)))
            }

            async fn hold_for_review(&self, review: &PaymentReview) -> Result<Held, StoreError> {
                self.statements.count();
                let inserted = sqlx::query(INSERT_REVIEW)
                    .bind(review.payment_id.get())
                    .bind(review.reason.as_str())
                    .bind(review.ipn.as_str())
                    .bind(review.received_at.naive_utc())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(if inserted.is_some() { Held::New } else { Held::AlreadyHeld })
            }

            async fn mark_processed(&self, payment_id: PaymentId, now: DateTime<Utc>) -> Result<ProcessedMark, StoreError> {
                self.statements.count();
                let marked = sqlx::query(MARK_PROCESSED)
                    .bind(payment_id.get())
                    .bind(now.naive_utc())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                if marked.is_some() {
                    return Ok(ProcessedMark::Marked);
                }
                Ok(match self.select_payment(payment_id.get()).await? {
                    None => ProcessedMark::NotFound,
                    Some(record) => ProcessedMark::refused_by(&record),
                })
            }

            async fn claim_invite(&self, claim: &InviteClaim) -> Result<ClaimOutcome, StoreError> {
                self.statements.count();
                let claimed = sqlx::query_as::<_, PaymentRow>(CLAIM_INVITE)
                    .bind(claim.payment_id.get())
                    .bind(claim.lease_token.as_str())
                    .bind(claim.lease_until.timestamp_millis())
                    .bind(claim.now.naive_utc())
                    .bind(claim.now.timestamp_millis())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                if let Some(row) = claimed {
                    return Ok(ClaimOutcome::Claimed(Box::new(row.into_record()?)));
                }
                Ok(match self.select_payment(claim.payment_id.get()).await? {
                    None => ClaimOutcome::NotFound,
                    Some(record) => ClaimOutcome::refused_by(&record),
                })
            }

            async fn persist_invite_link(
                &self,
                lease: &InviteLease,
                link: &str,
                link_expires_at: DateTime<Utc>,
                now: DateTime<Utc>,
            ) -> Result<Fenced, StoreError> {
                let binds = FencedBinds(vec![
                    Bind::Text(link.to_owned()),
                    Bind::Int(link_expires_at.timestamp_millis()),
                    Bind::Time(now.naive_utc()),
                ]);
                self.fenced(PERSIST_LINK, lease, binds).await
            }

            async fn complete_invite(&self, lease: &InviteLease, now: DateTime<Utc>) -> Result<Fenced, StoreError> {
                self.fenced(COMPLETE_INVITE, lease, FencedBinds(vec![Bind::Time(now.naive_utc())])).await
            }

            async fn release_invite(&self, lease: &InviteLease, now: DateTime<Utc>) -> Result<Fenced, StoreError> {
                self.fenced(RELEASE_INVITE, lease, FencedBinds(vec![Bind::Time(now.naive_utc())])).await
            }

            async fn fail_invite(&self, lease: &InviteLease, reason: &str, now: DateTime<Utc>) -> Result<Fenced, StoreError> {
                let binds = FencedBinds(vec![Bind::Text(reason.to_owned()), Bind::Time(now.naive_utc())]);
                self.fenced(FAIL_INVITE, lease, binds).await
            }

            async fn get_payment(&self, payment_id: PaymentId) -> Result<Option<ProcessedPayment>, StoreError> {
                self.select_payment(payment_id.get()).await
            }

            async fn get_review(&self, payment_id: PaymentId) -> Result<Option<PaymentReview>, StoreError> {
                self.statements.count();
                sqlx::query_as::<_, ReviewRow>(SELECT_REVIEW)
                    .bind(payment_id.get())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?
                    .map(ReviewRow::into_review)
                    .transpose()
            }

            async fn failed_invites(&self, limit: usize) -> Result<Vec<ProcessedPayment>, StoreError> {
                self.statements.count();
                sqlx::query_as::<_, PaymentRow>(FAILED_INVITES)
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?
                    .into_iter()
                    .map(PaymentRow::into_record)
                    .collect()
            }


            async fn list_reviews(&self, limit: usize) -> Result<Vec<PaymentReview>, StoreError> {
                self.statements.count();
                sqlx::query_as::<_, ReviewRow>(LIST_REVIEWS)
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?
                    .into_iter()
                    .map(ReviewRow::into_review)
                    .collect()
            }

            async fn decide_review(&self, payment_id: PaymentId, decision: ReviewDecision, now: DateTime<Utc>) -> Result<Decided, StoreError> {
                self.statements.count();
                let decided = sqlx::query(DECIDE_REVIEW)
                    .bind(payment_id.get())
                    .bind(decision.as_str())
                    .bind(now.naive_utc())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                if decided.is_some() {
                    return Ok(Decided::Done);
                }
                Ok(match self.get_review(payment_id).await? {
                    None => Decided::NotFound,
                    Some(review) => Decided::AlreadyDecided(review.decision),
                })
            }

            async fn reopen_invite(&self, payment_id: PaymentId, now: DateTime<Utc>) -> Result<Reopened, StoreError> {
                self.statements.count();
                let reopened = sqlx::query(REOPEN_INVITE)
                    .bind(payment_id.get())
                    .bind(now.naive_utc())
                    .bind(now.timestamp_millis())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                if reopened.is_some() {
                    return Ok(Reopened::Done);
                }
                Ok(match self.select_payment(payment_id.get()).await? {
                    None => Reopened::NotFound,
                    Some(_) => Reopened::Leased,
                })
            }

            async fn mark_requeued(&self, payment_id: PaymentId, quiet_since: DateTime<Utc>, now: DateTime<Utc>) -> Result<bool, StoreError> {
                self.statements.count();
                let marked = sqlx::query(MARK_REQUEUED)
                    .bind(payment_id.get())
                    .bind(quiet_since.naive_utc())
                    .bind(now.naive_utc())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(marked.is_some())
            }

            async fn pending_payments(&self, created_before: DateTime<Utc>, limit: usize) -> Result<Vec<ProcessedPayment>, StoreError> {
                self.statements.count();
                sqlx::query_as::<_, PaymentRow>(PENDING_PAYMENTS)
                    .bind(created_before.naive_utc())
                    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?
                    .into_iter()
                    .map(PaymentRow::into_record)
                    .collect()
            }
        }
    };
}

/// The values a fenced update binds after payment_id and token.
struct FencedBinds(Vec<Bind>);

enum Bind {
    Text(String),
    Int(i64),
    Time(NaiveDateTime),
}

sql_payment_store!(
    /// Postgres backend: selected with `TELEPAY_STORE_BACKEND=postgres` + `DATABASE_URL`.
    PostgresPaymentStore,
    PgPool
);

sql_payment_store!(
    /// SQLite backend: an embedded file, the default of the local run.
    SqlitePaymentStore,
    SqlitePool
);

/// The database URL. Never printed: it carries the password.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(<redacted>)")
    }
}

impl PostgresPaymentStore {
    /// Connects once at cold start, sized for Lambda: one invocation at a time needs one
    /// connection (two for overlap), and every statement is capped at `statement_timeout`.
    pub async fn connect(
        url: &DatabaseUrl,
        statement_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(&url.0)
            // The parse error can quote the URL; say only what is wrong.
            .map_err(|_| {
                StoreError::Unavailable("DATABASE_URL is not a valid Postgres URL".into())
            })?
            .application_name("telepay")
            .options([(
                "statement_timeout",
                statement_timeout.as_millis().to_string(),
            )]);
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        Ok(Self::from_pool(pool))
    }
}

impl SqlitePaymentStore {
    /// Opens (creating if missing) the SQLite file at `path`, in WAL mode with a busy
    /// timeout so concurrent writers wait instead of failing.
    pub async fn open(path: &std::path::Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        Ok(Self::from_pool(pool))
    }
}
