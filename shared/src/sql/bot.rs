//! The bot's once-records on SQL: one row per key in `bot_once`. A claim is one upsert
//! whose `WHERE` is the rule (absent, forgotten, or an unfinished lease lapsed); finish
//! and release are updates fenced on the token.

use chrono::{DateTime, Utc};
use telepay_core::store::{
    BotStore, Fenced, OnceClaim, OnceFound, OnceKey, OnceRecord, StoreError,
};

use super::dialect::{Bind, SqlDialect};
use super::{SqlPaymentStore, unavailable};

const CLAIM: &str = "INSERT INTO bot_once \
     (once_key, lease_token, lease_until_ms, done, result, keep_until_ms) \
     VALUES ($1, $2, $3, FALSE, NULL, $4) \
     ON CONFLICT (once_key) DO UPDATE SET lease_token = excluded.lease_token, \
     lease_until_ms = excluded.lease_until_ms, done = FALSE, result = NULL, \
     keep_until_ms = excluded.keep_until_ms \
     WHERE bot_once.keep_until_ms <= $5 \
     OR (bot_once.done = FALSE AND bot_once.lease_until_ms <= $5) \
     RETURNING once_key";
const FINISH: &str = "UPDATE bot_once SET done = TRUE, result = $3, lease_token = NULL \
     WHERE once_key = $1 AND lease_token = $2 AND done = FALSE RETURNING once_key";
const RELEASE: &str = "UPDATE bot_once SET lease_token = NULL, lease_until_ms = 0 \
     WHERE once_key = $1 AND lease_token = $2 AND done = FALSE RETURNING once_key";
const FORGET: &str = "DELETE FROM bot_once WHERE once_key IN \
     (SELECT once_key FROM bot_once WHERE keep_until_ms <= $1 LIMIT $2) RETURNING once_key";
const READ: &str = "SELECT done, result, lease_until_ms, keep_until_ms FROM bot_once \
     WHERE once_key = $1";

/// A `bot_once` row as read.
#[derive(sqlx::FromRow)]
pub struct OnceRow {
    done: bool,
    result: Option<String>,
    lease_until_ms: i64,
    keep_until_ms: i64,
}

impl OnceRow {
    fn into_record(self) -> OnceRecord {
        let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC);
        OnceRecord {
            done: self.done,
            result: self.result,
            lease_until: at(self.lease_until_ms),
            keep_until: at(self.keep_until_ms),
        }
    }
}

fn fenced(written: bool) -> Fenced {
    if written {
        Fenced::Done
    } else {
        Fenced::LeaseLost
    }
}

impl<DB: SqlDialect> BotStore for SqlPaymentStore<DB> {
    async fn claim_once(&self, key: OnceKey, claim: &OnceClaim) -> Result<OnceFound, StoreError> {
        let binds = vec![
            key.storage_key().as_str().into(),
            claim.token.as_str().into(),
            claim.lease_until.timestamp_millis().into(),
            claim.keep_until.timestamp_millis().into(),
            claim.now.timestamp_millis().into(),
        ];
        if self.write(CLAIM, binds).await? {
            return Ok(OnceFound::Claimed);
        }
        // Refused: say why from the row as it is (it exists, the upsert met it).
        Ok(match self.read_once(key).await? {
            Some(record) => match record.found_at(claim.now) {
                // Changed between the two statements: let the caller come back.
                OnceFound::Claimed => OnceFound::Leased { until: claim.now },
                found => found,
            },
            None => OnceFound::Leased { until: claim.now },
        })
    }

    async fn finish_once(
        &self,
        key: OnceKey,
        token: &str,
        result: Option<&str>,
        _now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let binds = vec![
            key.storage_key().as_str().into(),
            token.into(),
            Bind::Text(result.map(str::to_owned)),
        ];
        self.write(FINISH, binds).await.map(fenced)
    }

    async fn release_once(&self, key: OnceKey, token: &str) -> Result<Fenced, StoreError> {
        let binds = vec![key.storage_key().as_str().into(), token.into()];
        self.write(RELEASE, binds).await.map(fenced)
    }

    async fn read_once(&self, key: OnceKey) -> Result<Option<OnceRecord>, StoreError> {
        self.statements.count();
        let binds = vec![key.storage_key().as_str().into()];
        let mut rows = DB::once_rows(&self.pool, READ, binds)
            .await
            .map_err(unavailable)?;
        Ok(rows.pop().map(OnceRow::into_record))
    }

    async fn forget_expired(&self, now: DateTime<Utc>, limit_to: usize) -> Result<u64, StoreError> {
        self.statements.count();
        let binds = vec![now.timestamp_millis().into(), super::limit(limit_to)];
        DB::rows_returned(&self.pool, FORGET, binds)
            .await
            .map_err(unavailable)
    }
}
