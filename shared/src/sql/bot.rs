//! The bot's once-records on SQL: one row per key in `bot_once`. A claim is one upsert
//! whose `WHERE` is the rule (absent, forgotten, or an unfinished lease lapsed); finish
//! and release are updates fenced on the token.

use chrono::{DateTime, Utc};
use telepay_core::store::{
    BotStore, Fenced, OnceClaim, OnceFound, OnceKey, OnceRecord, StoreError,
};

use super::dialect::{Bind, SqlDialect};
use super::rows::OnceRow;
use super::statements::once::{CLAIM, FINISH, FORGET, READ, RELEASE};
use super::{SqlStore, fenced, unavailable};

impl<DB: SqlDialect> BotStore for SqlStore<DB> {
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
