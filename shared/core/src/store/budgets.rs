//! The rate budgets' port: how many times something was done in a fixed window (a
//! buyer's bot replies in ten minutes, everyone's new invoices in a minute), counted by
//! one conditional write that also decides ("one more, only if fewer than the limit are
//! counted in this window"), so 32 updates at once never spend past the limit and a
//! budget needs no read. A new window starts from zero; a writer still on an older window
//! (a clock behind) never resets the current one's count.
//!
//! Tests: every backend in `tests/tests/budget_conformance.rs`.

use std::future::Future;

use chrono::{DateTime, Utc};

use super::StoreError;

/// Whose budget, for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BudgetKey {
    /// The bot's replies to one user (their private chat).
    Replies { user_id: i64 },
    /// New NOWPayments invoices, everyone's together.
    Invoices,
}

impl BudgetKey {
    /// The key as the backends store it.
    pub fn storage_key(&self) -> String {
        match self {
            Self::Replies { user_id } => format!("replies#{user_id}"),
            Self::Invoices => "invoices".into(),
        }
    }
}

/// One fixed window of a budget: its start (the window's number is its start in epoch
/// seconds) and when its count may be forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetWindow {
    pub start: DateTime<Utc>,
    pub keep_until: DateTime<Utc>,
}

/// What a spend did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetSpend {
    /// Counted: this is the `used`-th of the window.
    Spent { used: u32 },
    /// The window's limit was already reached: nothing was counted.
    Exhausted,
}

pub trait RateBudgetStore: Send + Sync {
    /// Counts one use of `key` in `window` if fewer than `limit` are counted there.
    fn spend_budget(
        &self,
        key: BudgetKey,
        window: BudgetWindow,
        limit: u32,
    ) -> impl Future<Output = Result<BudgetSpend, StoreError>> + Send;
}

impl<S: RateBudgetStore> RateBudgetStore for std::sync::Arc<S> {
    async fn spend_budget(
        &self,
        key: BudgetKey,
        window: BudgetWindow,
        limit: u32,
    ) -> Result<BudgetSpend, StoreError> {
        (**self).spend_budget(key, window, limit).await
    }
}
