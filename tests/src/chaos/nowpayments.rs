//! NOWPayments' status endpoint as the recovery pass meets it in the chaos run: each
//! payment's final answer (what its finishing IPN carries), and a seeded share of answers
//! that never come (timeouts, 5xx, 429).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use telepay_core::ipn::PaymentId;
use telepay_core::recovery::{PaymentStatusApi, StatusError};

use super::dice::tag;
use super::faults::Chaos;
use super::schedule::PaymentPlan;

/// Questions NOWPayments does not answer.
const UNANSWERED: f64 = 0.15;

pub(super) struct ChaosNowPayments {
    /// Each payment's status as NOWPayments knows it: final.
    finals: HashMap<i64, String>,
    chaos: Arc<Chaos>,
    asked: AtomicU64,
}

impl ChaosNowPayments {
    pub(super) fn new(plans: &[PaymentPlan], chaos: Arc<Chaos>) -> Self {
        // A payment never paid (only forgeries claimed it paid) expired at NOWPayments,
        // though its genuine `waiting` IPN may have come.
        let mut finals: HashMap<i64, String> = plans
            .iter()
            .map(|plan| match plan.kind {
                super::PaymentKind::ForgedOnly => (plan.payment_id, plan.ipn("expired")),
                _ => (plan.payment_id, plan.ipn("finished")),
            })
            .collect();
        // A top-up is paid in full at NOWPayments.
        for plan in plans {
            if let (Some(id), Some(ipn)) = (plan.topup_id(), plan.topup_ipn("finished")) {
                finals.insert(id, ipn);
            }
        }
        Self {
            finals,
            chaos,
            asked: AtomicU64::new(0),
        }
    }
}

impl PaymentStatusApi for ChaosNowPayments {
    async fn payment_status(&self, payment_id: PaymentId) -> Result<String, StatusError> {
        let n = self.asked.fetch_add(1, Ordering::Relaxed);
        if self.chaos.dice.chance(
            UNANSWERED,
            &[tag("status unanswered"), payment_id.get() as u64, n],
        ) {
            self.chaos.count("nowpayments: status question unanswered");
            return Err(StatusError::Unavailable("timed out".into()));
        }
        self.finals
            .get(&payment_id.get())
            .cloned()
            .ok_or_else(|| StatusError::Refused("HTTP 404: Payment not found".into()))
    }
}
