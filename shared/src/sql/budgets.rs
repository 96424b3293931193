//! Rate budgets on SQL: one row per budget in `rate_budgets` (migration 0019), counted
//! by one upsert whose WHERE is the rule (a newer window starts again, the same one
//! counts below the limit, an older one changes nothing).

use chrono::Utc;
use telepay_core::store::{BudgetKey, BudgetSpend, BudgetWindow, RateBudgetStore, StoreError};

use super::dialect::SqlDialect;
use super::statements::budgets::SPEND;
use super::{SqlStore, unavailable};

impl<DB: SqlDialect> RateBudgetStore for SqlStore<DB> {
    async fn spend_budget(
        &self,
        key: BudgetKey,
        window: BudgetWindow,
        limit: u32,
    ) -> Result<BudgetSpend, StoreError> {
        self.statements.count();
        let binds = vec![
            key.storage_key().as_str().into(),
            window.start.timestamp().into(),
            Utc::now().timestamp_millis().into(),
            i64::from(limit).into(),
        ];
        let spent = DB::numbers(&self.pool, SPEND, binds)
            .await
            .map_err(unavailable)?;
        Ok(match spent.first() {
            Some(&used) => BudgetSpend::Spent {
                used: u32::try_from(used).unwrap_or(u32::MAX),
            },
            None => BudgetSpend::Exhausted,
        })
    }
}
