//! Where the chaos comes from: the fault rates, the ledger of what was injected, and
//! each invocation's fate (crash points at step boundaries). The decorators that bring
//! it to the store, queues and Telegram are in `decorators.rs`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::dice::{Attempts, Dice, tag};

/// How often each fault happens.
#[derive(Debug, Clone)]
pub struct FaultRates {
    /// Per invocation: the invocation dies at a uniformly chosen step boundary.
    pub crash: f64,
    /// Per store write: refused before it applies.
    pub store_refused: f64,
    /// Per store write: applied, but the answer is lost (the caller sees an error).
    pub store_answer_lost: f64,
    /// Per store write: answered after `store_slow_for`.
    pub store_slow: f64,
    pub store_slow_for: Duration,
    /// Per queue send: refused.
    pub queue_refused: f64,
    /// Per SQS send: the message is delivered twice.
    pub sqs_duplicate: f64,
    /// Per Bot API call: 429 with retry_after = 1 s.
    pub telegram_429: f64,
    /// Per Bot API call: 500.
    pub telegram_500: f64,
    /// Per Bot API call: acted on, answered after longer than the call timeout.
    pub telegram_too_slow: f64,
    /// Per Bot API call: acted on, answered slowly but in time.
    pub telegram_slow: f64,
    /// Per payment: the buyer blocked the bot (403 on sendMessage).
    pub buyer_blocked: f64,
    /// Per payment: the buyer never started the bot (400 chat not found on sendMessage).
    pub buyer_unknown: f64,
    /// Per payment: the buyer never clicks the link they receive.
    pub buyer_never_clicks: f64,
    /// A buyer clicks a received link after up to this long (seeded per message).
    pub click_delay_max: Duration,
}

impl Default for FaultRates {
    fn default() -> Self {
        Self {
            crash: 0.08,
            store_refused: 0.03,
            store_answer_lost: 0.02,
            store_slow: 0.02,
            store_slow_for: Duration::from_millis(300),
            queue_refused: 0.02,
            sqs_duplicate: 0.15,
            telegram_429: 0.03,
            telegram_500: 0.03,
            telegram_too_slow: 0.02,
            telegram_slow: 0.03,
            buyer_blocked: 0.01,
            buyer_unknown: 0.01,
            buyer_never_clicks: 0.07,
            click_delay_max: Duration::from_millis(2500),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    Webhook,
    Processor,
    InviteSender,
    Reconciler,
    Lifecycle,
    /// The bot webhook (one update) and the admission re-check (one message).
    BotWebhook,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Self::Webhook => "np-webhook",
            Self::Processor => "payment-processor",
            Self::InviteSender => "invite-sender",
            Self::Reconciler => "reconciler",
            Self::Lifecycle => "subscription-lifecycle",
            Self::BotWebhook => "bot-webhook",
        }
    }

    /// The most step boundaries one invocation passes (a batch may pass more; a crash
    /// point past the last one simply does not happen).
    fn max_steps(self) -> u64 {
        match self {
            Self::Webhook => 4,
            Self::Processor => 6,
            Self::InviteSender => 12,
            Self::Reconciler => 0,
            // A removal's claim, call and completion, then its notice's.
            Self::Lifecycle => 20,
            // A claim, a read or two, a message, a decision, the finish.
            Self::BotWebhook => 12,
        }
    }
}

/// Everything injected, and what it was done to: shared by the decorators.
pub struct Chaos {
    pub dice: Dice,
    pub rates: FaultRates,
    attempts: Attempts,
    tally: Mutex<BTreeMap<String, u64>>,
    /// Per payment, in order: the faults that touched its invite and its sends.
    ledger: Mutex<HashMap<i64, Vec<LedgerEntry>>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerEntry {
    /// A sendMessage that Telegram acted on and we saw answered.
    SendAnswered,
    /// A sendMessage whose answer we stopped waiting for (it may have been delivered).
    SendAbandoned,
    /// A fault or crash, named.
    Fault(String),
}

impl Chaos {
    pub fn new(dice: Dice, rates: FaultRates) -> Self {
        Self {
            dice,
            rates,
            attempts: Attempts::default(),
            tally: Mutex::default(),
            ledger: Mutex::default(),
        }
    }

    /// The next attempt number of decision `what` for `payment_id`.
    pub fn attempt(&self, what: &str, payment_id: i64) -> u64 {
        self.attempts.next(tag(what), payment_id)
    }

    pub fn count(&self, what: impl Into<String>) {
        *self.tally.lock().unwrap().entry(what.into()).or_default() += 1;
    }

    pub fn tally(&self) -> BTreeMap<String, u64> {
        self.tally.lock().unwrap().clone()
    }

    pub(super) fn note(&self, payment_id: i64, entry: LedgerEntry) {
        if payment_id > 0 {
            let mut ledger = self.ledger.lock().unwrap();
            ledger.entry(payment_id).or_default().push(entry);
        }
    }

    /// Counts a fault and notes it against the payment it hit.
    pub(super) fn fault(&self, payment_id: i64, what: String) {
        self.count(what.clone());
        self.note(payment_id, LedgerEntry::Fault(what));
    }

    pub fn ledger(&self, payment_id: i64) -> Vec<LedgerEntry> {
        let ledger = self.ledger.lock().unwrap();
        ledger.get(&payment_id).cloned().unwrap_or_default()
    }

    /// A plan for one invocation of `stage`, keyed by what it was handed.
    pub fn invocation(&self, stage: Stage, key: &[u64]) -> Arc<Invocation> {
        let mut full_key = vec![tag("crash"), tag(stage.name())];
        full_key.extend_from_slice(key);
        let crash_at = (stage.max_steps() > 0 && self.dice.chance(self.rates.crash, &full_key))
            .then(|| {
                full_key.push(tag("step"));
                1 + self.dice.below(stage.max_steps(), &full_key) as u32
            });
        Arc::new(Invocation {
            stage,
            crash_at,
            steps: AtomicU32::new(0),
            crashed: Notify::new(),
            payment_id: AtomicI64::new(0),
        })
    }
}

/// One Lambda invocation's fate: whether and where it dies.
pub struct Invocation {
    pub stage: Stage,
    crash_at: Option<u32>,
    steps: AtomicU32,
    crashed: Notify,
    /// The payment the invocation works on now (set by the store decorator).
    payment_id: AtomicI64,
}

tokio::task_local! {
    static INVOCATION: Arc<Invocation>;
}

/// How an invocation ended without answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interrupted {
    /// The process died at a step boundary.
    Crashed,
    /// The Lambda timeout killed it.
    TimedOut,
}

/// Runs `work` as one invocation: it is dropped where it stands (nothing after the crash
/// point runs, no cleanup) if it crashes or outlives `timeout`.
pub async fn invoke<F: Future>(
    invocation: Arc<Invocation>,
    timeout: Duration,
    work: F,
) -> Result<F::Output, Interrupted> {
    let crashed = invocation.clone();
    INVOCATION
        .scope(invocation, async move {
            tokio::select! {
                biased;
                () = crashed.crashed.notified() => Err(Interrupted::Crashed),
                result = tokio::time::timeout(timeout, work) => {
                    result.map_err(|_| Interrupted::TimedOut)
                }
            }
        })
        .await
}

pub(super) fn current() -> Option<Arc<Invocation>> {
    INVOCATION.try_with(Arc::clone).ok()
}

pub(super) fn working_on(payment_id: i64) {
    if let Some(invocation) = current() {
        invocation.payment_id.store(payment_id, Ordering::Relaxed);
    }
}

pub(super) fn current_payment() -> i64 {
    current().map_or(0, |i| i.payment_id.load(Ordering::Relaxed))
}

/// A step boundary: the invocation dies here if this is its crash point.
pub(super) async fn boundary(chaos: &Chaos, point: impl FnOnce() -> String) {
    let Some(invocation) = current() else { return };
    let step = invocation.steps.fetch_add(1, Ordering::Relaxed) + 1;
    if invocation.crash_at == Some(step) {
        let payment_id = invocation.payment_id.load(Ordering::Relaxed);
        chaos.fault(
            payment_id,
            format!("crash: {} {}", invocation.stage.name(), point()),
        );
        invocation.crashed.notify_one();
        std::future::pending::<()>().await;
    }
}
