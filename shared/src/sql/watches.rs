//! Payment watches on SQL: one row per payment in `payment_watches`. A watch is one
//! insert that does nothing on conflict; a claim is one update whose `WHERE` is the rule
//! (not settled, due, no live lease) and returns the row; postpone and settle are updates
//! fenced on the token.

use chrono::{DateTime, Utc};
use telepay_core::ipn::PaymentId;
use telepay_core::store::{
    Fenced, NewWatch, PaymentWatch, PaymentWatchStore, Settlement, StoreError, WatchClaim,
    WatchFound, Watched,
};

use super::dialect::{Bind, SqlDialect};
use super::rows::WatchRow;
use super::statements::watches::{CLAIM, DUE, POSTPONE, READ, SETTLE, UNDER_WAY_OF, WATCH};
use super::{SqlStore, fenced, limit, unavailable};

impl<DB: SqlDialect> SqlStore<DB> {
    async fn watch_rows(
        &self,
        sql: &'static str,
        binds: Vec<Bind>,
    ) -> Result<Vec<PaymentWatch>, StoreError> {
        self.statements.count();
        DB::watch_rows(&self.pool, sql, binds)
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(WatchRow::into_watch)
            .collect()
    }
}

impl<DB: SqlDialect> PaymentWatchStore for SqlStore<DB> {
    async fn watch_payment(&self, watch: &NewWatch) -> Result<Watched, StoreError> {
        let binds = vec![
            watch.payment_id.get().into(),
            watch.user_id.into(),
            watch.channel_id.into(),
            watch.status.as_str().into(),
            watch.seen_at.timestamp_millis().into(),
            watch.first_check_at.timestamp_millis().into(),
        ];
        Ok(if self.write(WATCH, binds).await? {
            Watched::New
        } else {
            Watched::Already
        })
    }

    async fn due_watches(
        &self,
        now: DateTime<Utc>,
        limit_to: usize,
    ) -> Result<Vec<PaymentWatch>, StoreError> {
        let binds = vec![now.timestamp_millis().into(), limit(limit_to)];
        self.watch_rows(DUE, binds).await
    }

    async fn claim_watch(&self, claim: &WatchClaim) -> Result<WatchFound, StoreError> {
        let binds = vec![
            claim.payment_id.get().into(),
            claim.token.as_str().into(),
            claim.lease_until.timestamp_millis().into(),
            claim.now.timestamp_millis().into(),
        ];
        if let Some(mut watch) = self.watch_rows(CLAIM, binds).await?.pop() {
            // RETURNING reads the row as updated: the watch as it was had no live lease.
            watch.lease_until = None;
            return Ok(WatchFound::Claimed(Box::new(watch)));
        }
        // Refused: say why from the row as it is.
        Ok(match self.watch_of(claim.payment_id).await? {
            None => WatchFound::NotFound,
            Some(watch) => watch.refused_at(claim.now),
        })
    }

    async fn postpone_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        last_status: &str,
        next_check_at: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let binds = vec![
            payment_id.get().into(),
            token.into(),
            last_status.into(),
            next_check_at.timestamp_millis().into(),
        ];
        self.write(POSTPONE, binds).await.map(fenced)
    }

    async fn settle_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        settlement: Settlement,
        last_status: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let binds = vec![
            payment_id.get().into(),
            token.into(),
            settlement.as_str().into(),
            last_status.into(),
            now.timestamp_millis().into(),
        ];
        self.write(SETTLE, binds).await.map(fenced)
    }

    async fn watch_of(&self, payment_id: PaymentId) -> Result<Option<PaymentWatch>, StoreError> {
        Ok(self
            .watch_rows(READ, vec![payment_id.get().into()])
            .await?
            .pop())
    }

    async fn under_way_of(
        &self,
        user_id: i64,
        limit_to: usize,
    ) -> Result<Vec<PaymentWatch>, StoreError> {
        self.watch_rows(UNDER_WAY_OF, vec![user_id.into(), limit(limit_to)])
            .await
    }
}
