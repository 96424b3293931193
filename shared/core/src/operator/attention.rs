//! What needs an operator: payments stuck past a cutoff (by stage), rows only an
//! operator can move, failed invites, and undecided reviews.
//!
//! Tests: `super::tests`, `cli/tests/operator.rs`.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::{Attention, Operator, OperatorError};
use crate::payment::ProcessedPayment;
use crate::store::{OperatorStore, ReconcilerStore, UnreadableRow};

impl Attention {
    /// A line about `record` at `stage`; the caller adds what the stage knows.
    fn of(record: &ProcessedPayment, stage: &'static str, now: DateTime<Utc>) -> Self {
        Self {
            payment_id: record.payment_id.get(),
            stage,
            leased: None,
            reason: None,
            age_minutes: Some((now - record.created_at).num_minutes()),
            user_id: Some(record.user_id.get()),
        }
    }

    fn unreadable(row: UnreadableRow) -> Self {
        Self {
            payment_id: row.payment_id,
            stage: "unreadable",
            leased: None,
            reason: Some(row.why),
            age_minutes: None,
            user_id: None,
        }
    }
}

impl<S: OperatorStore + ReconcilerStore> Operator<'_, S> {
    /// Pending payments older than `older_than` (by stage), failed invites, and undecided
    /// reviews, at most `limit` of each.
    pub async fn attention(
        &self,
        older_than: Duration,
        limit: usize,
    ) -> Result<Vec<Attention>, OperatorError> {
        let now = self.clock.now();
        let cutoff = now - TimeDelta::from_std(older_than).unwrap_or(TimeDelta::MAX);
        let mut lines = Vec::new();
        for listed in self.store.pending_payments(cutoff, limit).await? {
            let record = match listed {
                Ok(record) => record,
                Err(row) => {
                    lines.push(Attention::unreadable(row));
                    continue;
                }
            };
            let Some(stage) = record.stuck_stage() else {
                continue;
            };
            lines.push(Attention {
                leased: Some(record.invite_lease_until.is_some_and(|until| until >= now)),
                ..Attention::of(&record, stage.as_str(), now)
            });
        }
        for listed in self.store.needs_operator(limit).await? {
            lines.push(match listed {
                Ok(record) if record.created_at <= cutoff => Attention {
                    reason: Some(
                        "never processed and no stored purchase: `telepay payments resolve`".into(),
                    ),
                    ..Attention::of(&record, "needs_operator", now)
                },
                Ok(_) => continue,
                Err(row) => Attention::unreadable(row),
            });
        }
        for listed in self.store.failed_invites(limit).await? {
            lines.push(match listed {
                Ok(record) => Attention {
                    reason: record.invite_failure_reason.clone(),
                    ..Attention::of(&record, "invite_failed", now)
                },
                Err(row) => Attention::unreadable(row),
            });
        }
        for review in self.store.list_reviews(limit).await? {
            if review.decision.is_none() && review.received_at <= cutoff {
                lines.push(Attention {
                    payment_id: review.payment_id.get(),
                    stage: "held_for_review",
                    leased: None,
                    reason: Some(review.reason.as_str().to_owned()),
                    age_minutes: Some((now - review.received_at).num_minutes()),
                    user_id: None,
                });
            }
        }
        Ok(lines)
    }
}
