//! The subscription lifecycle under chaos, on a movable clock: buyers pay (some again
//! before their month ends, some after they were removed), a few are refunded, most join
//! the channel, a few are the channel's administrators; the clock moves in six-hour
//! steps through four months while grants and refunds land in a seeded order, the
//! sweeper runs on every step and the lifecycle consumer drains its at-least-once queue
//! with crashes at step boundaries, store faults (refused, answer lost, slow) and
//! Telegram faults (429, 5xx, slow, too slow).
//!
//! Some buyers get an operator's `extend` after their removal; buyers click the links
//! the lifecycle sends them (through the fake's link state: expiry, revocation).
//!
//! Figures come from the fake Bot API's state and an independent model of each buyer's
//! paid time (its own fold, never the store's): expiries that differ from the model,
//! members removed while paid, expired members still in, removals per expiry, reminders
//! per expiry, buyers admitted through a link after their paid end, paid buyers left
//! outside with no invite pending.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use fake_bot_api::{FakeBotApi, FaultKind};
use serde_json::Value;
use telepay_core::access::{LifecycleWorker, Pacer, SubscriptionSweeper, grant_time, refund_time};
use telepay_core::clock::{Clock, ManualClock};
use telepay_core::directory::ChannelDirectory;
use telepay_core::order::UserId;
use telepay_core::store::ports::*;
use telepay_core::subscription::{
    AccessDuration, GrantSource, LifecycleSettings, LifecycleTexts, SubscriptionKey,
    SubscriptionStatus, TimeGrant,
};
use telepay_shared::telegram::{BotToken, TelegramBotApi};

use super::decorators::{ChaosQueue, ChaosStore, ChaosTelegram};
use super::dice::{Dice, tag};
use super::faults::{Chaos, FaultRates, LedgerEntry, Stage, invoke};
use super::sim_sqs::SimQueue;

const BOT_TOKEN: &str = "31337:lifecycle-chaos";
const CHANNEL: i64 = -1002222222222;
const USER_BASE: i64 = 7_000_000_000;
const DIRECTORY: &str = r#"{"channels":[{"channel_id":-1003111266231,"private_channel_id":-1002222222222,
    "title":"Chaos channel","tiers":[{"price_amount":3.21,"price_currency":"usd","subscription_days":30}]}]}"#;
const DAYS: i64 = 120;

/// The knobs of one lifecycle run.
#[derive(Debug, Clone)]
pub struct LifecycleChaosConfig {
    pub seed: u64,
    pub buyers: usize,
    pub rates: FaultRates,
    /// Share of buyers who pay a second time: 35 % of them before the end, 35 % after
    /// removal, 30 % the moment the time ends (in the step the removal runs in).
    pub second_payment: f64,
    pub refunded: f64,
    pub admins: f64,
    pub never_join: f64,
    /// Share of buyers an operator gives ten days after their first month ended.
    pub operator_extend: f64,
    /// Share of buyers whose first payment's invite is queued again after their first
    /// month ended (a reconciler re-queue after a long outage, a support re-issue).
    pub late_requeue: f64,
    /// Share of buyers whose only payment is held for review and refunded by NOWPayments
    /// before an operator approves it; the approval's processor message comes a step
    /// later, through the real processor.
    pub held_then_refunded: f64,
    pub visibility: Duration,
    pub call_timeout: Duration,
    /// How far the clock moves between sweeps (the deployed sweeper runs every 5
    /// minutes; a longer step only makes each sweep find more).
    pub step: TimeDelta,
}

impl LifecycleChaosConfig {
    pub fn new(seed: u64, buyers: usize) -> Self {
        Self {
            seed,
            buyers,
            rates: FaultRates::default(),
            second_payment: 0.2,
            refunded: 0.01,
            admins: 0.01,
            never_join: 0.1,
            operator_extend: 0.05,
            late_requeue: 0.05,
            held_then_refunded: 0.03,
            visibility: Duration::from_millis(40),
            call_timeout: Duration::from_millis(400),
            step: TimeDelta::hours(6),
        }
    }
}

/// One buyer's seeded plan.
#[derive(Debug, Clone)]
struct BuyerPlan {
    user_id: i64,
    /// (payment id, accepted at, refunded at).
    payments: Vec<(i64, DateTime<Utc>, Option<DateTime<Utc>>)>,
    /// When the buyer clicks their first link (None: never).
    joins_at: Option<DateTime<Utc>>,
    admin: bool,
    /// Pays again right at the end: Telegram is slow to remove them and the renewal lands
    /// after a seeded delay, so it often crosses the removal for real.
    renews_at_end: bool,
    /// When an operator gives them ten days (`telepay subscriptions extend`).
    extended_at: Option<DateTime<Utc>>,
    /// When their first payment's invite is queued again, after the first month.
    requeued_at: Option<DateTime<Utc>>,
    /// Their one payment was held, refunded, then approved (never joins: no invite).
    held_then_refunded: bool,
}

/// What an operator's extend gives in the run.
const EXTEND_DAYS: u32 = 10;

fn plans(dice: &Dice, config: &LifecycleChaosConfig, t0: DateTime<Utc>) -> Vec<BuyerPlan> {
    let hours = |n: u64| TimeDelta::hours(n as i64);
    (0..config.buyers as u64)
        .map(|i| {
            let user_id = USER_BASE + i as i64;
            let first = t0 + hours(dice.below(20 * 24, &[tag("first"), i]));
            let mut payments = vec![(user_id * 10, first)];
            let mut renews_at_end = false;
            if dice.chance(config.second_payment, &[tag("again"), i]) {
                let when = dice.unit(&[tag("before end"), i]);
                let after = if when < 0.35 {
                    hours(24 * 5 + dice.below(24 * 24, &[tag("renew at"), i]))
                } else if when < 0.7 {
                    hours(24 * 33 + dice.below(24 * 20, &[tag("return at"), i]))
                } else {
                    // Paid the moment the time ends: due in the step whose sweep finds
                    // the removal due.
                    renews_at_end = true;
                    TimeDelta::days(30)
                };
                payments.push((user_id * 10 + 1, first + after));
            }
            let mut payments: Vec<(i64, DateTime<Utc>, Option<DateTime<Utc>>)> = payments
                .into_iter()
                .enumerate()
                .map(|(n, (id, at))| {
                    let key = [tag("refund"), i, n as u64];
                    let refunded = dice
                        .chance(config.refunded, &key)
                        .then(|| at + hours(24 + dice.below(24 * 10, &key)));
                    (id, at, refunded)
                })
                .collect();
            let joins_at = (!dice.chance(config.never_join, &[tag("never joins"), i])).then(|| {
                first + TimeDelta::minutes(1 + dice.below(600, &[tag("joins"), i]) as i64)
            });
            let extended_at = dice
                .chance(config.operator_extend, &[tag("extend"), i])
                .then(|| {
                    first + TimeDelta::days(32) + hours(dice.below(24 * 30, &[tag("extend at"), i]))
                });
            let held_then_refunded = dice.chance(config.held_then_refunded, &[tag("held"), i]);
            if held_then_refunded {
                payments.truncate(1);
                renews_at_end = false;
            }
            let requeued_at = dice
                .chance(config.late_requeue, &[tag("late requeue"), i])
                .then(|| {
                    first
                        + TimeDelta::days(31)
                        + hours(dice.below(24 * 40, &[tag("late requeue at"), i]))
                });
            let joins_at = joins_at.filter(|_| !held_then_refunded);
            BuyerPlan {
                user_id,
                payments,
                joins_at,
                admin: dice.chance(config.admins, &[tag("admin"), i]),
                renews_at_end,
                extended_at,
                requeued_at,
                held_then_refunded,
            }
        })
        .collect()
}

/// The model: a buyer's paid end at `t`, from the grants processed and the refunds applied
/// by then, folded here independently of the store.
fn model_expiry(
    plan: &BuyerPlan,
    processed: &HashSet<i64>,
    refunded: &HashSet<i64>,
    extended: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let mut live: Vec<(DateTime<Utc>, i64, i64)> = plan
        .payments
        .iter()
        .filter(|(id, _, _)| processed.contains(id) && !refunded.contains(id))
        .map(|(id, at, _)| (*at, *id, 30))
        .collect();
    // An operator's grant sorts after a payment at the same instant (by its source).
    live.extend(extended.map(|at| (at, i64::MAX, i64::from(EXTEND_DAYS))));
    live.sort();
    let mut end: Option<DateTime<Utc>> = None;
    for (at, _, days) in live {
        let start = end.map_or(at, |end| end.max(at));
        end = Some(start + TimeDelta::days(days));
    }
    end
}

/// What the lifecycle run found.
#[derive(Debug, Clone, Default)]
pub struct LifecycleReport {
    pub seed: u64,
    pub buyers: usize,
    pub payments: usize,
    pub renewed_before_end: usize,
    pub returned_after_removal: usize,
    pub refunds: usize,
    pub expiry_differs_from_model: Vec<i64>,
    pub removed_while_paid: Vec<(i64, String)>,
    /// Removals a renewal crossed (granted while the removal ran): the buyer was let back in.
    pub crossed_removals: usize,
    pub expired_still_in: Vec<i64>,
    /// Buyers removed (as members) more than once for one expiry.
    pub removed_twice_for_one_expiry: Vec<i64>,
    pub removals: usize,
    /// unbanChatMember calls beyond the one that removed (crashes after the call).
    pub repeated_removal_calls: usize,
    pub removal_failed: usize,
    pub admins: usize,
    pub reminders: usize,
    /// Expiries that got more reminder messages than reminder points.
    /// Expiries with a reminder point sent twice, by what the buyer's ledger shows
    /// before the repeat: a send of unknown outcome retried, or "unexplained" (must be
    /// 0).
    pub reminder_repeats: BTreeMap<String, usize>,
    pub end_notices: usize,
    pub removal_failed_without_admin: Vec<i64>,
    /// Operator extends given (after the first month ended).
    pub operator_extends: usize,
    /// Links the lifecycle sent to paid buyers found outside, and joins through them.
    pub invited_back: usize,
    pub joined_through_invites: usize,
    /// Buyers a link admitted after their paid end (must be 0).
    pub admitted_after_paid_end: Vec<(i64, String)>,
    /// Paid buyers who want in, outside at the end with no invite pending (must be 0).
    pub paid_outside_no_invite: Vec<i64>,
    /// ... and those outside with an invite still pending (due after the last sweep).
    pub paid_outside_invite_pending: usize,
    /// Removal calls whose answer never came (the fake may have acted).
    pub removals_unanswered: u64,
    /// Invites queued again after the first month: ended with no link (not paid then) /
    /// sent (paid again by then).
    pub late_requeues: usize,
    pub late_requeues_ended_unsent: usize,
    pub late_requeues_sent_while_paid: usize,
    /// A late invite sent a link to a buyer not paid at that moment (must be 0).
    pub late_link_for_unpaid: Vec<i64>,
    /// Payments held, refunded, then approved through the processor.
    pub held_then_refunded: usize,
    /// ... of which bought time or queued a payout (must be 0).
    pub refunded_granted_or_paid_out: Vec<i64>,
    pub lifecycle_queue: super::sim_sqs::QueueFigures,
    pub injected: BTreeMap<String, u64>,
    pub wall_time: Duration,
}

impl LifecycleReport {
    pub fn violations(&self) -> Vec<String> {
        let mut broken = Vec::new();
        let mut check = |ok: bool, what: String| {
            if !ok {
                broken.push(what);
            }
        };
        check(
            self.expiry_differs_from_model.is_empty(),
            format!(
                "expiry differs from the model: {:?}",
                self.expiry_differs_from_model
            ),
        );
        check(
            self.removed_while_paid.is_empty(),
            format!("members removed while paid: {:?}", self.removed_while_paid),
        );
        check(
            self.expired_still_in.is_empty(),
            format!("expired members still in: {:?}", self.expired_still_in),
        );
        check(
            self.removed_twice_for_one_expiry.is_empty(),
            format!(
                "removed twice for one expiry: {:?}",
                self.removed_twice_for_one_expiry
            ),
        );
        check(
            self.removal_failed_without_admin.is_empty(),
            format!(
                "removal_failed without a cause: {:?}",
                self.removal_failed_without_admin
            ),
        );
        check(
            self.admitted_after_paid_end.is_empty(),
            format!(
                "admitted through a link after their paid end: {:?}",
                self.admitted_after_paid_end
            ),
        );
        check(
            self.late_link_for_unpaid.is_empty(),
            format!(
                "a late invite sent a link to a buyer not paid then: {:?}",
                self.late_link_for_unpaid
            ),
        );
        check(
            self.refunded_granted_or_paid_out.is_empty(),
            format!(
                "refunded payments that still bought time or were paid out: {:?}",
                self.refunded_granted_or_paid_out
            ),
        );
        check(
            self.paid_outside_no_invite.is_empty(),
            format!(
                "paid buyers left outside with no invite pending: {:?}",
                self.paid_outside_no_invite
            ),
        );
        check(
            !self.reminder_repeats.contains_key(UNEXPLAINED_REPEAT),
            format!(
                "reminders repeated with no send of unknown outcome to explain them: {}",
                self.reminder_repeats
                    .get(UNEXPLAINED_REPEAT)
                    .copied()
                    .unwrap_or_default()
            ),
        );
        broken
    }
}

impl std::fmt::Display for LifecycleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "subscription lifecycle chaos (seed {})", self.seed)?;
        writeln!(
            f,
            "  buyers {}, payments {} ({} renewed before the end, {} came back after removal), refunds {}",
            self.buyers,
            self.payments,
            self.renewed_before_end,
            self.returned_after_removal,
            self.refunds
        )?;
        writeln!(
            f,
            "  expiry differs from the model: {}",
            self.expiry_differs_from_model.len()
        )?;
        writeln!(
            f,
            "  members removed while paid: {} (removals a renewal crossed, buyer let back in: {})",
            self.removed_while_paid.len(),
            self.crossed_removals
        )?;
        writeln!(
            f,
            "  expired members still in at the end: {}",
            self.expired_still_in.len()
        )?;
        writeln!(
            f,
            "  removals: {} (removed twice for one expiry: {}; repeated unban calls after crashes: {})",
            self.removals,
            self.removed_twice_for_one_expiry.len(),
            self.repeated_removal_calls
        )?;
        writeln!(
            f,
            "  removal_failed: {} (admins: {})",
            self.removal_failed, self.admins
        )?;
        writeln!(
            f,
            "  reminders: {} (expiries with a repeated reminder: {}), end notices: {}",
            self.reminders,
            if self.reminder_repeats.is_empty() {
                "0".to_owned()
            } else {
                self.reminder_repeats
                    .iter()
                    .map(|(why, n)| format!("{n}: {why}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            self.end_notices
        )?;
        writeln!(
            f,
            "  operator extends after the end: {}; invites sent to paid buyers found outside: {} (joined through them: {})",
            self.operator_extends, self.invited_back, self.joined_through_invites
        )?;
        writeln!(
            f,
            "  admitted through a link after their paid end: {}; paid buyers outside with no invite pending: {} (invite still pending: {})",
            self.admitted_after_paid_end.len(),
            self.paid_outside_no_invite.len(),
            self.paid_outside_invite_pending
        )?;
        writeln!(
            f,
            "  removal calls unanswered (the unban may have landed): {}",
            self.removals_unanswered
        )?;
        writeln!(
            f,
            "  payments held, refunded by NOWPayments, then approved: {} (that still bought time or were paid out: {})",
            self.held_then_refunded,
            self.refunded_granted_or_paid_out.len()
        )?;
        writeln!(
            f,
            "  invites queued again after the first month: {} (ended access_ended, no link: {}; sent, paid again by then: {}; ended otherwise (refunded, blocked, not done after 50 deliveries): {}; a link to a buyer not paid then: {})",
            self.late_requeues,
            self.late_requeues_ended_unsent,
            self.late_requeues_sent_while_paid,
            self.late_requeues.saturating_sub(
                self.late_requeues_ended_unsent
                    + self.late_requeues_sent_while_paid
                    + self.late_link_for_unpaid.len()
            ),
            self.late_link_for_unpaid.len()
        )?;
        writeln!(
            f,
            "  lifecycle queue: sent {}, duplicated {}, redelivered {}, dead-lettered {}",
            self.lifecycle_queue.sent,
            self.lifecycle_queue.duplicated,
            self.lifecycle_queue.redelivered,
            self.lifecycle_queue.dead_lettered
        )?;
        let injected: u64 = self.injected.values().sum();
        writeln!(f, "  faults injected: {injected}")?;
        write!(f, "  wall time: {:.1} s", self.wall_time.as_secs_f64())
    }
}

/// The tally of removal calls that got no answer in time (a 5xx, or too slow).
const REMOVAL_UNANSWERED: &str = "lifecycle: removal call unanswered";

/// How long Telegram takes to remove a buyer who renews at the end: the window in which
/// their renewal crosses the removal.
const SLOW_REMOVAL: Duration = Duration::from_millis(150);

/// Per buyer who renews at the end: told when Telegram receives their removal, so half of
/// those renewals land while the removal call is under way (claimed, not completed).
type RemovalStarted = Arc<HashMap<i64, Arc<tokio::sync::Notify>>>;

/// Telegram's faults for the lifecycle's calls, keyed by the user and the attempt.
fn telegram_policy(
    chaos: Arc<Chaos>,
    call_timeout: Duration,
    slow_removals: RemovalStarted,
) -> impl Fn(&str, &Value) -> Option<FaultKind> + Send + Sync {
    move |method, params| {
        let user = match method {
            "sendMessage" => params["chat_id"].as_i64()?,
            "unbanChatMember" => params["user_id"].as_i64()?,
            _ => return None,
        };
        if method == "unbanChatMember"
            && let Some(started) = slow_removals.get(&user)
        {
            started.notify_one();
            return Some(FaultKind::Delay(SLOW_REMOVAL));
        }
        let (dice, rates) = (&chaos.dice, &chaos.rates);
        let attempt = chaos.attempt(method, user);
        let roll = dice.unit(&[tag("lifecycle telegram"), tag(method), user as u64, attempt]);
        let faults = [
            (rates.telegram_429, "telegram 429", FaultKind::RetryAfter(1)),
            (rates.telegram_500, "telegram 500", FaultKind::ServerError),
            (
                rates.telegram_too_slow,
                "telegram answered too late",
                FaultKind::Delay(call_timeout + Duration::from_millis(200)),
            ),
            (
                rates.telegram_slow,
                "telegram slow",
                FaultKind::Delay(call_timeout / 4),
            ),
        ];
        let mut floor = 0.0;
        for (rate, name, kind) in faults {
            floor += rate;
            if roll < floor {
                chaos.count(format!("lifecycle: {name}"));
                if method == "unbanChatMember" && name != "telegram 429" && name != "telegram slow"
                {
                    chaos.count(REMOVAL_UNANSWERED);
                }
                return Some(kind);
            }
        }
        None
    }
}

/// Runs the lifecycle leg against `store` and reports.
pub async fn run<S: PaymentStore + 'static>(
    store: S,
    config: LifecycleChaosConfig,
) -> LifecycleReport {
    let started = Instant::now();
    let dice = Dice::new(config.seed);
    let chaos = Arc::new(Chaos::new(dice, config.rates.clone()));
    let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let plans = plans(&dice, &config, t0);
    let fake = FakeBotApi::start(BOT_TOKEN).await;
    let removal_started: RemovalStarted = Arc::new(
        plans
            .iter()
            .filter(|p| p.renews_at_end)
            .map(|p| (p.user_id, Arc::new(tokio::sync::Notify::new())))
            .collect(),
    );
    fake.set_policy(Box::new(telegram_policy(
        chaos.clone(),
        config.call_timeout,
        removal_started.clone(),
    )));
    let clock = ManualClock::frozen_at(t0);
    let settings = LifecycleSettings::default();
    let store = ChaosStore::new(Arc::new(store), chaos.clone());
    let queue = Arc::new(SimQueue::new(
        "lifecycle",
        config.visibility,
        5,
        config.rates.sqs_duplicate,
        dice,
    ));
    let sweeper = SubscriptionSweeper::new(
        store.clone(),
        ChaosQueue::new(queue.clone(), chaos.clone()),
        settings.clone(),
        10_000,
    )
    .with_clock(clock.clone());
    let telegram = TelegramBotApi::new(BotToken::new(BOT_TOKEN).unwrap(), Some(&fake.url()))
        .expect("the fake's URL");
    let mut worker = LifecycleWorker::new(
        store.clone(),
        ChaosTelegram::new(telegram, chaos.clone()),
        ChannelDirectory::from_json(DIRECTORY).unwrap(),
        settings.clone(),
        LifecycleTexts::default(),
    )
    .with_clock(clock.clone());
    worker.call_timeout = config.call_timeout;
    let pacer = Pacer::unlimited();
    // The invite sender, for first payments whose invite is queued again late.
    let sender = telepay_core::invite::InviteSender::new(
        store.clone(),
        ChaosTelegram::new(
            TelegramBotApi::new(BotToken::new(BOT_TOKEN).unwrap(), Some(&fake.url()))
                .expect("the fake's URL"),
            chaos.clone(),
        ),
        ChannelDirectory::from_json(DIRECTORY).unwrap(),
        telepay_core::invite::InviteSettings {
            call_timeout: config.call_timeout,
            lease_grace: Duration::ZERO,
            ..telepay_core::invite::InviteSettings::default()
        },
    )
    .with_lifecycle(settings.clone())
    .with_clock(clock.clone());
    // Each buyer's first payment as the webhook recorded it (what an invite claims).
    for plan in plans
        .iter()
        .filter(|p| p.requeued_at.is_some() || p.held_then_refunded)
    {
        let (id, at, _) = plan.payments[0];
        let mut record = telepay_core::fixtures::sample_record(id);
        record.user_id = UserId::new(plan.user_id).unwrap();
        record.created_at = at;
        if let Some(purchase) = record.purchase.as_mut() {
            purchase.private_channel_id = CHANNEL;
        }
        while store.record_accepted(&record).await.is_err() {}
    }
    // The processor an approval's message reaches; its payout queue is what was paid out.
    let processor = telepay_core::processor::PaymentProcessor::new(
        store.clone(),
        telepay_core::queue::memory::MemoryQueue::new(),
        telepay_core::queue::memory::MemoryQueue::new(),
    )
    .with_lifecycle(settings.clone())
    .with_clock(clock.clone());
    let mut held_refunded: HashSet<i64> = HashSet::new();
    let mut held_approved: HashSet<i64> = HashSet::new();
    let mut late_requeued: HashSet<i64> = HashSet::new();
    let mut late_requeues_ended_unsent = 0;
    let mut late_requeues_sent_while_paid = 0;
    let mut late_link_for_unpaid = Vec::new();

    for plan in plans.iter().filter(|p| p.admin) {
        fake.add_admin(CHANNEL, plan.user_id);
    }
    let by_user: HashMap<i64, &BuyerPlan> = plans.iter().map(|p| (p.user_id, p)).collect();
    let mut processed: HashMap<i64, HashSet<i64>> = HashMap::new();
    let mut refunded: HashMap<i64, HashSet<i64>> = HashMap::new();
    let mut joined: HashSet<i64> = HashSet::new();
    // Times each buyer entered the channel (first join, and back after a removal).
    let mut entries: HashMap<i64, usize> = HashMap::new();
    // Each removal the fake saw, with the simulated time of its step.
    let mut removals_seen = 0;
    let mut removed_while_paid = Vec::new();
    let mut removed_at: Vec<(i64, DateTime<Utc>, bool)> = Vec::new();
    let mut crossed_removals = 0;
    // Operator extends given, by buyer: when.
    let mut extended: HashMap<i64, DateTime<Utc>> = HashMap::new();
    let operator = telepay_core::operator::Operator::new(&store, clock.clone());
    let mut messages_seen = 0;
    let mut invited_back = 0;
    let mut joined_through_invites = 0;
    let mut admitted_after_paid_end = Vec::new();

    let steps = (TimeDelta::days(DAYS).num_seconds() / config.step.num_seconds()) as u64;
    for step in 0..steps {
        let now = clock.now();
        // Grants and refunds that are due, in a seeded order (either order must agree).
        let mut due: Vec<(u64, i64, i64, bool)> = Vec::new();
        for plan in plans.iter().filter(|p| !p.held_then_refunded) {
            for (id, at, refund_at) in &plan.payments {
                if *at <= now && !processed.get(&plan.user_id).is_some_and(|p| p.contains(id)) {
                    due.push((
                        dice.below(1 << 20, &[tag("order"), *id as u64]),
                        plan.user_id,
                        *id,
                        false,
                    ));
                }
                if refund_at.is_some_and(|r| r <= now)
                    && !refunded.get(&plan.user_id).is_some_and(|r| r.contains(id))
                {
                    due.push((
                        dice.below(1 << 20, &[tag("order"), *id as u64, 1]),
                        plan.user_id,
                        *id,
                        true,
                    ));
                }
            }
        }
        due.sort();
        // Held payments: NOWPayments refunds them at once; an operator approves them a
        // step later, and the processor handles the approval's message.
        for plan in plans.iter().filter(|p| p.held_then_refunded) {
            let (id, at, _) = plan.payments[0];
            if at > now {
                continue;
            }
            let key = SubscriptionKey::new(UserId::new(plan.user_id).unwrap(), CHANNEL);
            if held_refunded.insert(id) {
                while refund_time(&store, key, &GrantSource::Payment(id), now, &settings)
                    .await
                    .is_err()
                {}
                refunded.entry(plan.user_id).or_default().insert(id);
            } else if held_approved.insert(id) {
                let record = loop {
                    if let Ok(Some(record)) = store
                        .get_payment(telepay_core::ipn::PaymentId::new(id).unwrap())
                        .await
                    {
                        break record;
                    }
                };
                let purchase = record.purchase.clone().expect("a recorded purchase");
                let message =
                    telepay_core::queue::ProcessorMessage::from_record(&record, &purchase)
                        .to_json();
                for _ in 0..50 {
                    if processor.process(&message).await
                        == telepay_core::queue::MessageOutcome::Done
                    {
                        break;
                    }
                }
                processed.entry(plan.user_id).or_default().insert(id);
            }
        }
        // Operator extends that are due (support giving a removed buyer ten days).
        for plan in &plans {
            if plan.extended_at.is_some_and(|at| at <= now) && !extended.contains_key(&plan.user_id)
            {
                let key = SubscriptionKey::new(UserId::new(plan.user_id).unwrap(), CHANNEL);
                // Retried until it lands, as an operator would: after an error, only once
                // `subscriptions show` says it did not (an answer lost in flight may hide
                // a write that applied, and each extend is a fresh grant).
                loop {
                    if operator
                        .extend(key, EXTEND_DAYS, "chaos: goodwill", &settings)
                        .await
                        .is_ok()
                    {
                        break;
                    }
                    let shown = loop {
                        if let Ok(shown) = store.get_subscription(key).await {
                            break shown;
                        }
                    };
                    let applied = shown.is_some_and(|s| {
                        s.grants.iter().any(|g| {
                            matches!(g.source, GrantSource::Operator(_)) && g.accepted_at == now
                        })
                    });
                    if applied {
                        break;
                    }
                }
                extended.insert(plan.user_id, now);
            }
        }
        // Invites queued again after the first month (a reconciler re-queue after a long
        // outage, a support re-issue), delivered until done as SQS would.
        for plan in &plans {
            if plan.requeued_at.is_none_or(|at| at > now) || !late_requeued.insert(plan.user_id) {
                continue;
            }
            let id = plan.payments[0].0;
            let body = format!(
                r#"{{"v":1,"payment_id":{id},"user_id":{},"channel_id":-1003111266231}}"#,
                plan.user_id
            );
            for _ in 0..50 {
                let deadline = sender.deadline_in(Duration::from_secs(30));
                if sender.deliver(&body, deadline).await
                    == telepay_core::queue::MessageOutcome::Done
                {
                    break;
                }
            }
            let record = loop {
                if let Ok(Some(record)) = store
                    .get_payment(telepay_core::ipn::PaymentId::new(id).unwrap())
                    .await
                {
                    break record;
                }
            };
            let paid_until = model_expiry(
                plan,
                &processed.get(&plan.user_id).cloned().unwrap_or_default(),
                &refunded.get(&plan.user_id).cloned().unwrap_or_default(),
                extended.get(&plan.user_id).copied(),
            );
            let paid_now = paid_until.is_some_and(|end| end + settings.grace > now);
            if record.telegram_invite_sent {
                if paid_now {
                    late_requeues_sent_while_paid += 1;
                } else {
                    late_link_for_unpaid.push(plan.user_id);
                }
            } else if record
                .invite_failure_reason
                .as_deref()
                .is_some_and(|why| why.starts_with("access_ended"))
            {
                late_requeues_ended_unsent += 1;
            }
        }
        // The grants and refunds land while the sweeper and the consumer run: a renewal
        // can cross a removal for real.
        let apply = async {
            for (_, user, id, is_refund) in &due {
                let renews_at_end = by_user[user].renews_at_end
                    && !*is_refund
                    && by_user[user].payments.get(1).is_some_and(|p| p.0 == *id);
                if renews_at_end && dice.chance(0.5, &[tag("crosses"), *id as u64]) {
                    // Lands while Telegram works on the removal (if it runs in this step).
                    let _ =
                        tokio::time::timeout(4 * SLOW_REMOVAL, removal_started[user].notified())
                            .await;
                }
                let key = SubscriptionKey::new(UserId::new(*user).unwrap(), CHANNEL);
                let accepted_at = by_user[user]
                    .payments
                    .iter()
                    .find(|p| p.0 == *id)
                    .unwrap()
                    .1;
                // As SQS and NOWPayments do: retried until it lands.
                loop {
                    let result = if *is_refund {
                        refund_time(&store, key, &GrantSource::Payment(*id), now, &settings)
                            .await
                            .map(|_| ())
                    } else {
                        let grant = TimeGrant::new(
                            GrantSource::Payment(*id),
                            accepted_at,
                            AccessDuration::from_days(30).unwrap(),
                        );
                        Box::pin(grant_time(&store, key, &grant, now, &settings))
                            .await
                            .map(|_| ())
                    };
                    if result.is_ok() {
                        break;
                    }
                }
            }
        };
        let lifecycle = async {
            if let Err(err) = sweeper.sweep().await {
                chaos.count(format!("sweep failed: {err}"));
            }
            drain(&queue, &worker, &pacer, &chaos, step, config.visibility).await;
        };
        tokio::join!(apply, lifecycle);
        let mut granted_now = HashSet::new();
        for (_, user, id, is_refund) in &due {
            if *is_refund {
                refunded.entry(*user).or_default().insert(*id);
            } else {
                processed.entry(*user).or_default().insert(*id);
                granted_now.insert(*user);
            }
        }
        // The invite path lets a buyer who was removed back in (a grant that crossed a
        // removal always carries a link).
        for user in &granted_now {
            if joined.contains(user) && !fake.is_member(CHANNEL, *user) {
                fake.add_member(CHANNEL, *user);
                *entries.entry(*user).or_default() += 1;
            }
        }
        // Buyers who want in click the links the lifecycle sent them (paid buyers found
        // outside), through the fake's link state.
        let messages = fake.delivered("sendMessage");
        for call in &messages[messages_seen..] {
            let user = call.chat_id().unwrap_or_default();
            let Some(link) = call
                .text()
                .unwrap_or_default()
                .split_whitespace()
                .find(|word| word.starts_with("https://t.me/+"))
            else {
                continue;
            };
            invited_back += 1;
            let Some(plan) = by_user.get(&user) else {
                continue;
            };
            if !joined.contains(&user) || plan.admin {
                continue;
            }
            if fake.join(link, user, now.timestamp()) == fake_bot_api::JoinOutcome::Joined {
                joined_through_invites += 1;
                *entries.entry(user).or_default() += 1;
                let paid_until = model_expiry(
                    plan,
                    &processed.get(&user).cloned().unwrap_or_default(),
                    &refunded.get(&user).cloned().unwrap_or_default(),
                    extended.get(&user).copied(),
                );
                if paid_until.is_none_or(|end| end + settings.grace <= now) {
                    admitted_after_paid_end.push((user, now.to_rfc3339()));
                }
            }
        }
        messages_seen = messages.len();
        // Buyers click their first link.
        for plan in &plans {
            if plan.joins_at.is_some_and(|at| at <= now) && joined.insert(plan.user_id) {
                fake.add_member(CHANNEL, plan.user_id);
                *entries.entry(plan.user_id).or_default() += 1;
            }
        }
        // Every removal that happened in this step, held against the model.
        let removals = fake.removals();
        for removal in &removals[removals_seen..] {
            let plan = by_user[&removal.user_id];
            let paid_until = model_expiry(
                plan,
                &processed.get(&removal.user_id).cloned().unwrap_or_default(),
                &refunded.get(&removal.user_id).cloned().unwrap_or_default(),
                extended.get(&removal.user_id).copied(),
            );
            if removal.was_member && paid_until.is_some_and(|end| end + settings.grace > now) {
                if granted_now.contains(&removal.user_id) {
                    // A renewal crossed the removal in this very step: allowed, if the
                    // buyer is let back in (above) and later removed only once more.
                    crossed_removals += 1;
                } else {
                    removed_while_paid.push((removal.user_id, now.to_rfc3339()));
                }
            }
            removed_at.push((removal.user_id, now, removal.was_member));
        }
        removals_seen = removals.len();
        clock.advance(config.step);
    }

    // Figures from the fake's state and the model, never from the store.
    let end = clock.now();
    let mut report = LifecycleReport {
        seed: config.seed,
        buyers: plans.len(),
        payments: plans.iter().map(|p| p.payments.len()).sum(),
        refunds: plans
            .iter()
            .flat_map(|p| &p.payments)
            .filter(|p| p.2.is_some())
            .count(),
        admins: plans.iter().filter(|p| p.admin).count(),
        removed_while_paid,
        crossed_removals,
        operator_extends: extended.len(),
        held_then_refunded: held_approved.len(),
        late_requeues: late_requeued.len(),
        late_requeues_ended_unsent,
        late_requeues_sent_while_paid,
        late_link_for_unpaid,
        invited_back,
        joined_through_invites,
        admitted_after_paid_end,
        ..LifecycleReport::default()
    };
    for plan in &plans {
        if plan.payments.len() > 1 {
            let first_end = plan.payments[0].1 + TimeDelta::days(30);
            if plan.payments[1].1 < first_end {
                report.renewed_before_end += 1;
            } else {
                report.returned_after_removal += 1;
            }
        }
        let user = plan.user_id;
        let key = SubscriptionKey::new(UserId::new(user).unwrap(), CHANNEL);
        let model = model_expiry(
            plan,
            &processed.get(&user).cloned().unwrap_or_default(),
            &refunded.get(&user).cloned().unwrap_or_default(),
            extended.get(&user).copied(),
        );
        // The read suffers the same faults: retried until it answers.
        let stored = loop {
            if let Ok(stored) = store.get_subscription(key).await {
                break stored;
            }
        };
        let stored_expiry = stored.as_ref().map(|s| s.expires_at);
        let all_refunded = model.is_none();
        if !all_refunded && stored_expiry != model {
            report.expiry_differs_from_model.push(user);
        }
        let expired = model.is_none_or(|end_at| end_at + settings.grace <= end - config.step);
        if let Some(subscription) = &stored
            && subscription.status(end, &settings) == SubscriptionStatus::RemovalFailed
        {
            report.removal_failed += 1;
            if !plan.admin {
                report.removal_failed_without_admin.push(user);
            }
        }
        if expired && fake.is_member(CHANNEL, user) && !plan.admin {
            report.expired_still_in.push(user);
        }
        // A paid buyer who wants in is in, or has an invite on its way.
        let paid = model.is_some_and(|end_at| end_at + settings.grace > end);
        if paid && joined.contains(&user) && !plan.admin && !fake.is_member(CHANNEL, user) {
            if stored.as_ref().is_some_and(|s| s.needs_invite) {
                report.paid_outside_invite_pending += 1;
            } else {
                report.paid_outside_no_invite.push(user);
            }
        }
    }
    // Held, refunded, approved: no time bought, no payout queued.
    let paid_out: Vec<String> = processor.payout_queue.bodies();
    for plan in plans.iter().filter(|p| p.held_then_refunded) {
        let id = plan.payments[0].0;
        if !held_approved.contains(&id) {
            continue;
        }
        let key = SubscriptionKey::new(UserId::new(plan.user_id).unwrap(), CHANNEL);
        let stored = loop {
            if let Ok(stored) = store.get_subscription(key).await {
                break stored;
            }
        };
        let bought_time = stored.is_some_and(|s| {
            s.grants
                .iter()
                .any(|g| g.source == GrantSource::Payment(id) && g.refunded_at.is_none())
        });
        let needle = format!("\"payment_id\":{id},");
        if bought_time || paid_out.iter().any(|body| body.contains(&needle)) {
            report.refunded_granted_or_paid_out.push(id);
        }
    }
    // Removals per expiry: a member is removed at most once between two grants.
    let mut removals_by_user: HashMap<i64, Vec<(DateTime<Utc>, bool)>> = HashMap::new();
    for (user, at, was_member) in &removed_at {
        removals_by_user
            .entry(*user)
            .or_default()
            .push((*at, *was_member));
    }
    for (user, removals) in &removals_by_user {
        let member_removals = removals.iter().filter(|r| r.1).count();
        report.removals += member_removals;
        report.repeated_removal_calls += removals.len() - member_removals;
        // A member leaves once per time they came in: more is a second removal.
        if member_removals > entries.get(user).copied().unwrap_or_default() {
            report.removed_twice_for_one_expiry.push(*user);
        }
    }
    // Messages: reminders and end notices, per buyer and expiry text.
    let mut reminders: HashMap<(i64, String), usize> = HashMap::new();
    for call in fake.delivered("sendMessage") {
        let text = call.text().unwrap_or_default().to_owned();
        let user = call.chat_id().unwrap_or_default();
        if text.contains(" ends on ") {
            report.reminders += 1;
            *reminders.entry((user, text)).or_default() += 1;
        } else if text.contains(" ended on ") {
            report.end_notices += 1;
        }
    }
    // The text names the expiry: more messages with it than reminder points means a
    // point was sent twice (a send of unknown outcome, retried).
    let points = settings.reminder_points().len();
    for ((user, _), _) in reminders.iter().filter(|(_, n)| **n > points) {
        let why =
            unknown_outcome(&chaos.ledger(*user)).unwrap_or_else(|| UNEXPLAINED_REPEAT.to_owned());
        *report.reminder_repeats.entry(why).or_default() += 1;
    }
    report.lifecycle_queue = queue.figures();
    report.injected = chaos.tally();
    // A figure, not a fault of its own (its fault is counted under its name).
    report.removals_unanswered = report
        .injected
        .remove(REMOVAL_UNANSWERED)
        .unwrap_or_default();
    report.wall_time = started.elapsed();
    report
}

const UNEXPLAINED_REPEAT: &str = "unexplained";

/// A send whose outcome the worker never learned, from a buyer's ledger: a send
/// abandoned at the call timeout, or a fault (a crash, a failed completion write) after
/// an answered send and before the next. `None` when the ledger shows none.
fn unknown_outcome(ledger: &[LedgerEntry]) -> Option<String> {
    let mut after_send = false;
    for entry in ledger {
        match entry {
            LedgerEntry::SendAbandoned => {
                return Some("sendMessage answered after the call timeout".into());
            }
            LedgerEntry::SendAnswered => after_send = true,
            LedgerEntry::Fault(fault) if after_send => {
                let fault = fault.split(" (").next().unwrap_or(fault);
                return Some(format!("{fault} after an answered sendMessage"));
            }
            LedgerEntry::Fault(_) => {}
        }
    }
    None
}

/// Delivers the lifecycle queue's messages to the handler, as the event source mapping
/// does, each invocation with its seeded crash point, until nothing is left that can be
/// done in this step (a message held by a live lease waits for a later step).
async fn drain<S: PaymentStore + 'static>(
    queue: &SimQueue,
    worker: &LifecycleWorker<ChaosStore<S>, ChaosTelegram<TelegramBotApi>>,
    pacer: &Pacer,
    chaos: &Chaos,
    step: u64,
    visibility: Duration,
) {
    let mut invocation_number = 0u64;
    for _round in 0..3 {
        loop {
            let batch = queue.receive(5);
            if batch.is_empty() {
                break;
            }
            invocation_number += 1;
            let invocation = chaos.invocation(Stage::Lifecycle, &[step, invocation_number]);
            let event = telepay_shared::sqs_event::sqs_batch(batch.clone(), Duration::from_secs(5));
            let delays = NoDelay;
            match invoke(
                invocation,
                Duration::from_secs(5),
                subscription_lifecycle::handle(worker, pacer, &delays, event),
            )
            .await
            {
                Ok(Ok(response)) => queue.settle(&batch, &response),
                Ok(Err(never)) => match never {},
                Err(interrupted) => chaos.count(format!("lifecycle invocation {interrupted:?}")),
            }
        }
        if queue.outstanding() == 0 {
            return;
        }
        // Hidden messages come back after their visibility timeout.
        tokio::time::sleep(visibility + Duration::from_millis(20)).await;
    }
}

/// The chaos queue hides a 429'd message for its visibility timeout, as SQS would after
/// a failed ChangeMessageVisibility.
struct NoDelay;

impl telepay_core::queue::RetryDelay for NoDelay {
    async fn delay_redelivery(
        &self,
        _receipt_handle: &str,
        _delay: Duration,
    ) -> Result<(), telepay_core::queue::QueueError> {
        Ok(())
    }
}
