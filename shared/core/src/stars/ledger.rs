//! The bot's Stars ledger as the rail reads it: the proof that a charge is real.
//!
//! Telegram signs nothing it sends a bot, so a `successful_payment` handed from the bot
//! to the processor queue could have been written by anyone able to send to that queue.
//! The processor records a Stars payment only for a charge the bot's own ledger lists
//! (`getStarTransactions`, docs/stars.md): an incoming transaction whose id is the
//! charge id, from the buyer, for the invoice payload and amount handed over, and not
//! refunded (a refund is an outgoing transaction under the same id).
//!
//! The Bot API pages the ledger by offset and count (at most 100 a page) "in
//! chronological order" without saying which end is the newest, and offers no lookup by
//! id. A charge being recorded is among the newest, so [`find_charge`] reads the first
//! pages, then finds the ledger's length in O(log n) probes of one transaction and reads
//! the last pages: either order is covered in a handful of calls however long the
//! ledger is.
//!
//! Tests: below; through the fake Bot API and teloxide-core, `shared/tests/stars_adapter.rs`.

use std::future::Future;

use chrono::{DateTime, Utc};

/// The most transactions one ledger call returns.
pub const LEDGER_PAGE: u32 = 100;
/// Pages read at each end of the ledger before a charge counts as not listed.
pub const PAGES_AT_EACH_END: u32 = 3;

/// One transaction of the bot's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The transaction id: a charge's `telegram_payment_charge_id`, and the same id for
    /// its refund.
    pub id: String,
    /// Whole Stars.
    pub amount: u32,
    /// When Telegram made it.
    pub date: DateTime<Utc>,
    pub flow: LedgerFlow,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerFlow {
    /// A user paid an invoice of the bot.
    Paid {
        user_id: i64,
        invoice_payload: Option<String>,
    },
    /// Stars went back to a user.
    Refunded { user_id: i64 },
    /// Anything else (a withdrawal, ads, another kind of purchase).
    Other,
}

/// What the ledger says of one charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeInLedger {
    Listed {
        user_id: i64,
        amount: u32,
        invoice_payload: Option<String>,
        /// The transaction's date: when the paid time starts at the earliest.
        paid_at: DateTime<Utc>,
        refunded: bool,
    },
    NotListed,
}

/// Finds `charge_id` in the ledger `page(offset, limit)` reads.
pub async fn find_charge<E, F, Fut>(charge_id: &str, mut page: F) -> Result<ChargeInLedger, E>
where
    F: FnMut(u32, u32) -> Fut,
    Fut: Future<Output = Result<Vec<LedgerEntry>, E>>,
{
    let mut seen = Vec::new();
    // The head: the newest if the ledger is newest first.
    for n in 0..PAGES_AT_EACH_END {
        let entries = page(n * LEDGER_PAGE, LEDGER_PAGE).await?;
        let last_page = entries.len() < LEDGER_PAGE as usize;
        seen.extend(entries);
        if last_page {
            // The whole ledger has been read.
            return Ok(judge(charge_id, &seen));
        }
    }
    // The tail (read even when the head listed the charge: its refund may be newer): find the ledger's length (the first offset with nothing), then read back.
    let read = PAGES_AT_EACH_END * LEDGER_PAGE;
    let (mut known, mut beyond) = (read - 1, read);
    while !page(beyond, 1).await?.is_empty() {
        known = beyond;
        beyond = beyond.saturating_mul(2);
    }
    while beyond - known > 1 {
        let middle = known + (beyond - known) / 2;
        if page(middle, 1).await?.is_empty() {
            beyond = middle;
        } else {
            known = middle;
        }
    }
    let length = beyond;
    let mut tail = Vec::new();
    let mut end = length;
    for _ in 0..PAGES_AT_EACH_END {
        if end <= read {
            break;
        }
        let start = end.saturating_sub(LEDGER_PAGE).max(read);
        let mut entries = page(start, end - start).await?;
        entries.extend(tail);
        tail = entries;
        end = start;
    }
    seen.extend(tail);
    Ok(judge(charge_id, &seen))
}

/// The charge as the entries read show it.
fn judge(charge_id: &str, entries: &[LedgerEntry]) -> ChargeInLedger {
    let paid = entries.iter().find_map(|entry| match &entry.flow {
        LedgerFlow::Paid {
            user_id,
            invoice_payload,
        } if entry.id == charge_id => {
            Some((*user_id, entry.amount, invoice_payload.clone(), entry.date))
        }
        _ => None,
    });
    let Some((user_id, amount, invoice_payload, paid_at)) = paid else {
        return ChargeInLedger::NotListed;
    };
    let refunded = entries.iter().any(|entry| {
        entry.id == charge_id
            && matches!(entry.flow, LedgerFlow::Refunded { user_id: to } if to == user_id)
    });
    ChargeInLedger::Listed {
        user_id,
        amount,
        invoice_payload,
        paid_at,
        refunded,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::convert::Infallible;

    use super::*;

    fn paid(id: &str, user_id: i64) -> LedgerEntry {
        LedgerEntry {
            id: id.into(),
            amount: 250,
            date: DateTime::UNIX_EPOCH,
            flow: LedgerFlow::Paid {
                user_id,
                invoice_payload: Some(format!("payload of {id}")),
            },
        }
    }

    /// A ledger of `n` charges, `stx0`…, oldest first; the calls made are counted.
    struct Ledger {
        entries: Vec<LedgerEntry>,
        calls: RefCell<u32>,
    }

    impl Ledger {
        fn of(n: usize) -> Self {
            Ledger {
                entries: (0..n).map(|i| paid(&format!("stx{i}"), 7)).collect(),
                calls: RefCell::new(0),
            }
        }

        async fn find(&self, charge_id: &str) -> ChargeInLedger {
            let page = |offset: u32, limit: u32| {
                *self.calls.borrow_mut() += 1;
                assert!((1..=LEDGER_PAGE).contains(&limit), "the Bot API's limit");
                let entries: Vec<LedgerEntry> = self
                    .entries
                    .iter()
                    .skip(offset as usize)
                    .take(limit as usize)
                    .cloned()
                    .collect();
                async move { Ok::<_, Infallible>(entries) }
            };
            find_charge(charge_id, page).await.unwrap()
        }
    }

    #[tokio::test]
    async fn the_newest_charge_is_found_at_either_end_of_any_ledger_in_few_calls() {
        for n in [1usize, 99, 100, 301, 1_000, 123_457] {
            for newest_first in [false, true] {
                let mut ledger = Ledger::of(n);
                if newest_first {
                    ledger.entries.reverse();
                }
                let newest = format!("stx{}", n - 1);
                let found = ledger.find(&newest).await;
                assert!(
                    matches!(
                        found,
                        ChargeInLedger::Listed {
                            user_id: 7,
                            amount: 250,
                            refunded: false,
                            ..
                        }
                    ),
                    "{n} {newest_first}: {found:?}"
                );
                let calls = *ledger.calls.borrow();
                assert!(
                    calls <= 2 * PAGES_AT_EACH_END + 2 * 17 + 2,
                    "{n}: {calls} calls"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_charge_not_listed_or_refunded_is_said_so() {
        let mut ledger = Ledger::of(5_000);
        assert_eq!(ledger.find("stx-forged").await, ChargeInLedger::NotListed);
        ledger.entries.push(LedgerEntry {
            id: "stx4999".into(),
            amount: 250,
            date: DateTime::UNIX_EPOCH,
            flow: LedgerFlow::Refunded { user_id: 7 },
        });
        assert!(matches!(
            ledger.find("stx4999").await,
            ChargeInLedger::Listed { refunded: true, .. }
        ));
        // Stars sent to someone else under that id are not this charge's refund.
        let mut other = Ledger::of(3);
        other.entries.push(LedgerEntry {
            id: "stx2".into(),
            amount: 250,
            date: DateTime::UNIX_EPOCH,
            flow: LedgerFlow::Refunded { user_id: 8 },
        });
        assert!(matches!(
            other.find("stx2").await,
            ChargeInLedger::Listed {
                refunded: false,
                ..
            }
        ));
    }
}
