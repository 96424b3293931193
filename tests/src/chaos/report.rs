//! What every payment became, from the store and from what Telegram saw, and the
//! guarantees checked on it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use fake_bot_api::FakeBotApi;
use telepay_core::ipn::PaymentId;
use telepay_core::payment::RecordState;
use telepay_core::store::Settlement;
use telepay_core::store::ports::*;

use telepay_core::fixtures::SAMPLE_CHANNEL_ID;

use super::faults::{Chaos, LedgerEntry};
use super::schedule::{buyer_clicks, link_in, payment_of_user};
use super::{PaymentKind, PaymentPlan};

/// The figures of one run on one backend.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub backend: String,
    pub seed: u64,
    pub payments: usize,
    /// Genuine finished payments (granted or held).
    pub paid: usize,
    /// Paid payments whose buyer received a working link.
    pub invited: usize,
    /// Terminal `invite_failed`, by reason.
    pub invite_failed: BTreeMap<String, usize>,
    /// Held for review, by reason.
    pub held: BTreeMap<String, usize>,
    /// Held payments recorded told at the end, by what reached the buyer.
    pub held_told: BTreeMap<String, usize>,
    /// Held payments never recorded told: must be 0.
    pub held_untold: Vec<i64>,
    /// Held payments whose buyer got no message about it and was not found unreachable
    /// (from Telegram's side, the fake): must be 0.
    pub held_buyers_without_message: Vec<i64>,
    /// Held-payment messages beyond one per buyer (a crash after a send, before it was
    /// recorded: at least once).
    pub held_messages_repeated: usize,
    /// Genuine payments whose every finishing IPN was lost (only in-flight ones came).
    pub ipns_lost: usize,
    /// Of those, brought in by the recovery pass (recorded or held, the watch closed).
    pub ipns_lost_recovered: usize,
    /// Of those, never brought in: must be 0.
    pub ipns_lost_not_recovered: Vec<i64>,
    /// Brought in by the recovery pass though their finishing IPNs were sent: ones
    /// NOWPayments gave up delivering (or that arrived after the question).
    pub recovered_with_ipns_sent: usize,
    /// Short payments whose buyer paid the rest: their top-up granted the tier once.
    pub topped_up: usize,
    /// Short payments never completed: held, told, their purchase still open.
    pub short_left_open: usize,
    /// Overpaid payments granted with their surplus recorded for the owner.
    pub overpaid_with_surplus: usize,
    /// Short, topped-up and overpaid purchases whose outcome differs from the model
    /// (granted twice, granted by the first short payment, not the tier's 30 days or
    /// price, a hold not decided as the model says, a surplus not recorded): must be 0.
    pub purchase_model_mismatch: Vec<String>,
    /// Full-price payments of invoices made at catalog version 1, granted at its price
    /// though newer versions (other prices) were in force when they were paid.
    pub granted_at_invoice_price: usize,
    /// Full-price payments held because the price changed after their invoice: must be 0.
    pub held_after_price_change: Vec<i64>,
    /// Paid with neither an invite nor a terminal reason (nor a review): must be 0.
    pub lost: Vec<i64>,
    /// Each lost payment told: its kind, record, links and the faults it met.
    pub lost_detail: Vec<String>,
    /// Payments whose buyer joined through the link they were sent, which a later
    /// payment of theirs revoked before replacing it and then found them in.
    pub in_through_a_link_revoked_later: usize,
    /// Invited payments by how many distinct working (never revoked) links were
    /// delivered: must be {1: invited}.
    pub distinct_links_per_invited: BTreeMap<usize, usize>,
    /// Invites completed without a new link: the buyer was already in when a stored link
    /// that may have been delivered had to be replaced.
    pub satisfied_by_membership: usize,
    /// Delivered links revoked afterwards: replaced because the buyer was not in yet.
    pub links_replaced_after_delivery: usize,
    /// From Telegram's state (the fake), never the store: buyers in the channel at the end.
    pub members: usize,
    /// Invited buyers who click their links but are not in the channel at the end: must
    /// be 0.
    pub clicking_buyers_outside: Vec<i64>,
    /// Users admitted through a link made for someone else's payment: must be 0.
    pub strangers_admitted: usize,
    /// Messages repeating a link already delivered, by cause.
    pub duplicate_messages: BTreeMap<String, usize>,
    /// Links created and never sent: revoked by us / left to expire.
    pub orphan_links_revoked: usize,
    pub orphan_links_expiring: usize,
    /// Links delivered after they were revoked (dead on arrival): must be 0.
    pub dead_links_delivered: usize,
    /// Links delivered to someone other than their payment's buyer: must be 0.
    pub wrong_recipient: usize,
    pub forged_sent: u64,
    /// Forged or tampered IPNs answered 2xx: must be 0.
    pub forged_accepted: usize,
    /// What forgeries left in the store: records or reviews of never-paid payments,
    /// records naming another buyer, correctly priced payments held: must be 0.
    pub forged_traces: usize,
    /// Payout instructions for payments that were not granted: must be 0.
    pub payouts_not_granted: usize,
    /// Granted payments without a payout instruction: must be 0.
    pub granted_without_payout: usize,
    /// Records whose stored invite state disagrees with what Telegram saw: must be 0.
    pub records_out_of_step: Vec<i64>,
    /// Paid payments whose buyer had paid before in the schedule (renewals or returns).
    pub renewals: usize,
    /// Invited payments whose delivered link a later payment of the same buyer replaced
    /// (revoked, too short-lived to send again) and whose buyer got the replacement.
    pub shared_link_replaced_later: usize,
    /// Renewals completed with one "renewed until" note and no link (buyer in).
    pub renewed_in_place: usize,
    /// Invites completed with no message of their own because the buyer was in already
    /// (through another payment's link).
    pub in_without_own_message: usize,
    /// Renewed in place, or satisfied by membership, yet not in the channel at the end:
    /// must be 0.
    pub completed_in_place_but_outside: Vec<i64>,
    /// Link messages to a buyer who was already in the channel through another link,
    /// by whether the payment was a renewal: the buyer joined between the sender's
    /// membership check and its send (or the payment had no check to make).
    pub links_to_members: BTreeMap<String, usize>,
    /// Link sends at which the buyer held another delivered link that still admitted
    /// (not revoked, not expired), by why that one was still open. One live link per
    /// subscription means: none but a revoke Telegram never acted on.
    pub second_open_link_at_send: BTreeMap<String, usize>,
    /// The unexplained ones, told: the send, the open link and the calls on both.
    pub unexplained_open_links: Vec<String>,
    pub figures: RunFigures,
    pub wall_time: Duration,
}

impl Report {
    /// Every broken guarantee, in words; empty when the run upheld them all.
    pub fn violations(&self) -> Vec<String> {
        let mut broken = Vec::new();
        if !self.lost.is_empty() {
            broken.push(format!(
                "{} payments lost: {:?}\n{}",
                self.lost.len(),
                first(&self.lost),
                self.lost_detail.join("\n")
            ));
        }
        let not_one: usize = self
            .distinct_links_per_invited
            .iter()
            .filter(|(links, _)| **links != 1)
            .map(|(_, n)| n)
            .sum();
        if not_one > 0 {
            broken.push(format!(
                "{not_one} invited payments got more than one distinct link"
            ));
        }
        for (count, what) in [
            (self.dead_links_delivered, "revoked links delivered"),
            (
                self.clicking_buyers_outside.len(),
                "invited buyers who click their links left outside the channel",
            ),
            (self.strangers_admitted, "strangers admitted"),
            (self.wrong_recipient, "links delivered to the wrong user"),
            (self.forged_accepted, "forged or tampered IPNs accepted"),
            (
                self.forged_traces,
                "store traces of forged or tampered IPNs",
            ),
            (self.payouts_not_granted, "payouts for payments not granted"),
            (
                self.granted_without_payout,
                "granted payments without a payout",
            ),
        ] {
            if count > 0 {
                broken.push(format!("{count} {what}"));
            }
        }
        if !self.completed_in_place_but_outside.is_empty() {
            broken.push(format!(
                "{} invites completed without a link whose buyer is not in the channel: {:?}",
                self.completed_in_place_but_outside.len(),
                first(&self.completed_in_place_but_outside)
            ));
        }
        let unexplained: usize = self
            .second_open_link_at_send
            .iter()
            .filter(|(why, _)| why.as_str() == UNEXPLAINED)
            .map(|(_, n)| n)
            .sum();
        if unexplained > 0 {
            broken.push(format!(
                "{unexplained} link sends while the buyer held another open link with no failed revoke to explain it:\n{}",
                self.unexplained_open_links.join("\n")
            ));
        }
        for (ids, what) in [
            (
                &self.ipns_lost_not_recovered,
                "payments whose finishing IPNs were lost and that the recovery pass never brought in",
            ),
            (&self.held_untold, "held payments never told"),
            (
                &self.held_after_price_change,
                "full-price payments held after a price change",
            ),
            (
                &self.held_buyers_without_message,
                "held payments whose buyer heard nothing",
            ),
        ] {
            if !ids.is_empty() {
                broken.push(format!("{} {what}: {:?}", ids.len(), first(ids)));
            }
        }
        if !self.purchase_model_mismatch.is_empty() {
            broken.push(format!(
                "{} purchases differ from their model:\n{}",
                self.purchase_model_mismatch.len(),
                self.purchase_model_mismatch.join("\n")
            ));
        }
        if !self.records_out_of_step.is_empty() {
            broken.push(format!(
                "{} records out of step with Telegram: {:?}",
                self.records_out_of_step.len(),
                first(&self.records_out_of_step)
            ));
        }
        broken
    }
}

/// Whether a held payment was told, and what its buyer saw.
async fn held_notice_figures<S: PaymentStore>(
    report: &mut Report,
    store: &S,
    plan: &PaymentPlan,
    calls: &[fake_bot_api::Call],
) {
    let id = PaymentId::new(plan.payment_id).unwrap();
    let state = store.notice_state(id).await.expect("read the notice state");
    let told = state.and_then(|state| state.told);
    let Some(told) = told else {
        report.held_untold.push(plan.payment_id);
        return;
    };
    let buyer = told.split(' ').next().unwrap_or_default().to_owned();
    *report.held_told.entry(buyer.clone()).or_default() += 1;
    // The held texts name the payment and carry no link (an invite's text has one).
    let named = plan.payment_id.to_string();
    let messages = calls
        .iter()
        .filter(|c| c.delivered && c.method == "sendMessage")
        .filter(|c| c.chat_id() == Some(plan.buyer()))
        .filter(|c| {
            let text = c.text().unwrap_or_default();
            text.contains(&named) && link_in(text).is_none()
        })
        .count();
    if messages == 0 && buyer != "buyer:unreachable" {
        report.held_buyers_without_message.push(plan.payment_id);
    }
    report.held_messages_repeated += messages.saturating_sub(1);
}

/// Checks a short, topped-up or overpaid purchase against its model, from the store.
async fn purchase_model<S: PaymentStore>(
    report: &mut Report,
    store: &S,
    plan: &PaymentPlan,
    record: Option<&telepay_core::payment::ProcessedPayment>,
    review: Option<&telepay_core::payment::PaymentReview>,
) {
    use telepay_core::payment::ReviewDecision;
    let id = PaymentId::new(plan.payment_id).unwrap();
    let mut wrong = Vec::new();
    let month = Some(super::schedule::TIER_SECONDS);
    match plan.kind {
        PaymentKind::ToppedUp => {
            if store.get_payment(id).await.expect("read").is_some() {
                wrong.push("the short first payment has a record of its own".to_owned());
            }
            let purchase = record.and_then(|r| r.purchase.as_ref());
            if purchase.is_none_or(|p| {
                p.duration_seconds != month || p.price_amount != super::schedule::PRICE
            }) {
                wrong.push(format!(
                    "the top-up's record grants {:?}",
                    purchase.map(|p| (p.duration_seconds, p.price_amount))
                ));
            }
            if review.and_then(|r| r.decision) != Some(ReviewDecision::ToppedUp) {
                wrong.push(format!(
                    "the first payment's hold is {:?}",
                    review.map(|r| r.decision)
                ));
            }
            if wrong.is_empty() {
                report.topped_up += 1;
            }
        }
        PaymentKind::Underpaid => {
            let open = store.purchase_of(id).await.expect("read the purchase");
            if record.is_some() || review.is_none_or(|r| r.decision.is_some()) {
                wrong.push("a short payment never topped up was granted or decided".to_owned());
            }
            if !open
                .as_ref()
                .is_some_and(|p| p.is_open() && p.parts == vec![id])
            {
                wrong.push(format!("its purchase is {open:?}"));
            }
            if wrong.is_empty() {
                report.short_left_open += 1;
            }
        }
        PaymentKind::Overpaid => {
            let purchase = record.and_then(|r| r.purchase.as_ref());
            if purchase.is_none_or(|p| p.duration_seconds != month || p.overpaid_by.is_none()) {
                wrong.push(format!(
                    "granted {:?}",
                    purchase.map(|p| (p.duration_seconds, p.overpaid_by))
                ));
            } else {
                report.overpaid_with_surplus += 1;
            }
        }
        _ => {}
    }
    if !wrong.is_empty() {
        report.purchase_model_mismatch.push(format!(
            "payment {} ({:?}): {}",
            plan.payment_id,
            plan.kind,
            wrong.join("; ")
        ));
    }
}

/// The tally's name for a verified IPN np-webhook handed to the processor unrecorded.
pub(super) const UNRECORDED_HANDOVER: &str =
    "protocol: verified IPN handed to the processor unrecorded";

fn first(ids: &[i64]) -> &[i64] {
    &ids[..ids.len().min(10)]
}

pub(super) async fn build<S: PaymentStore>(
    backend: &str,
    store: &S,
    plans: &[PaymentPlan],
    fake: &FakeBotApi,
    chaos: &Chaos,
    figures: &RunFigures,
    wall_time: Duration,
) -> Report {
    let calls = fake.calls();
    // Which payment each created link belongs to (named "payment <id>" at creation).
    let mut owner: HashMap<String, i64> = HashMap::new();
    let mut created: Vec<String> = Vec::new();
    // When (the position among Telegram's calls) each link was revoked.
    let mut revoked: HashMap<String, usize> = HashMap::new();
    for (at, call) in calls.iter().enumerate().filter(|(_, c)| c.delivered) {
        match call.method.as_str() {
            "createChatInviteLink" => {
                let link = call.invite_link().expect("a created link").to_owned();
                let payment = call.params["name"]
                    .as_str()
                    .and_then(|n| n.strip_prefix("payment "))
                    .and_then(|id| id.parse().ok())
                    .expect("links are named after their payment");
                owner.insert(link.clone(), payment);
                created.push(link);
            }
            "revokeChatInviteLink" => {
                let link = call.invite_link().unwrap_or_default().to_owned();
                revoked.entry(link).or_insert(at);
            }
            _ => {}
        }
    }
    // A top-up's record and links name the top-up: it belongs to its purchase's plan.
    let plan_of: HashMap<i64, &PaymentPlan> = plans
        .iter()
        .flat_map(|p| std::iter::once((p.payment_id, p)).chain(p.topup_id().map(|t| (t, p))))
        .collect();
    let link_figures = link_timeline(&calls, &fake.joins(), &owner, plans);
    let mut report = Report {
        backend: backend.to_owned(),
        seed: figures.seed,
        payments: plans.len(),
        forged_sent: figures.forged_sent,
        forged_accepted: figures.forged_answered_ok as usize,
        figures: figures.clone(),
        wall_time,
        ..Report::default()
    };
    // Links delivered, per payment, in order.
    let mut delivered: HashMap<i64, Vec<String>> = HashMap::new();
    let mut sent_links: HashSet<String> = HashSet::new();
    for (at, call) in calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.delivered && c.method == "sendMessage")
    {
        let text = call.text().unwrap_or_default();
        let Some(link) = link_in(text).filter(|l| owner.contains_key(*l)) else {
            continue;
        };
        let link = link.to_owned();
        // The message names its payment: a buyer's payments share one link.
        let payment = payment_named_in(text).unwrap_or(owner[&link]);
        if plan_of.get(&payment).map(|p| p.buyer()) != call.chat_id() {
            report.wrong_recipient += 1;
        }
        match revoked.get(&link) {
            Some(&revoked_at) if revoked_at < at => report.dead_links_delivered += 1,
            Some(_) if sent_links.insert(link.clone()) => report.links_replaced_after_delivery += 1,
            _ => {}
        }
        sent_links.insert(link.clone());
        delivered.entry(payment).or_default().push(link);
    }
    for link in &created {
        if !sent_links.contains(link) {
            if revoked.contains_key(link) {
                report.orphan_links_revoked += 1;
            } else {
                report.orphan_links_expiring += 1;
            }
        }
    }

    // A link each buyer received that was never revoked (any of their payments').
    let mut working_link_of: HashMap<i64, String> = HashMap::new();
    for (payment, links) in &delivered {
        let Some(plan) = plan_of.get(payment) else {
            continue;
        };
        if let Some(link) = links.iter().find(|link| !revoked.contains_key(*link)) {
            working_link_of.insert(plan.buyer(), link.clone());
        }
    }
    for plan in plans {
        let id = PaymentId::new(plan.payment_id).unwrap();
        let granted = PaymentId::new(plan.granted_id()).unwrap();
        let record = store.get_payment(granted).await.expect("read the record");
        let review = store.get_review(id).await.expect("read the review");
        let paid_out = figures.payouts_for.contains(&plan.granted_id());
        purchase_model(&mut report, store, plan, record.as_ref(), review.as_ref()).await;
        if plan.kind == PaymentKind::ForgedOnly {
            if record.is_some() || review.is_some() {
                report.forged_traces += 1;
            }
            report.payouts_not_granted += usize::from(paid_out);
            continue;
        }
        report.paid += 1;
        // Every invoice was made at version 1 and paid after the price rose: one that
        // pays the full price of its version is granted, never held for the change.
        if matches!(plan.kind, PaymentKind::Paid | PaymentKind::Overpaid) {
            if review.is_some() {
                report.held_after_price_change.push(plan.payment_id);
            } else if record
                .as_ref()
                .and_then(|r| r.purchase.as_ref())
                .is_some_and(|p| p.price_amount == super::schedule::PRICE)
            {
                report.granted_at_invoice_price += 1;
            }
        }
        let settled = store
            .watch_of(id)
            .await
            .expect("read the watch")
            .and_then(|w| w.settled);
        let recovered = settled == Some(Settlement::Recovered);
        if plan.ipns_lost {
            report.ipns_lost += 1;
            // No finishing IPN was ever sent: whatever recorded or held it was the
            // recovery pass, even when a crash after its write left the watch to be
            // settled `arrived` by the next check.
            let brought_in = record.is_some() || review.is_some();
            let closed = matches!(settled, Some(Settlement::Recovered | Settlement::Arrived));
            if brought_in && closed {
                report.ipns_lost_recovered += 1;
            } else {
                report.ipns_lost_not_recovered.push(plan.payment_id);
            }
        } else if recovered {
            report.recovered_with_ipns_sent += 1;
        }
        if let Some(record) = &record
            && record.user_id.get() != plan.buyer()
        {
            report.forged_traces += 1;
        }
        if let Some(review) = &review {
            *report
                .held
                .entry(review.reason.as_str().to_owned())
                .or_default() += 1;
            held_notice_figures(&mut report, store, plan, &calls).await;
            if matches!(plan.kind, PaymentKind::Paid | PaymentKind::Overpaid) {
                // A genuine, correctly priced payment held: only a tampered IPN does that.
                report.forged_traces += 1;
            }
        }
        match plan.kind {
            kind if kind.grants() => {
                report.granted_without_payout += usize::from(!paid_out);
            }
            _ => {
                report.payouts_not_granted += usize::from(paid_out);
                if review.is_none() {
                    report.lost.push(plan.payment_id);
                }
                continue;
            }
        }
        let links = delivered
            .get(&plan.granted_id())
            .cloned()
            .unwrap_or_default();
        let mut distinct: HashSet<&String> = links
            .iter()
            .filter(|link| !revoked.contains_key(*link))
            .collect();
        let failed = record
            .as_ref()
            .filter(|r| r.state == RecordState::InviteFailed)
            .map(|r| r.invite_failure_reason.clone().unwrap_or_default());
        // A buyer's payments share one link: a later payment of theirs may have replaced
        // it (too short-lived to send again, so revoked) after this one delivered it,
        // and sent the buyer the replacement. The buyer holds a working link.
        if distinct.is_empty()
            && !links.is_empty()
            && failed.is_none()
            && let Some(working) = working_link_of.get(&plan.buyer())
        {
            report.shared_link_replaced_later += 1;
            distinct.insert(working);
        }
        if let Some(reason) = &failed {
            let reason = reason.split(':').next().unwrap_or_default().to_owned();
            *report.invite_failed.entry(reason).or_default() += 1;
        }
        if !distinct.is_empty() {
            report.invited += 1;
            *report
                .distinct_links_per_invited
                .entry(distinct.len())
                .or_default() += 1;
            for cause in duplicate_causes(&chaos.ledger(plan.granted_id()), links.len()) {
                *report.duplicate_messages.entry(cause).or_default() += 1;
            }
            // The stored link is one the buyer received (the last, after a replacement).
            let in_step = record.as_ref().is_some_and(|r| {
                (r.telegram_invite_sent || failed.is_some())
                    && r.telegram_invite_link
                        .as_ref()
                        .is_some_and(|stored| links.contains(stored))
            });
            if !in_step {
                report.records_out_of_step.push(plan.payment_id);
            }
            if record
                .as_ref()
                .is_some_and(|r| r.invite_satisfied_by_membership)
            {
                report.satisfied_by_membership += 1;
            }
            if failed.is_none()
                // Whether a buyer clicks is the buyer's (keyed by their first position).
                && buyer_clicks(&chaos.dice, &chaos.rates, payment_of_user(plan.buyer()))
                && !fake.is_member(SAMPLE_CHANNEL_ID, plan.buyer())
            {
                report.clicking_buyers_outside.push(plan.payment_id);
            }
        } else if let Some(record) = record.as_ref().filter(|r| {
            r.telegram_invite_sent
                && (r.invite_renewed_in_place || r.invite_satisfied_by_membership)
        }) {
            if record.invite_renewed_in_place {
                report.renewed_in_place += 1;
            } else {
                report.in_without_own_message += 1;
            }
            if !fake.is_member(SAMPLE_CHANNEL_ID, plan.buyer()) {
                report.completed_in_place_but_outside.push(plan.payment_id);
            }
        } else if failed.is_none()
            && !links.is_empty()
            && fake.is_member(SAMPLE_CHANNEL_ID, plan.buyer())
        {
            // The buyer joined through a link a later payment of theirs then revoked
            // (before replacing it, then found them in): in, nothing lost.
            report.in_through_a_link_revoked_later += 1;
        } else if failed.is_none() {
            report.lost.push(plan.payment_id);
            report.lost_detail.push(format!(
                "payment {} ({:?}, buyer {}): record {:?}; links delivered {:?}; revoked among them {:?}; buyer's working link {:?}; ledger {:?}",
                plan.payment_id,
                plan.kind,
                plan.buyer(),
                record.as_ref().map(|r| (
                    r.state,
                    r.processed,
                    r.telegram_invite_sent,
                    r.telegram_invite_link.clone(),
                    r.invite_lease_until
                )),
                links,
                links.iter().filter(|l| revoked.contains_key(*l)).collect::<Vec<_>>(),
                working_link_of.get(&plan.buyer()),
                chaos.ledger(plan.payment_id)
            ));
        } else if record.as_ref().is_some_and(|r| r.telegram_invite_sent) {
            report.records_out_of_step.push(plan.payment_id);
        }
    }
    for join in fake.joins() {
        let buyer = owner
            .get(&join.link)
            .and_then(|payment| plan_of.get(payment))
            .map(|plan| plan.buyer());
        if buyer != Some(join.user_id) {
            report.strangers_admitted += 1;
        }
    }
    let buyers: HashSet<i64> = plans.iter().map(PaymentPlan::buyer).collect();
    report.members = buyers
        .iter()
        .filter(|buyer| fake.is_member(SAMPLE_CHANNEL_ID, **buyer))
        .count();
    report.renewals = link_figures.renewals.len();
    report.links_to_members = link_figures.links_to_members;
    report.second_open_link_at_send = link_figures.second_open_link_at_send;
    report.unexplained_open_links = link_figures.unexplained;
    report
}

const UNEXPLAINED: &str = "unexplained";

/// The payment a message names ("(payment N)", the chaos run's template).
fn payment_named_in(text: &str) -> Option<i64> {
    let (_, rest) = text.rsplit_once("(payment ")?;
    rest.strip_suffix(')')?.parse().ok()
}

struct LinkFigures {
    renewals: HashSet<i64>,
    links_to_members: BTreeMap<String, usize>,
    second_open_link_at_send: BTreeMap<String, usize>,
    unexplained: Vec<String>,
}

/// An unexplained second open link, told for a reader: the send, and every call that
/// named either link, with their positions and times.
fn describe_open_link(
    calls: &[fake_bot_api::Call],
    at: usize,
    user: i64,
    link: &str,
    other: &str,
    owner: &HashMap<String, i64>,
) -> String {
    let mut lines = vec![format!(
        "send #{at} to user {user} of {link} (made for payment {:?}) while {other} (made for payment {:?}) was open:",
        owner.get(link),
        owner.get(other)
    )];
    for (n, call) in calls.iter().enumerate() {
        let text = call.text().unwrap_or_default();
        let names = |l: &str| call.invite_link() == Some(l) || text.contains(l);
        if names(link) || names(other) {
            lines.push(format!(
                "  #{n} {} ms {} delivered={} link={:?} expire_date={:?}",
                call.at_ms,
                call.method,
                call.delivered,
                call.invite_link().or_else(|| link_in(text)),
                call.params["expire_date"].as_i64()
            ));
        }
    }
    lines.join("\n")
}

/// Replays Telegram's calls and the buyers' joins in order: at each link message, was
/// the buyer in already through another link, and did they hold another open link?
fn link_timeline(
    calls: &[fake_bot_api::Call],
    joins: &[fake_bot_api::Join],
    owner: &HashMap<String, i64>,
    plans: &[PaymentPlan],
) -> LinkFigures {
    // A renewal: a paid payment whose buyer paid earlier in the schedule.
    let mut seen_buyers = HashSet::new();
    let mut renewals = HashSet::new();
    for plan in plans.iter().filter(|p| p.kind.grants()) {
        if !seen_buyers.insert(plan.buyer()) {
            renewals.insert(plan.granted_id());
        }
    }
    let mut figures = LinkFigures {
        renewals,
        links_to_members: BTreeMap::new(),
        second_open_link_at_send: BTreeMap::new(),
        unexplained: Vec::new(),
    };
    let mut expires_at: HashMap<&str, i64> = HashMap::new();
    let mut revoked: HashSet<&str> = HashSet::new();
    let mut revoke_failed: HashSet<&str> = HashSet::new();
    // The links each buyer was sent so far, and the link each member joined through.
    let mut sent_to: HashMap<i64, Vec<&str>> = HashMap::new();
    let mut joined_through: HashMap<i64, &str> = HashMap::new();
    let mut next_join = 0;
    for (at, call) in calls.iter().enumerate() {
        while let Some(join) = joins.get(next_join).filter(|j| j.after_calls <= at) {
            joined_through.entry(join.user_id).or_insert(&join.link);
            next_join += 1;
        }
        match (call.method.as_str(), call.delivered) {
            ("createChatInviteLink", true) => {
                if let (Some(link), Some(at)) =
                    (call.invite_link(), call.params["expire_date"].as_i64())
                {
                    expires_at.insert(link, at);
                }
            }
            ("revokeChatInviteLink", delivered) => {
                if let Some(link) = call.invite_link() {
                    if delivered {
                        revoked.insert(link);
                    } else {
                        revoke_failed.insert(link);
                    }
                }
            }
            ("sendMessage", true) => {
                let (Some(user), Some(text)) = (call.chat_id(), call.text()) else {
                    continue;
                };
                let Some(link) = link_in(text).filter(|l| owner.contains_key(*l)) else {
                    continue;
                };
                let payment = payment_named_in(text).unwrap_or(owner[link]);
                if joined_through
                    .get(&user)
                    .is_some_and(|through| *through != link)
                {
                    let kind = if figures.renewals.contains(&payment) {
                        "renewal"
                    } else {
                        "first payment"
                    };
                    *figures.links_to_members.entry(kind.into()).or_default() += 1;
                }
                let now_s = call.at_ms / 1000;
                let earlier = sent_to.entry(user).or_default();
                let open_other = earlier.iter().find(|other| {
                    **other != link
                        && !revoked.contains(*other)
                        && expires_at.get(*other).is_some_and(|exp| *exp > now_s)
                });
                if let Some(other) = open_other {
                    let why = if revoke_failed.contains(other) {
                        "a revoke Telegram never acted on (a fault)"
                    } else {
                        figures
                            .unexplained
                            .push(describe_open_link(calls, at, user, link, other, owner));
                        UNEXPLAINED
                    };
                    *figures
                        .second_open_link_at_send
                        .entry(why.into())
                        .or_default() += 1;
                }
                if !earlier.contains(&link) {
                    earlier.push(link);
                }
            }
            _ => {}
        }
    }
    figures
}

/// Why each message after the first went out: the first fault noted after the previous
/// send, from the payment's ledger. `sends` is what Telegram saw (the truth); the ledger
/// explains them.
fn duplicate_causes(ledger: &[LedgerEntry], sends: usize) -> Vec<String> {
    let mut causes = Vec::new();
    let mut seen_send = false;
    let mut cause: Option<String> = None;
    for entry in ledger {
        match entry {
            LedgerEntry::SendAnswered | LedgerEntry::SendAbandoned => {
                if seen_send && causes.len() + 1 < sends {
                    causes.push(cause.take().unwrap_or_else(|| "unexplained".into()));
                }
                seen_send = true;
                cause = (*entry == LedgerEntry::SendAbandoned)
                    .then(|| "sendMessage answered after the call timeout".into());
            }
            LedgerEntry::Fault(fault) if seen_send && cause.is_none() => {
                cause = Some(fault.clone());
            }
            LedgerEntry::Fault(_) => {}
        }
    }
    while causes.len() + 1 < sends {
        causes.push("unexplained".into());
    }
    causes
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sum = |m: &BTreeMap<String, usize>| m.values().sum::<usize>();
        let list = |m: &BTreeMap<String, usize>| {
            m.iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let fig = &self.figures;
        writeln!(
            f,
            "== {} (seed {}, {} payments) ==",
            self.backend, self.seed, self.payments
        )?;
        writeln!(f, "  paid payments                 {}", self.paid)?;
        writeln!(f, "  invited                       {}", self.invited)?;
        writeln!(
            f,
            "  invite_failed (terminal)      {} ({})",
            sum(&self.invite_failed),
            list(&self.invite_failed)
        )?;
        writeln!(
            f,
            "  held for review               {} ({})",
            sum(&self.held),
            list(&self.held)
        )?;
        writeln!(
            f,
            "  held: told                    {} ({}); never told {}, buyer heard nothing {}, messages repeated {}",
            sum(&self.held_told),
            list(&self.held_told),
            self.held_untold.len(),
            self.held_buyers_without_message.len(),
            self.held_messages_repeated
        )?;
        writeln!(
            f,
            "  catalog                       invoices at v1, {} versions applied during the run ({} applies refused by a fault): granted at the invoice's price {}, held for the change {}",
            fig.catalog_applied,
            fig.catalog_apply_failed,
            self.granted_at_invoice_price,
            self.held_after_price_change.len()
        )?;
        writeln!(
            f,
            "  finishing IPNs lost           {}: recovered {}, never recovered {}; recovered with IPNs sent {} (pass count {})",
            self.ipns_lost,
            self.ipns_lost_recovered,
            self.ipns_lost_not_recovered.len(),
            self.recovered_with_ipns_sent,
            fig.recovered
        )?;
        writeln!(
            f,
            "  short payments                topped up {}, left open (told) {}; overpaid with surplus {}; differing from the model {}",
            self.topped_up,
            self.short_left_open,
            self.overpaid_with_surplus,
            self.purchase_model_mismatch.len()
        )?;
        writeln!(f, "  LOST                          {}", self.lost.len())?;
        let links = self
            .distinct_links_per_invited
            .iter()
            .map(|(links, n)| format!("{n} payments × {links} link(s)"))
            .collect::<Vec<_>>()
            .join(", ");
        writeln!(f, "  distinct links per invited    {links}")?;
        writeln!(
            f,
            "  duplicate messages (same link) {} ({})",
            sum(&self.duplicate_messages),
            list(&self.duplicate_messages)
        )?;
        writeln!(
            f,
            "  unsent orphan links           {} ({} revoked, {} left to expire)",
            self.orphan_links_revoked + self.orphan_links_expiring,
            self.orphan_links_revoked,
            self.orphan_links_expiring
        )?;
        writeln!(
            f,
            "  dead links delivered          {}",
            self.dead_links_delivered
        )?;
        writeln!(
            f,
            "  satisfied by membership       {} (buyer already in: no second link)",
            self.satisfied_by_membership
        )?;
        writeln!(
            f,
            "  links replaced after delivery {} (buyer not in yet; revoked, a working one sent)",
            self.links_replaced_after_delivery
        )?;
        writeln!(
            f,
            "  Telegram: buyers in channel   {}; clicking buyers left outside {}; strangers admitted {}",
            self.members,
            self.clicking_buyers_outside.len(),
            self.strangers_admitted
        )?;
        writeln!(
            f,
            "  links to the wrong user       {}",
            self.wrong_recipient
        )?;
        writeln!(
            f,
            "  FORGED/TAMPERED ACCEPTED      {} (of {} sent); traces in the store {}",
            self.forged_accepted, self.forged_sent, self.forged_traces
        )?;
        writeln!(
            f,
            "  payouts: not granted {} / granted without {}",
            self.payouts_not_granted, self.granted_without_payout
        )?;
        writeln!(
            f,
            "  records out of step           {}",
            self.records_out_of_step.len()
        )?;
        writeln!(
            f,
            "  returning buyers              {} renewals: {} renewed in place (no link), {} in already with no message of their own; completed without a link but outside {}",
            self.renewals,
            self.renewed_in_place,
            self.in_without_own_message,
            self.completed_in_place_but_outside.len()
        )?;
        writeln!(
            f,
            "  links sent to a member        {} ({}; the buyer joined between the check and the send)",
            sum(&self.links_to_members),
            list(&self.links_to_members)
        )?;
        writeln!(
            f,
            "  shared link replaced later    {} (a later payment of the buyer revoked it and sent its replacement)",
            self.shared_link_replaced_later
        )?;
        writeln!(
            f,
            "  a second open link at a send  {} ({})",
            sum(&self.second_open_link_at_send),
            list(&self.second_open_link_at_send)
        )?;
        writeln!(
            f,
            "  NOWPayments gave up on        {} deliveries; reconciler requeued {} (final sweep: {} round(s))",
            fig.np_gave_up, fig.requeued_by_reconciler, fig.final_reconcile_rounds
        )?;
        writeln!(
            f,
            "  in through a link revoked later {} (a later payment revoked it before replacing it, then found the buyer in)",
            self.in_through_a_link_revoked_later
        )?;
        writeln!(
            f,
            "  recorded by the processor     {} verified IPNs whose record write np-webhook met refused",
            fig.injected.get(UNRECORDED_HANDOVER).copied().unwrap_or(0)
        )?;
        for (name, queue) in [
            ("processor", &fig.processor_queue),
            ("invite", &fig.invite_queue),
        ] {
            writeln!(
                f,
                "  {name:<9} queue                {} sent, {} delivered twice, {} redelivered after the visibility timeout, {} dead-lettered",
                queue.sent, queue.duplicated, queue.redelivered, queue.dead_lettered
            )?;
        }
        let protocol: u64 = fig
            .injected
            .iter()
            .filter(|(k, _)| k.starts_with("protocol: "))
            .map(|(_, v)| v)
            .sum();
        writeln!(
            f,
            "  lease refusals and takeovers  {protocol} (claims refused by a live lease, fenced writes refused after a takeover)"
        )?;
        let crashes: BTreeMap<&str, u64> = fig
            .injected
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("crash: ").map(|k| (k, *v)))
            .collect();
        writeln!(
            f,
            "  crashes injected              {} at {} distinct step boundaries",
            crashes.values().sum::<u64>(),
            crashes.len()
        )?;
        let faults: u64 = fig
            .injected
            .iter()
            .filter(|(k, _)| !k.starts_with("crash: ") && !k.starts_with("protocol: "))
            .map(|(_, v)| v)
            .sum();
        writeln!(f, "  other faults injected         {faults}")?;
        writeln!(
            f,
            "  wall time                     {:.1} s: arrivals {:.1} s (the schedule spans {:.1} s), drain {:.1} s",
            self.wall_time.as_secs_f64(),
            fig.arrivals.as_secs_f64(),
            fig.scheduled_arrivals.as_secs_f64(),
            self.wall_time.saturating_sub(fig.arrivals).as_secs_f64(),
        )
    }
}

/// The injected faults and crash points, one per line.
pub fn injected(report: &Report) -> String {
    report
        .figures
        .injected
        .iter()
        .map(|(what, n)| format!("    {n:>6}  {what}\n"))
        .collect()
}

/// Counters the report needs from the run itself.
#[derive(Debug, Clone, Default)]
pub struct RunFigures {
    /// Payments the recovery pass brought in (no finishing IPN had recorded them).
    pub recovered: u64,
    pub seed: u64,
    pub np_gave_up: u64,
    pub forged_sent: u64,
    pub forged_answered_ok: u64,
    pub requeued_by_reconciler: u64,
    pub final_reconcile_rounds: u32,
    pub processor_queue: super::sim_sqs::QueueFigures,
    pub invite_queue: super::sim_sqs::QueueFigures,
    pub payouts_for: HashSet<i64>,
    pub injected: std::collections::BTreeMap<String, u64>,
    /// From the start until NOWPayments' last delivery (with its retries) was answered.
    pub arrivals: Duration,
    /// What the schedule alone spans (payments × arrival interval): arrivals far beyond
    /// it mean the webhook fell behind; the rest of the wall time is the drain.
    pub scheduled_arrivals: Duration,
    /// Catalog versions applied while payments arrived (price changes after every
    /// invoice was made), and applies a store fault refused.
    pub catalog_applied: u64,
    pub catalog_apply_failed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_repeat_send_is_blamed_on_the_first_fault_after_the_send_before_it() {
        let fault = |s: &str| LedgerEntry::Fault(s.into());
        let ledger = [
            fault("store refused claim_invite"),
            LedgerEntry::SendAnswered,
            fault("crash: invite-sender after sendMessage"),
            fault("store refused claim_invite"),
            LedgerEntry::SendAbandoned,
            LedgerEntry::SendAnswered,
        ];
        assert_eq!(
            duplicate_causes(&ledger, 3),
            [
                "crash: invite-sender after sendMessage",
                "sendMessage answered after the call timeout"
            ]
        );
        assert_eq!(duplicate_causes(&ledger[..2], 2), ["unexplained"]);
        assert!(duplicate_causes(&ledger, 1).is_empty());
    }

    #[test]
    fn a_lost_payment_a_second_link_or_a_forgery_is_a_violation() {
        let clean = Report {
            distinct_links_per_invited: BTreeMap::from([(1, 10)]),
            ..Report::default()
        };
        assert!(clean.violations().is_empty());
        let broken = Report {
            lost: vec![5],
            distinct_links_per_invited: BTreeMap::from([(1, 9), (2, 1)]),
            forged_accepted: 1,
            ..Report::default()
        };
        let violations = broken.violations();
        assert_eq!(violations.len(), 3, "{violations:?}");
        assert!(violations[0].contains("lost") && violations[1].contains("more than one"));
    }
}
