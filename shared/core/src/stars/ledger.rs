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
//! id. A charge being recorded is among the newest, so [`find_charge`] finds the
//! ledger's length (from the length it saw last, probing one transaction at a time,
//! O(log n) from nothing), reads the last pages back, and only if the charge is not
//! there the first pages: either order is covered, and a warm processor needs about two
//! calls a charge however long the ledger is, and none for a charge a page it read
//! before already listed ([`LedgerMemory`]). A charge at neither end (a message
//! redelivered late, a dead letter redriven days after) is found by its date: a binary
//! search of the offsets between, then the pages from there.
//!
//! Tests: below; through the fake Bot API and teloxide-core, `shared/tests/stars_adapter.rs`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, TimeDelta, Utc};

/// The most transactions one ledger call returns.
pub const LEDGER_PAGE: u32 = 100;
/// Pages read at each end of the ledger before a charge counts as not listed.
pub const PAGES_AT_EACH_END: u32 = 3;
/// Pages read around a charge's date when it is at neither end.
pub const PAGES_AROUND_A_DATE: u32 = 10;

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

/// What a warm processor remembers of the ledger: its length as last seen (the ledger
/// only grows, so a search starts there), and the transactions it has read, so that a
/// charge read once (a page brings a hundred) costs no call again. Past
/// [`MEMORY_LIMIT`] transactions it forgets them all and reads again.
#[derive(Debug, Default)]
pub struct LedgerMemory {
    length: AtomicU32,
    seen: Mutex<HashMap<String, Vec<LedgerEntry>>>,
}

/// The transactions a [`LedgerMemory`] keeps at most.
pub const MEMORY_LIMIT: usize = 50_000;

impl LedgerMemory {
    /// The charge as read before, if it was.
    fn recall(&self, charge_id: &str) -> Option<ChargeInLedger> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let entries = seen.get(charge_id)?;
        match judge(charge_id, entries) {
            found @ ChargeInLedger::Listed { .. } => Some(found),
            ChargeInLedger::NotListed => None,
        }
    }

    fn remember(&self, read: Vec<LedgerEntry>) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() + read.len() > MEMORY_LIMIT {
            seen.clear();
        }
        for entry in read {
            let same = seen.entry(entry.id.clone()).or_default();
            if !same.contains(&entry) {
                same.push(entry);
            }
        }
    }
}

/// Finds `charge_id` in the ledger `page(offset, limit)` reads, or in what `memory`
/// read before: in a flash sale one page read answers for a hundred charges.
pub async fn find_charge<E, F, Fut>(
    charge_id: &str,
    paid_about: DateTime<Utc>,
    memory: &LedgerMemory,
    mut page: F,
) -> Result<ChargeInLedger, E>
where
    F: FnMut(u32, u32) -> Fut,
    Fut: Future<Output = Result<Vec<LedgerEntry>, E>>,
{
    if let Some(found) = memory.recall(charge_id) {
        return Ok(found);
    }
    let read = Mutex::new(Vec::new());
    let found = search(charge_id, paid_about, &memory.length, |offset, limit| {
        let reading = page(offset, limit);
        let read = &read;
        async move {
            let entries = reading.await?;
            read.lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(entries.iter().cloned());
            Ok(entries)
        }
    })
    .await;
    memory.remember(read.into_inner().unwrap_or_else(|e| e.into_inner()));
    found
}

/// The search itself: `length` is the ledger's length as last seen (0 at first), left
/// at the length found; a warm processor finds a new charge in about two calls.
async fn search<E, F, Fut>(
    charge_id: &str,
    paid_about: DateTime<Utc>,
    length: &AtomicU32,
    mut page: F,
) -> Result<ChargeInLedger, E>
where
    F: FnMut(u32, u32) -> Fut,
    Fut: Future<Output = Result<Vec<LedgerEntry>, E>>,
{
    let mut known = length.load(Ordering::Relaxed);
    if known == 0 {
        let first = page(0, LEDGER_PAGE).await?;
        if first.len() < LEDGER_PAGE as usize {
            // The whole ledger, in one call.
            length.fetch_max(first.len() as u32, Ordering::Relaxed);
            return Ok(judge(charge_id, &first));
        }
        known = LEDGER_PAGE;
    }
    // From nothing, gallop by pages; from a length seen, by one (a few charges since).
    let first_step = if known == LEDGER_PAGE { LEDGER_PAGE } else { 1 };
    let end = ledger_length(known, first_step, &mut page).await?;
    length.fetch_max(end, Ordering::Relaxed);
    // The tail first, newest back: where the docs' "chronological order" puts a new
    // charge, and every refund of it after it.
    let mut seen = Vec::new();
    let mut from = end;
    for _ in 0..PAGES_AT_EACH_END {
        if from == 0 {
            break;
        }
        let start = from.saturating_sub(LEDGER_PAGE);
        let mut entries = page(start, from - start).await?;
        entries.extend(seen);
        seen = entries;
        from = start;
        if let found @ ChargeInLedger::Listed { .. } = judge(charge_id, &seen) {
            return Ok(found);
        }
    }
    // Then the head, should the newest come first after all.
    let mut head = Vec::new();
    let mut at = 0;
    for _ in 0..PAGES_AT_EACH_END {
        if at >= from {
            break;
        }
        let limit = LEDGER_PAGE.min(from - at);
        head.extend(page(at, limit).await?);
        at += limit;
    }
    if let found @ ChargeInLedger::Listed { .. } = judge(charge_id, &head) {
        return Ok(found);
    }
    // An older charge (a message redelivered late, a dead letter redriven): between the
    // two ends, found by its date. The ends read say which way the dates run.
    let (Some(oldest), Some(newest)) = (head.first(), seen.last()) else {
        return Ok(judge(charge_id, &[head, seen].concat()));
    };
    let ascending = oldest.date <= newest.date;
    let window = TimeDelta::minutes(10);
    let (lower, upper) = (paid_about - window, paid_about + window);
    // The first offset in the gap whose transaction is past the window's near edge.
    let (mut lo, mut hi) = (at, from);
    while lo < hi {
        let middle = lo + (hi - lo) / 2;
        let before = match page(middle, 1).await?.first() {
            Some(entry) if ascending => entry.date < lower,
            Some(entry) => entry.date > upper,
            None => false,
        };
        if before {
            lo = middle + 1;
        } else {
            hi = middle;
        }
    }
    let mut middle_pages = Vec::new();
    let mut at = lo;
    for _ in 0..PAGES_AROUND_A_DATE {
        if at >= from {
            break;
        }
        let limit = LEDGER_PAGE.min(from - at);
        let entries = page(at, limit).await?;
        let past = entries.last().is_none_or(|entry| {
            if ascending {
                entry.date > upper
            } else {
                entry.date < lower
            }
        });
        middle_pages.extend(entries);
        at += limit;
        if past
            || matches!(
                judge(charge_id, &middle_pages),
                ChargeInLedger::Listed { .. }
            )
        {
            break;
        }
    }
    head.extend(middle_pages);
    head.extend(seen);
    Ok(judge(charge_id, &head))
}

/// The first offset with no transaction, at or past `known` (which has one before it),
/// galloping from `step`.
async fn ledger_length<E, F, Fut>(known: u32, mut step: u32, page: &mut F) -> Result<u32, E>
where
    F: FnMut(u32, u32) -> Fut,
    Fut: Future<Output = Result<Vec<LedgerEntry>, E>>,
{
    // A transaction at `below`, none at `beyond` once the first loop ends.
    let (mut below, mut beyond) = (known.saturating_sub(1), known);
    while !page(beyond, 1).await?.is_empty() {
        below = beyond;
        beyond = beyond.saturating_add(step);
        step = step.saturating_mul(2);
    }
    while beyond - below > 1 {
        let middle = below + (beyond - below) / 2;
        if page(middle, 1).await?.is_empty() {
            beyond = middle;
        } else {
            below = middle;
        }
    }
    Ok(beyond)
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

    /// A charge `stx<n>` paid `n` minutes after the epoch.
    fn paid(id: &str, user_id: i64) -> LedgerEntry {
        let minutes = id.trim_start_matches("stx").parse().unwrap_or(0);
        LedgerEntry {
            id: id.into(),
            amount: 250,
            date: DateTime::UNIX_EPOCH + TimeDelta::minutes(minutes),
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
            self.find_from(charge_id, &AtomicU32::new(0)).await
        }

        async fn find_from(&self, charge_id: &str, length: &AtomicU32) -> ChargeInLedger {
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
            let paid_about = self
                .entries
                .iter()
                .find(|e| e.id == charge_id)
                .map_or(DateTime::UNIX_EPOCH, |e| e.date);
            search(charge_id, paid_about, length, page).await.unwrap()
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
                    calls <= 2 * PAGES_AT_EACH_END + 2 * 18 + 1,
                    "{n}: {calls} calls"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_charge_at_neither_end_is_found_by_its_date_in_either_order() {
        for newest_first in [false, true] {
            let mut ledger = Ledger::of(50_000);
            if newest_first {
                ledger.entries.reverse();
            }
            let found = ledger.find("stx20000").await;
            assert!(
                matches!(found, ChargeInLedger::Listed { user_id: 7, .. }),
                "{newest_first}: {found:?}"
            );
            let calls = *ledger.calls.borrow();
            assert!(calls <= 60, "{newest_first}: {calls} calls");
        }
    }

    #[tokio::test]
    async fn a_charge_read_once_costs_no_call_again() {
        let ledger = Ledger::of(1_000);
        let memory = LedgerMemory::default();
        let found = |id: &'static str| {
            let ledger = &ledger;
            let memory = &memory;
            async move {
                let page = |offset: u32, limit: u32| {
                    *ledger.calls.borrow_mut() += 1;
                    let entries: Vec<LedgerEntry> = ledger
                        .entries
                        .iter()
                        .skip(offset as usize)
                        .take(limit as usize)
                        .cloned()
                        .collect();
                    async move { Ok::<_, Infallible>(entries) }
                };
                find_charge(id, DateTime::UNIX_EPOCH, memory, page)
                    .await
                    .unwrap()
            }
        };
        assert!(matches!(
            found("stx999").await,
            ChargeInLedger::Listed { .. }
        ));
        let first = *ledger.calls.borrow();
        // Its neighbours came with the same page.
        for id in ["stx998", "stx950", "stx900"] {
            assert!(
                matches!(found(id).await, ChargeInLedger::Listed { .. }),
                "{id}"
            );
        }
        assert_eq!(
            *ledger.calls.borrow(),
            first,
            "no call for charges read before"
        );
        assert_eq!(found("stx-never").await, ChargeInLedger::NotListed);
    }

    #[tokio::test]
    async fn a_warm_search_finds_the_next_charge_in_two_or_three_calls() {
        let mut ledger = Ledger::of(123_457);
        let length = AtomicU32::new(0);
        ledger.find_from("stx123456", &length).await;
        assert_eq!(
            length.load(Ordering::Relaxed),
            123_457,
            "the length it found"
        );
        for n in 123_457..123_460 {
            ledger.entries.push(paid(&format!("stx{n}"), 7));
            *ledger.calls.borrow_mut() = 0;
            let found = ledger.find_from(&format!("stx{n}"), &length).await;
            assert!(matches!(found, ChargeInLedger::Listed { .. }));
            let calls = *ledger.calls.borrow();
            assert!(calls <= 3, "{calls} calls for the next charge");
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
