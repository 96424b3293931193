//! Rate budgets in memory: compare and count under one lock.
//!
//! Tests: `tests/tests/budget_conformance.rs` (the memory backend among the four).

use super::MemoryStore;
use crate::store::StoreError;
use crate::store::budgets::{BudgetKey, BudgetSpend, BudgetWindow, RateBudgetStore};

impl RateBudgetStore for MemoryStore {
    async fn spend_budget(
        &self,
        key: BudgetKey,
        window: BudgetWindow,
        limit: u32,
    ) -> Result<BudgetSpend, StoreError> {
        self.check_available()?;
        let mut budgets = self.budgets.lock().unwrap();
        let (start, used) = budgets.entry(key).or_insert((window.start, 0));
        if window.start < *start {
            return Ok(BudgetSpend::Exhausted);
        }
        if window.start > *start {
            *start = window.start;
            *used = 0;
        }
        if *used >= limit {
            return Ok(BudgetSpend::Exhausted);
        }
        *used += 1;
        Ok(BudgetSpend::Spent { used: *used })
    }
}
