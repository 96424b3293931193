//! The bot's budgets, so that no one can spam it into silence: each user gets at most
//! [`REPLIES_PER_WINDOW`] updates answered in [`REPLY_WINDOW`] (beyond it the bot is
//! silent to them until the window turns), and everyone together at most
//! `invoices_per_minute` new NOWPayments invoices a minute (beyond it a buyer is told to
//! tap again: NOWPayments publishes no limit, and an account flagged for a flood would
//! refuse every real buyer). Each is one conditional counter in the store
//! ([`RateBudgetStore`]): 32 updates at once never spend past it.
//!
//! Why these numbers: a buyer's whole purchase is about five answered updates (/start, a
//! channel, a tier, /status, /help); 12 in ten minutes leaves them room, while 50 accounts
//! spamming one message a second cost Telegram's 30 messages a second of the bot at most
//! 50 × 12 replies per ten minutes (1 a second on average) instead of all of it.
//!
//! Tests: `functions/bot-webhook/src/tests/budget.rs`; the store's rule on every backend
//! in `tests/tests/budget_conformance.rs`; under load, `make bench-flash-sale`'s abusers.

use chrono::{DateTime, TimeDelta, Utc};

use crate::store::{BudgetKey, BudgetSpend, BudgetWindow, RateBudgetStore, StoreError};

/// How long a user's reply budget lasts before it starts again.
pub const REPLY_WINDOW: TimeDelta = TimeDelta::minutes(10);
/// Updates a user gets answered per window.
pub const REPLIES_PER_WINDOW: u32 = 12;
/// New invoices for everyone together, a minute, unless the owner sets another number
/// (`TELEPAY_INVOICES_PER_MINUTE`).
pub const DEFAULT_INVOICES_PER_MINUTE: u32 = 60;
const INVOICE_WINDOW: TimeDelta = TimeDelta::minutes(1);

/// The bot's budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BotBudgets {
    pub replies_per_window: u32,
    pub reply_window: TimeDelta,
    pub invoices_per_minute: u32,
}

impl Default for BotBudgets {
    fn default() -> Self {
        Self {
            replies_per_window: REPLIES_PER_WINDOW,
            reply_window: REPLY_WINDOW,
            invoices_per_minute: DEFAULT_INVOICES_PER_MINUTE,
        }
    }
}

/// Whether a spend was within its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Within,
    Spent,
}

impl BotBudgets {
    /// Counts one answered update for `user_id`.
    pub async fn spend_reply(
        &self,
        store: &impl RateBudgetStore,
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Budget, StoreError> {
        let key = BudgetKey::Replies { user_id };
        spend(
            store,
            key,
            window_at(now, self.reply_window),
            self.replies_per_window,
        )
        .await
    }

    /// Counts one new invoice, for everyone together.
    pub async fn spend_invoice(
        &self,
        store: &impl RateBudgetStore,
        now: DateTime<Utc>,
    ) -> Result<Budget, StoreError> {
        let window = window_at(now, INVOICE_WINDOW);
        spend(store, BudgetKey::Invoices, window, self.invoices_per_minute).await
    }
}

async fn spend(
    store: &impl RateBudgetStore,
    key: BudgetKey,
    window: BudgetWindow,
    limit: u32,
) -> Result<Budget, StoreError> {
    Ok(match store.spend_budget(key, window, limit).await? {
        BudgetSpend::Spent { .. } => Budget::Within,
        BudgetSpend::Exhausted => Budget::Spent,
    })
}

/// The fixed window of `length` that `now` falls in, kept one window longer.
pub fn window_at(now: DateTime<Utc>, length: TimeDelta) -> BudgetWindow {
    let seconds = length.num_seconds().max(1);
    let start = now.timestamp().div_euclid(seconds) * seconds;
    let start = DateTime::from_timestamp(start, 0).unwrap_or(now);
    BudgetWindow {
        start,
        keep_until: start + length + length,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_window_starts_on_its_boundary_and_the_next_one_later() {
        let at = |h, m, s| Utc.with_ymd_and_hms(2026, 12, 5, h, m, s).unwrap();
        let window = window_at(at(10, 19, 59), REPLY_WINDOW);
        assert_eq!(window.start, at(10, 10, 0));
        assert_eq!(window.keep_until, at(10, 30, 0));
        assert_eq!(window_at(at(10, 20, 0), REPLY_WINDOW).start, at(10, 20, 0));
    }
}
