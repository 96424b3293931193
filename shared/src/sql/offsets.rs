//! The polling server's update offset on SQL: one row in `update_offsets` (migration
//! 0018). The first advance is an insert on the row's absence, every later one an update
//! whose WHERE is the rule (still the value read, and further).

use chrono::Utc;
use telepay_core::store::{OffsetAdvance, StoreError, UpdateOffsetStore};

use super::dialect::SqlDialect;
use super::statements::offsets::{ADVANCE, FIRST, READ};
use super::{SqlStore, unavailable};

impl<DB: SqlDialect> UpdateOffsetStore for SqlStore<DB> {
    async fn update_offset(&self) -> Result<Option<i64>, StoreError> {
        self.statements.count();
        let rows = DB::numbers(&self.pool, READ, Vec::new())
            .await
            .map_err(unavailable)?;
        Ok(rows.first().copied())
    }

    async fn advance_update_offset(
        &self,
        seen: Option<i64>,
        next: i64,
    ) -> Result<OffsetAdvance, StoreError> {
        self.statements.count();
        let now = Utc::now().timestamp_millis();
        let written = match seen {
            None => DB::rows_returned(&self.pool, FIRST, vec![next.into(), now.into()]).await,
            Some(seen) => {
                let binds = vec![next.into(), now.into(), seen.into()];
                DB::rows_returned(&self.pool, ADVANCE, binds).await
            }
        }
        .map_err(unavailable)?;
        Ok(if written == 1 {
            OffsetAdvance::Advanced
        } else {
            OffsetAdvance::Moved
        })
    }
}
