//! The recovery pass: a paid invoice is never lost with its IPNs. Every payment
//! NOWPayments told us is under way is watched ([`crate::store::watches`]); when its
//! finish is overdue, the pass asks NOWPayments about it (`GET /v1/payment/{id}` with the
//! API key) and a payment reported paid enters the chain through the same ingress
//! decision as a signed IPN ([`PaymentIngress::admit`]): the API's answer, over TLS with
//! our key, stands in for the signature. One conditional write decides it, so a later or
//! earlier IPN for the same payment finds it recorded, and the buyer gets one invite.
//! Each payment it brings in is counted (`IpnRecovered`) and alarmed: the callback is
//! broken.
//!
//! What the API key allows: the status of a payment whose id we know, i.e. one that sent
//! at least one in-flight IPN. A payment whose every IPN was lost, from its first
//! `waiting` on, has an id we never learnt: listing the account's payments needs its JWT
//! (`POST /v1/auth` with the account's email and password), optional configuration.
//! With it, each run lists the recent payments and watches the paid ones of ours that
//! nothing watches; without it, the pass degrades to the payments it heard of
//! (docs/protocol.md, "Lost IPNs").
//!
//! Tests: below, `tests/tests/conformance.rs` (`watch_*`), `tests/tests/recovery.rs`
//! (the real adapter against the fake NOWPayments), and the chaos run's dropped IPNs.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use tracing::{error, info, warn};

use crate::ipn::{Ipn, PaymentId, PaymentStatus};
use crate::metrics::{self, signal, stage};
use crate::order::OrderRef;
use crate::queue::MessageQueue;
use crate::store::{
    Fenced, IngressStore, NewWatch, OperatorStore, PaymentWatch, PaymentWatchStore,
    PurchasePartsStore, Settlement, StoreError, SubscriptionStore, WatchClaim, WatchFound, Watched,
};
use crate::webhook::{PaymentIngress, WebhookOutcome};

/// NOWPayments' answer about one payment, as sent (the fields of an IPN), and, where the
/// account's login is configured, its recent payments.
pub trait PaymentStatusApi: Send + Sync {
    fn payment_status(
        &self,
        payment_id: PaymentId,
    ) -> impl Future<Output = Result<String, StatusError>> + Send;

    /// The account's payments created since `since` (NOWPayments' "Get list of payments",
    /// which needs the account's JWT). `None` when no login is configured: the pass then
    /// knows only the payments it heard of.
    fn recent_payments(
        &self,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Vec<ListedPayment>>, StatusError>> + Send {
        let _ = since;
        async { Ok(None) }
    }
}

/// One payment of NOWPayments' list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPayment {
    pub payment_id: PaymentId,
    pub status: String,
    pub order_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// Worth asking again later: network, timeout, 429, 5xx.
    #[error("NOWPayments did not answer: {0}")]
    Unavailable(String),
    /// NOWPayments refused the question (the API key, or a payment it does not know):
    /// an operator must look.
    #[error("NOWPayments refused the status question: {0}")]
    Refused(String),
}

/// The pass's timing.
#[derive(Debug, Clone)]
pub struct RecoverySettings {
    /// A payment still under way is asked about again this long after.
    pub recheck_every: Duration,
    /// A payment still under way this long after its first IPN is given up on (told to
    /// an operator): NOWPayments expires an unpaid payment well before.
    pub give_up_after: Duration,
    /// The lease one check holds on its watch.
    pub lease: Duration,
    /// At most this many watches per run.
    pub batch: usize,
    /// With the account's login: payments created this far back are listed, and a paid
    /// one of ours that nothing watches is watched (and checked at once).
    pub list_window: Duration,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        Self {
            recheck_every: Duration::from_secs(20 * 60),
            give_up_after: Duration::from_secs(7 * 24 * 3600),
            lease: Duration::from_secs(120),
            batch: 100,
            list_window: Duration::from_secs(2 * 24 * 3600),
        }
    }
}

/// What one pass found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecoveryReport {
    /// Paid payments of ours the account's list showed that nothing watched: every IPN of
    /// theirs was lost (only with the account's login).
    pub discovered: usize,
    /// Watches due this run.
    pub due: usize,
    /// Paid, and brought in by this pass: their IPN never came.
    pub recovered: usize,
    /// Already recorded (their IPN came): the watch is closed.
    pub arrived: usize,
    /// Expired or failed at NOWPayments: nothing paid.
    pub unpaid: usize,
    /// Still under way past the watch period: told to an operator.
    pub gave_up: usize,
    /// Still under way: asked about again later.
    pub under_way: usize,
    /// NOWPayments or our store did not answer: asked again later.
    pub unavailable: usize,
    /// NOWPayments refused the question: the API key must be fixed.
    pub refused: usize,
    /// Another pass took the watch over mid-check.
    pub lease_lost: usize,
}

impl RecoveryReport {
    fn record(&self) {
        let outcomes = [
            ("discovered", self.discovered),
            ("recovered", self.recovered),
            ("arrived", self.arrived),
            ("unpaid", self.unpaid),
            ("gave_up", self.gave_up),
            ("under_way", self.under_way),
            ("unavailable", self.unavailable),
            ("refused", self.refused),
            ("lease_lost", self.lease_lost),
        ];
        for (outcome, n) in outcomes {
            metrics::outcomes(stage::RECOVERY, outcome, n as u64);
        }
    }
}

/// What the operator's `telepay payments recover <id>` found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveredNow {
    pub payment_id: PaymentId,
    /// NOWPayments' status for it.
    pub status: String,
    /// The ingress's answer when the status was final with money; `None` otherwise.
    pub outcome: Option<WebhookOutcome>,
    /// This call brought it in (no IPN or pass had).
    pub recovered: bool,
}

/// One check's end, before it is written.
enum Verdict {
    Settle(Settlement, String),
    Postpone(String, DateTime<Utc>),
}

pub struct PaymentRecovery<S, Q, A> {
    pub ingress: PaymentIngress<S, Q>,
    pub api: A,
    pub settings: RecoverySettings,
}

impl<S, Q, A> PaymentRecovery<S, Q, A>
where
    S: IngressStore + SubscriptionStore + PaymentWatchStore + OperatorStore + PurchasePartsStore,
    Q: MessageQueue,
    A: PaymentStatusApi,
{
    pub fn new(ingress: PaymentIngress<S, Q>, api: A, settings: RecoverySettings) -> Self {
        Self {
            ingress,
            api,
            settings,
        }
    }

    /// Checks every due watch once. A store failure listing them fails the run (the next
    /// run tries again); a failure on one watch is counted and that watch comes back.
    pub async fn run(&self) -> Result<RecoveryReport, StoreError> {
        let now = self.ingress.clock.now();
        let mut report = RecoveryReport::default();
        self.discover(now, &mut report).await?;
        let due = self
            .ingress
            .store
            .due_watches(now, self.settings.batch)
            .await?;
        report.due = due.len();
        for watch in due {
            self.check(watch.payment_id, &mut report).await;
        }
        report.record();
        if report.recovered > 0 {
            warn!(
                recovered = report.recovered,
                "paid payments whose IPNs never arrived were recovered: check the IPN callback URL and that NOWPayments can reach it"
            );
        }
        Ok(report)
    }

    /// With the account's login: watches each paid payment of ours in NOWPayments' recent
    /// list that nothing watches yet (every IPN of it lost), due at once. Without it, or
    /// when NOWPayments does not answer, the run goes on with what it heard of.
    async fn discover(
        &self,
        now: DateTime<Utc>,
        report: &mut RecoveryReport,
    ) -> Result<(), StoreError> {
        let since = now - delta(self.settings.list_window);
        let listed = match self.api.recent_payments(since).await {
            Ok(Some(listed)) => listed,
            Ok(None) => return Ok(()),
            Err(StatusError::Unavailable(why)) => {
                info!(%why, "NOWPayments' payment list did not come; listing again next run");
                report.unavailable += 1;
                return Ok(());
            }
            Err(err @ StatusError::Refused(_)) => {
                error!(
                    error = %err,
                    "the recovery pass cannot list NOWPayments' payments: check TELEPAY_NOWPAYMENTS_EMAIL and TELEPAY_NOWPAYMENTS_PASSWORD"
                );
                metrics::count(signal::RECOVERY_REFUSED);
                report.refused += 1;
                return Ok(());
            }
        };
        for payment in listed {
            let paid = payment
                .status
                .parse::<PaymentStatus>()
                .is_ok_and(|s| s.grants_access() || s == PaymentStatus::PartiallyPaid);
            let Ok(order) = OrderRef::parse(payment.order_id.as_deref()) else {
                continue; // not one of this bot's invoices
            };
            if !paid {
                continue;
            }
            let watch = NewWatch {
                payment_id: payment.payment_id,
                user_id: order.user_id.get(),
                channel_id: order.channel_id.get(),
                status: payment.status.clone(),
                seen_at: now,
                first_check_at: now,
            };
            if self.ingress.store.watch_payment(&watch).await? == Watched::New {
                warn!(
                    payment_id = payment.payment_id.get(),
                    "a paid payment no IPN told us of: watched, and asked about now"
                );
                report.discovered += 1;
            }
        }
        Ok(())
    }

    /// NOWPayments' answer about `payment_id`, read as an IPN, and its body as sent. An
    /// answer that is not readable or is about another payment is a refusal.
    async fn ask(&self, payment_id: PaymentId) -> Result<(Ipn, String), StatusError> {
        let body = self.api.payment_status(payment_id).await?;
        let ipn = Ipn::parse(body.as_bytes())
            .ok()
            .filter(|ipn| ipn.payment_id == payment_id)
            .ok_or_else(|| {
                StatusError::Refused("the answer is not about this payment or not readable".into())
            })?;
        Ok((ipn, body))
    }

    /// The operator's question about one payment, now, watched or not (every IPN of it
    /// lost, its id found in the NOWPayments dashboard): a paid answer is admitted by the
    /// same decision. A watch of it, if any, finds it recorded at its next check.
    pub async fn recover_now(&self, payment_id: PaymentId) -> Result<RecoveredNow, StatusError> {
        let (ipn, body) = self.ask(payment_id).await?;
        let status = ipn.payment_status;
        let mut found = RecoveredNow {
            payment_id,
            status: status.as_str().to_owned(),
            outcome: None,
            recovered: false,
        };
        if status.is_under_way() || matches!(status, PaymentStatus::Failed | PaymentStatus::Expired)
        {
            return Ok(found);
        }
        let admission = self.ingress.admit_recovered(&ipn, body.as_bytes()).await;
        if admission.outcome == WebhookOutcome::Unavailable {
            return Err(StatusError::Unavailable(
                "our store or queue did not take it; run the command again".into(),
            ));
        }
        if admission.first {
            warn!(
                payment_id = payment_id.get(),
                "an operator recovered a payment whose IPN never arrived"
            );
            metrics::count(signal::IPN_RECOVERED);
        }
        found.outcome = Some(admission.outcome);
        found.recovered = admission.first;
        Ok(found)
    }

    async fn check(&self, payment_id: PaymentId, report: &mut RecoveryReport) {
        let store = &self.ingress.store;
        let now = self.ingress.clock.now();
        let token = uuid::Uuid::new_v4().to_string();
        let claim = WatchClaim {
            payment_id,
            token: token.clone(),
            lease_until: now + delta(self.settings.lease),
            now,
        };
        let watch = match store.claim_watch(&claim).await {
            Ok(WatchFound::Claimed(watch)) => watch,
            Ok(_) => return,
            Err(err) => {
                warn!(payment_id = payment_id.get(), error = %err, "could not claim a watch");
                report.unavailable += 1;
                return;
            }
        };
        let verdict = self.verdict(&watch, report).await;
        let written = match &verdict {
            Verdict::Settle(settlement, status) => {
                store
                    .settle_watch(payment_id, &token, *settlement, status, self.now())
                    .await
            }
            Verdict::Postpone(status, at) => {
                store.postpone_watch(payment_id, &token, status, *at).await
            }
        };
        match written {
            Ok(Fenced::Done) => {}
            Ok(Fenced::LeaseLost) => report.lease_lost += 1,
            // The lease lapses and the next run checks again; the ingress's write is
            // idempotent.
            Err(err) => {
                warn!(payment_id = payment_id.get(), error = %err, "could not record a check");
                report.unavailable += 1;
            }
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.ingress.clock.now()
    }

    fn later(&self) -> DateTime<Utc> {
        self.now() + delta(self.settings.recheck_every)
    }

    /// Whether the payment is recorded or held already (its finishing IPN came): then
    /// NOWPayments need not be asked (its API is rate-limited; our reads are not).
    async fn arrived(&self, payment_id: PaymentId) -> Result<bool, StoreError> {
        let store = &self.ingress.store;
        Ok(store.get_payment(payment_id).await?.is_some()
            || store.get_review(payment_id).await?.is_some())
    }

    /// Asks NOWPayments, admits a final answer, and says how the watch goes on.
    async fn verdict(&self, watch: &PaymentWatch, report: &mut RecoveryReport) -> Verdict {
        let payment_id = watch.payment_id.get();
        let last = watch.last_status.clone();
        match self.arrived(watch.payment_id).await {
            Ok(true) => {
                report.arrived += 1;
                return Verdict::Settle(Settlement::Arrived, last);
            }
            Ok(false) => {}
            Err(err) => {
                warn!(payment_id, error = %err, "could not read whether the payment arrived");
                report.unavailable += 1;
                return Verdict::Postpone(last, self.now());
            }
        }
        let (ipn, body) = match self.ask(watch.payment_id).await {
            Ok(answer) => answer,
            Err(StatusError::Unavailable(why)) => {
                info!(payment_id, %why, "NOWPayments did not answer; asking again later");
                report.unavailable += 1;
                return Verdict::Postpone(last, self.later());
            }
            Err(err @ StatusError::Refused(_)) => {
                error!(
                    payment_id,
                    error = %err,
                    "the recovery pass's question was refused or its answer unusable: check TELEPAY_NOWPAYMENTS_API_KEY"
                );
                metrics::count(signal::RECOVERY_REFUSED);
                report.refused += 1;
                return Verdict::Postpone(last, self.later());
            }
        };
        let status = ipn.payment_status;
        let said = status.as_str().to_owned();
        if matches!(status, PaymentStatus::Failed | PaymentStatus::Expired) {
            report.unpaid += 1;
            return Verdict::Settle(Settlement::Unpaid, said);
        }
        if status.is_under_way() {
            let watched_for = self.now() - watch.first_seen_at;
            if watched_for >= delta(self.settings.give_up_after) {
                error!(
                    payment_id,
                    status = %said,
                    user_id = watch.user_id,
                    "a payment still under way after the watch period: look it up in the NOWPayments dashboard"
                );
                metrics::count(signal::RECOVERY_GAVE_UP);
                report.gave_up += 1;
                return Verdict::Settle(Settlement::GaveUp, said);
            }
            report.under_way += 1;
            return Verdict::Postpone(said, self.later());
        }
        // Final with money: finished, partially_paid, refunded. The same decision as a
        // signed IPN's, one conditional write.
        let admission = self.ingress.admit_recovered(&ipn, body.as_bytes()).await;
        match admission.outcome {
            WebhookOutcome::Unavailable => {
                report.unavailable += 1;
                Verdict::Postpone(last, self.later())
            }
            _ if admission.first => {
                warn!(
                    payment_id,
                    status = %said,
                    outcome = admission.outcome.word(),
                    "recovered a payment whose IPN never arrived"
                );
                metrics::count(signal::IPN_RECOVERED);
                report.recovered += 1;
                Verdict::Settle(Settlement::Recovered, said)
            }
            _ => {
                report.arrived += 1;
                Verdict::Settle(Settlement::Arrived, said)
            }
        }
    }
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests;
