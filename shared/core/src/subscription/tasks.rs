//! The rules of the lifecycle's work on a record, pure functions of the stored facts and
//! `now`: which task is due, its claim under a lease, its completion (fenced by the
//! lease's token), release, the sweeper's requeue, and an operator's end and retry; each
//! write's next version and when the sweeper looks next. Tests: `super::tests`.

use chrono::{DateTime, Utc};

use super::record::{
    Completion, Ended, Ending, HistoryEntry, Refused, Subscription, Task, TaskDone, WorkLease, ms,
};
use super::settings::LifecycleSettings;

impl Subscription {
    /// The task due now, if any: the end notice, else the removal, else the nearest
    /// reminder point that has passed.
    pub fn due_task(&self, now: DateTime<Utc>, settings: &LifecycleSettings) -> Option<Task> {
        if let Some(ended) = &self.ended {
            return match ended.how {
                Ending::Removed { notice_sent: false } => Some(Task::EndNotice),
                _ => None,
            };
        }
        if now >= self.paid_until(settings) {
            return Some(Task::Removal);
        }
        if self.invite_due(now) {
            return Some(Task::Invite);
        }
        if now >= self.expires_at {
            // A reminder after the end (the sweeper was down) would only confuse.
            return None;
        }
        self.pending_reminders(settings)
            .rfind(|&before| now >= self.reminder_time(before))
            .map(|before_seconds| Task::Reminder { before_seconds })
    }

    /// The lifecycle claim: the task is due now and no live lease holds the record.
    pub fn claim(
        &self,
        task: Task,
        token: &str,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Result<Self, Refused> {
        if let Some(lease) = &self.lease
            && lease.until >= now
        {
            return Err(Refused::Leased { until: lease.until });
        }
        if self.due_task(now, settings) != Some(task) {
            return Err(Refused::NotDue);
        }
        let now = ms(now);
        let mut next = self.clone();
        next.lease = Some(WorkLease {
            token: token.to_owned(),
            until: ms(now + settings.lease),
            task,
            for_expiry: self.expires_at,
        });
        Ok(next.finish(now, settings))
    }

    /// Records a finished task, if `token` still holds the lease; for the expiry the
    /// worker decided on only (a renewal in between wins).
    pub fn complete(
        &self,
        token: &str,
        done: TaskDone,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Result<(Self, Completion), Refused> {
        let lease = self
            .lease
            .as_ref()
            .filter(|lease| lease.token == token)
            .ok_or(Refused::LeaseLost)?;
        let now = ms(now);
        let mut next = self.clone();
        next.lease = None;
        if lease.task == Task::Removal {
            // Its outcome is known now.
            next.removal_unknown_at = None;
        }
        if (lease.task, &done) == (Task::Invite, &TaskDone::Invited) {
            // The buyer is in or has a fresh link, whatever the expiry did meanwhile.
            next.needs_invite = false;
            next.needs_invite_at = None;
            next.note(now, "invited back".into(), None);
            return Ok((next.finish(now, settings), Completion::Recorded));
        }
        let completion = if lease.for_expiry != self.expires_at {
            if lease.task == Task::Removal {
                // The grant's invite may have come before the removal landed: look again.
                next.mark_needs_invite(now);
                next.note(
                    now,
                    "removal crossed a renewal: the buyer is invited back".into(),
                    None,
                );
            }
            Completion::ExpiryMoved
        } else {
            match (lease.task, done) {
                (Task::Reminder { before_seconds }, TaskDone::ReminderSent) => {
                    next.reminded_before_seconds = Some(before_seconds);
                }
                (Task::Removal, TaskDone::Removed) => {
                    next.ended = Some(Ended {
                        for_expiry: self.expires_at,
                        at: now,
                        how: Ending::Removed { notice_sent: false },
                    });
                    next.note(now, "removed from the channel".into(), None);
                }
                (Task::Removal, TaskDone::RemovalFailed { reason }) => {
                    next.note(now, "removal failed".into(), Some(reason.clone()));
                    next.ended = Some(Ended {
                        for_expiry: self.expires_at,
                        at: now,
                        how: Ending::RemovalFailed { reason },
                    });
                }
                (Task::EndNotice, TaskDone::NoticeSent) => {
                    if let Some(Ended {
                        how: Ending::Removed { notice_sent },
                        ..
                    }) = &mut next.ended
                    {
                        *notice_sent = true;
                    }
                }
                // A worker reporting another task than it claimed: a bug; record nothing.
                _ => return Err(Refused::LeaseLost),
            }
            Completion::Recorded
        };
        Ok((next.finish(now, settings), completion))
    }

    /// Gives the lease back (a transient failure) so the retry may claim at once.
    /// `outcome_unknown`: the task's Bot API call got no answer; for a removal, it may
    /// still land, so the record keeps [`Subscription::removal_unknown_at`].
    pub fn release(
        &self,
        token: &str,
        outcome_unknown: bool,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Result<Self, Refused> {
        let Some(lease) = self.lease.as_ref().filter(|lease| lease.token == token) else {
            return Err(Refused::LeaseLost);
        };
        let now = ms(now);
        let mut next = self.clone();
        if outcome_unknown && lease.task == Task::Removal && lease.for_expiry == self.expires_at {
            next.removal_unknown_at = Some(now);
            next.note(
                now,
                "removal call unanswered: it may still land".into(),
                None,
            );
        }
        next.lease = None;
        Ok(next.finish(now, settings))
    }

    /// The sweeper queued its due task: look again only after `requeue_quiet`, so a
    /// message still waiting in the queue is not queued again by every sweep.
    pub fn requeued(&self, now: DateTime<Utc>, settings: &LifecycleSettings) -> Self {
        let now = ms(now);
        let mut next = self.clone().bump(now);
        next.next_due_at = Some(ms(now + settings.requeue_quiet));
        next
    }

    /// The record as the sweeper should leave it when it finds nothing due (a lapsed
    /// lease, settings changed since the last write): `None` if it is already right.
    pub fn settled(&self, now: DateTime<Utc>, settings: &LifecycleSettings) -> Option<Self> {
        let next = self.clone().finish(ms(now), settings);
        (next.next_due_at != self.next_due_at || next.lease != self.lease).then_some(next)
    }

    /// An operator's `end`: the time bought so far stops now, so the removal is due now
    /// (a `removal_failed` is retried). Time bought later starts afresh.
    pub fn end_now(&self, reason: &str, now: DateTime<Utc>, settings: &LifecycleSettings) -> Self {
        let now = ms(now);
        let mut next = self.clone();
        if next.removal_failed() {
            next.ended = None;
        }
        next.cut_offs.push(now);
        next.note(now, "ended by an operator".into(), Some(reason.to_owned()));
        let _ = next.refold(now);
        next.finish(now, settings)
    }

    /// Puts the operator's reason on the latest history line (an operator grant).
    pub fn with_reason(mut self, reason: &str) -> Self {
        if let Some(last) = self.history.last_mut() {
            last.reason = Some(reason.to_owned());
        }
        self
    }

    /// An operator's retry of a `removal_failed`: the removal is due again.
    pub fn retry_removal(
        &self,
        reason: &str,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Result<Self, Refused> {
        if !self.removal_failed() {
            return Err(Refused::NotDue);
        }
        let now = ms(now);
        let mut next = self.clone();
        next.ended = None;
        next.note(now, "removal retried".into(), Some(reason.to_owned()));
        Ok(next.finish(now, settings))
    }

    /// A write that changes neither the time nor the tasks: the next version, its time.
    pub(super) fn bump(mut self, now: DateTime<Utc>) -> Self {
        self.version += 1;
        self.updated_at = now;
        self
    }

    /// Every write: the next version, its time, and when the sweeper looks next.
    pub(super) fn finish(mut self, now: DateTime<Utc>, settings: &LifecycleSettings) -> Self {
        // A lapsed lease fences nothing any more: its worker's completion finds it gone.
        if self.lease.as_ref().is_some_and(|lease| lease.until < now) {
            self.lease = None;
        }
        let mut next = self.bump(now);
        next.next_due_at = next.compute_next_due(now, settings);
        next
    }

    pub(super) fn compute_next_due(
        &self,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Option<DateTime<Utc>> {
        if let Some(lease) = &self.lease {
            return Some(lease.until);
        }
        if let Some(ended) = &self.ended {
            return match ended.how {
                Ending::Removed { notice_sent: false } => Some(ended.at),
                _ => None,
            };
        }
        let removal = self.paid_until(settings);
        let invite = (self.needs_invite && now < self.expires_at)
            .then(|| self.needs_invite_at.unwrap_or(now));
        [Some(removal), self.next_reminder(now, settings), invite]
            .into_iter()
            .flatten()
            .min()
    }

    /// Whether the marked buyer's invite is due: only while paid (not in the grace).
    fn invite_due(&self, now: DateTime<Utc>) -> bool {
        self.needs_invite
            && now < self.expires_at
            && self.needs_invite_at.is_none_or(|due| now >= due)
    }

    fn next_reminder(
        &self,
        now: DateTime<Utc>,
        settings: &LifecycleSettings,
    ) -> Option<DateTime<Utc>> {
        self.pending_reminders(settings)
            .next()
            .filter(|_| now < self.expires_at)
            .map(|before| self.reminder_time(before))
    }

    /// Reminder points not yet sent for this expiry and not already past when it was
    /// set, largest first.
    pub(super) fn pending_reminders<'s>(
        &'s self,
        settings: &'s LifecycleSettings,
    ) -> impl DoubleEndedIterator<Item = u64> + 's {
        settings.reminder_points_seconds().filter(move |&before| {
            self.reminded_before_seconds
                .is_none_or(|sent| before < sent)
                && self.reminder_time(before) > self.expiry_set_at
        })
    }

    pub(super) fn reminder_time(&self, before_seconds: u64) -> DateTime<Utc> {
        self.expires_at - chrono::TimeDelta::seconds(before_seconds as i64)
    }

    pub(super) fn note(&mut self, at: DateTime<Utc>, event: String, reason: Option<String>) {
        self.history.push(HistoryEntry { at, event, reason });
        self.trim_history();
    }
}
