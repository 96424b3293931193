//! The rules of paid time and of the lifecycle's work, on records alone (no store). Its
//! helpers serve the ledger's tests in `crate::access` too.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::record::ms;
use super::*;
use crate::order::UserId;
use crate::store::SubscriptionFilter;

pub(crate) fn key() -> SubscriptionKey {
    SubscriptionKey::new(UserId::new(6271402111).unwrap(), -1002222222222)
}

pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

pub(crate) fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

pub(crate) fn paid(payment_id: i64, at: DateTime<Utc>, length_days: u32) -> TimeGrant {
    TimeGrant::new(
        GrantSource::Payment(payment_id),
        at,
        AccessDuration::from_days(length_days).unwrap(),
    )
}

pub(crate) fn settings() -> LifecycleSettings {
    LifecycleSettings::default()
}

#[test]
fn paid_time_adds_up_and_a_gap_starts_afresh() {
    // GIVEN 30 days bought, then 30 more 10 days in, then 30 more after it all lapsed
    let a = paid(1, t0(), 30);
    let b = paid(2, t0() + days(10), 30);
    let c = paid(3, t0() + days(100), 30);
    // THEN the second extends the first; the third starts at its own time
    assert_eq!(
        fold_expiry(&[a.clone(), b.clone()], &[]),
        Some(t0() + days(60))
    );
    assert_eq!(fold_expiry(&[c.clone(), a, b], &[]), Some(t0() + days(130)));
}

#[test]
fn two_payments_give_the_same_expiry_in_either_order() {
    let early = paid(7, t0(), 30);
    let late = paid(3, t0() + days(40), 30);
    let s = settings();
    let one_way = Subscription::first(key(), early.clone(), t0(), &s)
        .grant(late.clone(), t0() + days(41), &s)
        .unwrap();
    let other_way = Subscription::first(key(), late, t0() + days(41), &s)
        .grant(early, t0() + days(42), &s)
        .unwrap();
    assert_eq!(one_way.expires_at, t0() + days(70));
    assert_eq!(other_way.expires_at, one_way.expires_at);
}

#[test]
fn a_payment_counts_once_and_a_refund_once() {
    let s = settings();
    let first = Subscription::first(key(), paid(1, t0(), 30), t0(), &s);
    let second = first.grant(paid(2, t0(), 30), t0(), &s).unwrap();
    assert_eq!(
        second.grant(paid(2, t0(), 30), t0(), &s),
        Err(Refused::AlreadyGranted)
    );
    let refunded = second
        .refund(&GrantSource::Payment(2), t0() + days(1), &s)
        .unwrap();
    assert_eq!(refunded.expires_at, t0() + days(30));
    assert_eq!(
        refunded.refund(&GrantSource::Payment(2), t0() + days(1), &s),
        Err(Refused::NothingToRefund)
    );
    // A refund ahead of its grant: the grant, when it comes, counts nothing.
    let ahead = refunded
        .refund(&GrantSource::Payment(3), t0() + days(1), &s)
        .unwrap();
    assert_eq!(ahead.expires_at, t0() + days(30));
    assert_eq!(
        ahead.grant(paid(3, t0(), 30), t0() + days(2), &s),
        Err(Refused::AlreadyGranted)
    );
    // A refunded payment redelivered is not granted again either.
    assert_eq!(
        refunded.grant(paid(2, t0(), 30), t0(), &s),
        Err(Refused::AlreadyGranted)
    );
}

#[test]
fn reminders_come_once_per_point_and_a_renewal_cancels_the_old_ones() {
    let s = settings();
    let sub = Subscription::first(key(), paid(1, t0(), 30), t0(), &s);
    let expiry = t0() + days(30);
    assert_eq!(sub.next_due_at, Some(expiry - days(3)));
    assert_eq!(sub.due_task(expiry - days(4), &s), None);

    // WHEN the 3-day point passes, THEN that reminder is due, once
    let at = expiry - days(3);
    let three_days = Task::Reminder {
        before_seconds: 3 * 86_400,
    };
    assert_eq!(sub.due_task(at, &s), Some(three_days));
    let claimed = sub.claim(three_days, "w1", at, &s).unwrap();
    assert_eq!(
        claimed.claim(three_days, "w2", at, &s),
        Err(Refused::Leased {
            until: at + s.lease
        })
    );
    let (sent, _) = claimed
        .complete("w1", TaskDone::ReminderSent, at, &s)
        .unwrap();
    assert_eq!(sent.due_task(at + days(1), &s), None);
    assert_eq!(sent.next_due_at, Some(expiry - days(1)));

    // WHEN the buyer renews before the 1-day point, THEN the old expiry's reminders are
    // gone and the new expiry's come in their time
    let renewed = sent
        .grant(paid(2, expiry - days(2), 30), expiry - days(2), &s)
        .unwrap();
    assert_eq!(renewed.expires_at, expiry + days(30));
    assert_eq!(renewed.due_task(expiry - days(1), &s), None);
    assert_eq!(renewed.next_due_at, Some(expiry + days(27)));
}

#[test]
fn reminder_points_already_past_when_the_time_was_bought_are_skipped() {
    // GIVEN a 2-day tier: its 3-day point was past before it began
    let s = settings();
    let sub = Subscription::first(key(), paid(1, t0(), 2), t0(), &s);
    assert_eq!(sub.due_task(t0(), &s), None);
    assert_eq!(sub.next_due_at, Some(t0() + days(1)));
    assert_eq!(
        sub.due_task(t0() + days(1), &s),
        Some(Task::Reminder {
            before_seconds: 86_400
        })
    );
}

#[test]
fn removal_is_due_once_after_expiry_and_grace_then_the_notice() {
    let s = LifecycleSettings::new([days(1)], TimeDelta::hours(2)).unwrap();
    let sub = Subscription::first(key(), paid(1, t0(), 30), t0(), &s);
    let expiry = t0() + days(30);
    assert_eq!(sub.due_task(expiry + TimeDelta::hours(1), &s), None);
    let at = expiry + TimeDelta::hours(2);
    assert_eq!(sub.due_task(at, &s), Some(Task::Removal));
    let claimed = sub.claim(Task::Removal, "r1", at, &s).unwrap();
    let (removed, completion) = claimed.complete("r1", TaskDone::Removed, at, &s).unwrap();
    assert_eq!(completion, Completion::Recorded);
    assert_eq!(removed.status(at, &s), SubscriptionStatus::Removed);
    assert_eq!(removed.due_task(at, &s), Some(Task::EndNotice));
    assert_eq!(
        removed.claim(Task::Removal, "r2", at, &s),
        Err(Refused::NotDue),
        "removed once"
    );
    let noticed = removed.claim(Task::EndNotice, "n1", at, &s).unwrap();
    let (done, _) = noticed
        .complete("n1", TaskDone::NoticeSent, at, &s)
        .unwrap();
    assert_eq!(done.due_task(at + days(400), &s), None);
    assert_eq!(done.next_due_at, None, "off the due index");
}

#[test]
fn a_refund_after_the_removal_keeps_the_removal_and_its_one_notice() {
    // GIVEN two payments of 30 days, the buyer removed and told once both ran out
    let s = settings();
    let sub = Subscription::first(key(), paid(1, t0(), 30), t0(), &s)
        .grant(paid(2, t0(), 30), t0(), &s)
        .unwrap();
    let at = t0() + days(61);
    let claimed = sub.claim(Task::Removal, "r1", at, &s).unwrap();
    let (removed, _) = claimed.complete("r1", TaskDone::Removed, at, &s).unwrap();
    let noticed = removed.claim(Task::EndNotice, "n1", at, &s).unwrap();
    let (done, _) = noticed
        .complete("n1", TaskDone::NoticeSent, at, &s)
        .unwrap();
    // WHEN the second payment is refunded later: the expiry moves, but stays in the past
    let later = at + days(3);
    let refunded = done.refund(&GrantSource::Payment(2), later, &s).unwrap();
    assert_eq!(refunded.expires_at, t0() + days(30));
    // THEN the removal stands, re-anchored to the new expiry: nothing is due, the
    // buyer is neither removed nor told again, and no invite is owed
    assert_eq!(refunded.status(later, &s), SubscriptionStatus::Removed);
    assert_eq!(refunded.due_task(later, &s), None);
    assert_eq!(refunded.next_due_at, None, "off the due index");
    assert!(!refunded.needs_invite);
    assert_eq!(
        refunded.ended.as_ref().map(|ended| ended.for_expiry),
        Some(t0() + days(30))
    );
}

#[test]
fn a_renewal_crossing_a_removal_marks_the_buyer_for_an_invite() {
    let s = settings();
    let sub = Subscription::first(key(), paid(1, t0(), 30), t0(), &s);
    let at = t0() + days(30);
    let renewal = paid(2, at, 30);

    // Before the claim: nothing to remove, nothing to invite back.
    let early = sub.grant(renewal.clone(), at, &s).unwrap();
    assert_eq!(early.due_task(at, &s), None);
    assert!(!early.needs_invite);

    // Between the claim and the Telegram call, or after the call and before completing:
    // the grant sees the removal lease; the completion finds the expiry moved.
    let claimed = sub.claim(Task::Removal, "r1", at, &s).unwrap();
    let crossed = claimed.grant(renewal.clone(), at, &s).unwrap();
    assert!(crossed.needs_invite);
    let (after, completion) = crossed.complete("r1", TaskDone::Removed, at, &s).unwrap();
    assert_eq!(completion, Completion::ExpiryMoved);
    assert_eq!(after.status(at, &s), SubscriptionStatus::Active);
    assert!(after.needs_invite);
    assert_eq!(after.ended, None);

    // After the removal completed: the grant reopens access and needs an invite.
    let (removed, _) = claimed.complete("r1", TaskDone::Removed, at, &s).unwrap();
    let back = removed
        .grant(paid(3, at + days(1), 30), at + days(1), &s)
        .unwrap();
    assert!(back.needs_invite);
    assert_eq!(back.expires_at, at + days(31));
    assert_eq!(back.status(at + days(1), &s), SubscriptionStatus::Active);
}

#[test]
fn a_removal_refused_for_good_leaves_the_index_until_an_operator_retries() {
    let s = settings();
    let sub = Subscription::first(key(), paid(1, t0(), 1), t0(), &s);
    let at = t0() + days(1);
    let claimed = sub.claim(Task::Removal, "r1", at, &s).unwrap();
    let reason = "Bad Request: user is an administrator of the chat".to_string();
    let (failed, _) = claimed
        .complete("r1", TaskDone::RemovalFailed { reason }, at, &s)
        .unwrap();
    assert_eq!(failed.status(at, &s), SubscriptionStatus::RemovalFailed);
    assert_eq!(failed.next_due_at, None);
    assert!(SubscriptionFilter::RemovalFailed.selects(&failed));
    let retried = failed
        .retry_removal("admin rights removed", at, &s)
        .unwrap();
    assert_eq!(retried.due_task(at, &s), Some(Task::Removal));
    assert_eq!(
        retried.history.last().unwrap().reason.as_deref(),
        Some("admin rights removed")
    );
}

#[test]
fn a_lapsed_lease_lets_another_worker_claim_and_fences_the_first() {
    let s = settings();
    let sub = Subscription::first(key(), paid(1, t0(), 1), t0(), &s);
    let at = t0() + days(1);
    let first = sub.claim(Task::Removal, "slow", at, &s).unwrap();
    let later = at + s.lease + TimeDelta::seconds(1);
    let second = first.claim(Task::Removal, "fast", later, &s).unwrap();
    assert_eq!(
        second.complete("slow", TaskDone::Removed, later, &s),
        Err(Refused::LeaseLost)
    );
    assert!(
        second
            .complete("fast", TaskDone::Removed, later, &s)
            .is_ok()
    );
}

#[test]
fn an_operator_end_stops_the_time_bought_so_far_and_later_time_starts_afresh() {
    let s = settings();
    let sub = Subscription::first(key(), paid(1, t0(), 30), t0(), &s);
    // WHEN an operator ends it on day 5
    let ended = sub.end_now("chargeback", t0() + days(5), &s);
    assert_eq!(ended.expires_at, t0() + days(5));
    assert_eq!(ended.due_task(t0() + days(5), &s), Some(Task::Removal));
    assert_eq!(
        ended.history.last().unwrap().reason.as_deref(),
        Some("chargeback")
    );
    // AND a second end later does not give back the time the first one took
    let again = ended.end_now("again", t0() + days(10), &s);
    assert_eq!(again.expires_at, t0() + days(5));
    // THEN a payment after the end buys time from its own start
    let back = again
        .grant(paid(2, t0() + days(12), 30), t0() + days(12), &s)
        .unwrap();
    assert_eq!(back.expires_at, t0() + days(42));
}

#[test]
fn a_payment_accepted_before_an_end_but_granted_after_it_keeps_its_time() {
    // GIVEN 30 days bought, and a second payment accepted on day 1 that waits in the
    // processor's backlog
    let s = settings();
    let sub = Subscription::first(key(), paid(1, t0(), 30), t0(), &s);
    // WHEN an operator ends the subscription on day 2, and the payment is granted on day 3
    let ended = sub.end_now("chargeback on payment 1", t0() + days(2), &s);
    let late = ended
        .grant(paid(2, t0() + days(1), 30), t0() + days(3), &s)
        .unwrap();
    // THEN the end capped only what was in the fold when it was made: the late payment's
    // 30 days run from the end
    assert_eq!(late.expires_at, t0() + days(32));
}

#[test]
fn an_operator_end_removes_now_whatever_the_grace() {
    // GIVEN a two-hour grace after every paid end
    let s = LifecycleSettings::new(vec![], TimeDelta::hours(2)).unwrap();
    let sub = Subscription::first(key(), paid(1, t0(), 30), t0(), &s);
    // WHEN an operator ends it on day 5
    let at = t0() + days(5);
    let ended = sub.end_now("abuse", at, &s);
    // THEN the removal is due at once, and the buyer is no longer active (a join request
    // is not approved through a grace the operator's end does not give)
    assert_eq!(ended.due_task(at, &s), Some(Task::Removal));
    assert!(!ended.is_active(at, &s));
    assert_eq!(ended.next_due_at, Some(at));
}

/// A small deterministic generator: the same sequence on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// 1,500 payments of an hourly-to-monthly buyer, on time, late, out of order by minutes,
/// some refunded while still kept, and operator ends now and then: after every change
/// the bounded record's expiry is the fold of everything that ever happened.
#[test]
fn folding_old_grants_keeps_the_expiry_exact() {
    let s = settings();
    let mut dice = Lcg(26_27);
    let mut all: Vec<TimeGrant> = Vec::new();
    let mut cuts: Vec<DateTime<Utc>> = Vec::new();
    let mut now = t0();
    let mut record: Option<Subscription> = None;
    let mut folds = 0;
    for id in 1..=1_500_i64 {
        now += TimeDelta::minutes(dice.below(60 * 30) as i64 + 1);
        // Accepted up to ten minutes before it is granted (a queue's wait).
        let accepted_at = now - TimeDelta::minutes(dice.below(10) as i64);
        let access = AccessDuration::from_seconds(3600 * (1 + dice.below(24 * 31))).unwrap();
        let grant = TimeGrant::new(GrantSource::Payment(id), accepted_at, access);
        let next = match &record {
            None => Subscription::first(key(), grant.clone(), now, &s),
            Some(current) => current.grant(grant.clone(), now, &s).unwrap(),
        };
        // The grant just made stays last, folded or not: what a crossing marks and
        // /status re-issues.
        assert_eq!(
            next.grants.last().map(|g| &g.source),
            Some(&grant.source),
            "after payment {id}"
        );
        let mut kept = grant;
        kept.granted_at = Some(ms(now));
        all.push(kept);
        let mut next = next;
        match dice.below(20) {
            // A refund of one of the last 50 payments (still kept in the record).
            0 => {
                let back = all.len().saturating_sub(1 + dice.below(50) as usize);
                let source = all[back].source.clone();
                now += TimeDelta::minutes(1);
                if let Ok(refunded) = next.refund(&source, now, &s) {
                    next = refunded;
                    all[back].refunded_at = Some(ms(now));
                }
            }
            // An operator's end.
            1 if dice.below(10) == 0 => {
                now += TimeDelta::minutes(1);
                next = next.end_now("test", now, &s);
                cuts.push(ms(now));
            }
            _ => {}
        }
        if next.folded != record.as_ref().and_then(|r| r.folded.clone()) {
            folds += 1;
        }
        if let Some(expected) = fold_expiry(&all, &cuts) {
            assert_eq!(next.expires_at, expected, "after payment {id}");
        }
        assert!(next.grants.len() <= bounds::MAX_GRANTS);
        record = Some(next);
    }
    let record = record.unwrap();
    assert!(folds >= 5, "the run must fold several times: {folds}");
    assert_eq!(
        record.folded.as_ref().unwrap().grants as usize + record.grants.len(),
        1_500
    );
}

/// A folded payment delivered again (a redelivery long after) is not granted twice.
#[test]
fn a_folded_payment_is_not_granted_again() {
    let s = settings();
    let mut record = Subscription::first(key(), paid(1, t0(), 1), t0(), &s);
    for id in 2..=(bounds::MAX_GRANTS as i64 + 1) {
        let at = t0() + days(id);
        record = record.grant(paid(id, at, 1), at, &s).unwrap();
    }
    assert!(record.folded.as_ref().is_some_and(|f| f.covers(t0())));
    assert!(
        !record
            .grants
            .iter()
            .any(|g| g.source == GrantSource::Payment(1))
    );
    let later = t0() + days(400);
    assert_eq!(
        record.grant(paid(1, t0(), 1), later, &s),
        Err(Refused::AlreadyGranted)
    );
}

/// Ten thousand hourly payments and two thousand operator extends with the longest
/// reason: the record stays under its bound (DynamoDB refuses items over 400 KB), the
/// expiry is the fold of all of them, and the history keeps its last entries.
#[test]
fn a_lifetime_of_payments_stays_under_the_bound() {
    let s = settings();
    let reason = "r".repeat(bounds::MAX_REASON_CHARS);
    assert!(check_reason(&reason).is_ok());
    assert!(check_reason(&format!("{reason}!")).is_err());
    let mut all = Vec::new();
    let mut record: Option<Subscription> = None;
    let mut largest = 0;
    for n in 0..12_000_i64 {
        let at = t0() + TimeDelta::hours(n);
        let grant = if n % 6 == 5 {
            TimeGrant {
                source: GrantSource::Operator(format!("{:036}", n)),
                ..paid(0, at, 1)
            }
        } else {
            TimeGrant {
                access: AccessDuration::from_seconds(3600).unwrap(),
                ..paid(5_000_000_000 + n, at, 1)
            }
        };
        let next = match &record {
            None => Subscription::first(key(), grant.clone(), at, &s),
            Some(current) => current.grant(grant.clone(), at, &s).unwrap(),
        };
        let next = if n % 6 == 5 {
            next.with_reason(&reason)
        } else {
            next
        };
        all.push(TimeGrant {
            granted_at: Some(at),
            ..grant
        });
        // The record is largest just before a fold (the most grants kept).
        if next.grants.len() == bounds::MAX_GRANTS || n % 500 == 0 {
            largest = largest.max(serde_json::to_vec(&next).unwrap().len());
        }
        record = Some(next);
    }
    let record = record.unwrap();
    assert!(
        largest < bounds::MAX_RECORD_BYTES,
        "{largest} bytes at the largest"
    );
    assert_eq!(record.expires_at, fold_expiry(&all, &[]).unwrap());
    assert_eq!(record.history.len(), bounds::KEPT_HISTORY);
    assert_eq!(record.earlier_history, 12_000 - bounds::KEPT_HISTORY as u64);
    // Unbounded (before the fold), the grants alone would be over DynamoDB's limit.
    let unbounded = serde_json::to_vec(&all).unwrap().len();
    assert!(unbounded > 400 * 1024, "{unbounded}");
    println!("largest record: {largest} bytes; the grants alone, unbounded: {unbounded} bytes");
}

/// A fold keeps the grants' order: a payment accepted before the latest one but granted
/// after it (a processor backlog) stays the last grant, the one a crossing marks.
#[test]
fn a_fold_keeps_the_grant_just_made_last() {
    let s = settings();
    let mut record = Subscription::first(key(), paid(1, t0(), 1), t0(), &s);
    for id in 2..=bounds::MAX_GRANTS as i64 {
        let at = t0() + days(id);
        record = record.grant(paid(id, at, 1), at, &s).unwrap();
    }
    let late = paid(
        9_999,
        t0() + days(bounds::MAX_GRANTS as i64) - days(1) - TimeDelta::hours(12),
        1,
    );
    let folded = record
        .grant(late, t0() + days(bounds::MAX_GRANTS as i64 + 1), &s)
        .unwrap();
    assert!(folded.folded.is_some(), "the 257th grant folds");
    assert_eq!(
        folded.grants.last().map(|g| &g.source),
        Some(&GrantSource::Payment(9_999))
    );
}
