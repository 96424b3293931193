//! The decorators: the real store, queue and Telegram adapter with step boundaries and
//! faults around each call; every call still reaches the real thing unless a fault stops
//! it.

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use telepay_core::directory::Admission;
use telepay_core::ipn::PaymentId;
use telepay_core::payment::{PaymentReview, ProcessedPayment, ReviewDecision};
use telepay_core::queue::{MessageQueue, QueueError, TaskQueue};
use telepay_core::stars::LedgerEntry as StarsLedgerEntry;
use telepay_core::store::ports::*;
use telepay_core::store::{
    BotStore, ClaimOutcome, Decided, Fenced, Held, HeldNoticeStore, InviteClaim, InviteCompletion,
    InviteLease, Listed, ListedSubscription, NoticeClaim, NoticeFound, NoticeState, OnceClaim,
    OnceFound, OnceKey, OnceRecord, ProcessedMark, ProcessingStart, Recorded, Reopened, Resolution,
    Resolved, StoreError, SubscriptionFilter, Versioned,
};
use telepay_core::store::{BudgetKey, BudgetSpend, BudgetWindow};
use telepay_core::store::{CatalogApplied, CatalogStore, StoredCatalog};
use telepay_core::store::{NewWatch, PaymentWatch, Settlement, WatchClaim, WatchFound, Watched};
use telepay_core::store::{
    OpenPurchase, PartAdded, PartsSettled, PartsTally, PurchaseOpened, PurchasePart,
};
use telepay_core::subscription::{Subscription, SubscriptionKey};
use telepay_core::telegram::{
    BotConversation, Button, InviteLink, MemberRemover, StarsInvoice, StarsLedger, StarsPayments,
    TelegramError, TelegramInviter,
};

use super::dice::tag;
use super::sim_sqs::SimQueue;

use super::faults::*;

// ---- the store --------------------------------------------------------------------------

/// The bot's once-records suffer the same faults; a finish that reports done is
/// counted per update, so the report can say whether one was ever handled twice.
impl<S: PaymentStore + BotStore> BotStore for ChaosStore<S> {
    async fn claim_once(&self, key: OnceKey, claim: &OnceClaim) -> Result<OnceFound, StoreError> {
        let call = self.inner.claim_once(key, claim);
        self.faulty("claim_once", 0, call).await
    }

    async fn finish_once(
        &self,
        key: OnceKey,
        token: &str,
        result: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let call = self.inner.finish_once(key, token, result, now);
        let finished = self.faulty("finish_once", 0, call).await;
        if let (Ok(Fenced::Done), OnceKey::Update(id)) = (&finished, key) {
            self.chaos.count(format!("bot update finished: {id}"));
        }
        finished
    }

    async fn release_once(&self, key: OnceKey, token: &str) -> Result<Fenced, StoreError> {
        let call = self.inner.release_once(key, token);
        self.faulty("release_once", 0, call).await
    }

    async fn read_once(&self, key: OnceKey) -> Result<Option<OnceRecord>, StoreError> {
        let call = self.inner.read_once(key);
        self.faulty("read_once", 0, call).await
    }

    async fn forget_expired(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        self.inner.forget_expired(now, limit).await
    }
}

/// A [`PaymentStore`] whose writes pass step boundaries and suffer faults.
pub struct ChaosStore<S> {
    inner: Arc<S>,
    chaos: Arc<Chaos>,
}

impl<S> Clone for ChaosStore<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            chaos: self.chaos.clone(),
        }
    }
}

impl<S: PaymentStore> ChaosStore<S> {
    pub fn new(inner: Arc<S>, chaos: Arc<Chaos>) -> Self {
        Self { inner, chaos }
    }

    async fn write<T>(
        &self,
        operation: &'static str,
        payment_id: i64,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        working_on(payment_id);
        self.faulty(operation, payment_id, call).await
    }

    /// A store call with faults and step boundaries, attributed to `payment_id`.
    async fn faulty<T>(
        &self,
        operation: &'static str,
        payment_id: i64,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let chaos = &self.chaos;
        boundary(chaos, || format!("before {operation}")).await;
        let attempt = chaos.attempt(operation, payment_id);
        let roll = chaos
            .dice
            .unit(&[tag("store"), tag(operation), payment_id as u64, attempt]);
        let rates = &chaos.rates;
        if roll < rates.store_refused {
            chaos.fault(payment_id, format!("store refused {operation}"));
            return Err(StoreError::Unavailable(format!(
                "injected: {operation} refused"
            )));
        }
        let answer_lost = roll < rates.store_refused + rates.store_answer_lost;
        if !answer_lost && roll < rates.store_refused + rates.store_answer_lost + rates.store_slow {
            chaos.count(format!("store slow {operation}"));
            tokio::time::sleep(rates.store_slow_for).await;
        }
        let result = call.await;
        boundary(chaos, || format!("after {operation}")).await;
        if answer_lost && result.is_ok() {
            chaos.fault(payment_id, format!("store answer lost after {operation}"));
            return Err(StoreError::Unavailable(format!(
                "injected: {operation} applied, answer lost"
            )));
        }
        result
    }
}

/// Subscription calls suffer the same faults, attributed to the payment the invocation
/// works on (a grant in the processor), or to none (the lifecycle's own work).
impl<S: PaymentStore> SubscriptionStore for ChaosStore<S> {
    async fn get_subscription(
        &self,
        key: SubscriptionKey,
    ) -> Result<Option<Subscription>, StoreError> {
        let call = self.inner.get_subscription(key);
        self.faulty("get_subscription", current_payment(), call)
            .await
    }

    async fn write_subscription(&self, next: &Subscription) -> Result<Versioned, StoreError> {
        let call = self.inner.write_subscription(next);
        let written = self
            .faulty("write_subscription", current_payment(), call)
            .await;
        if let Ok(Versioned::Conflict) = written {
            self.chaos
                .count("protocol: subscription write met a newer version; decided again");
        }
        written
    }

    async fn due_subscriptions(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ListedSubscription>, StoreError> {
        let call = self.inner.due_subscriptions(now, limit);
        self.faulty("due_subscriptions", 0, call).await
    }

    async fn list_subscriptions(
        &self,
        filter: SubscriptionFilter,
        limit: usize,
    ) -> Result<Vec<ListedSubscription>, StoreError> {
        self.inner.list_subscriptions(filter, limit).await
    }

    async fn park_unreadable(
        &self,
        row: &telepay_core::store::UnreadableSubscription,
        until: DateTime<Utc>,
    ) -> Result<Versioned, StoreError> {
        let call = self.inner.park_unreadable(row, until);
        self.faulty("park_unreadable", 0, call).await
    }
}

/// Payment watches suffer the same faults, attributed to the watched payment.
impl<S: PaymentStore> PaymentWatchStore for ChaosStore<S> {
    async fn watch_payment(&self, watch: &NewWatch) -> Result<Watched, StoreError> {
        let id = watch.payment_id.get();
        self.write("watch_payment", id, self.inner.watch_payment(watch))
            .await
    }

    async fn due_watches(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentWatch>, StoreError> {
        let call = self.inner.due_watches(now, limit);
        self.faulty("due_watches", 0, call).await
    }

    async fn claim_watch(&self, claim: &WatchClaim) -> Result<WatchFound, StoreError> {
        let id = claim.payment_id.get();
        self.write("claim_watch", id, self.inner.claim_watch(claim))
            .await
    }

    async fn postpone_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        last_status: &str,
        next_check_at: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let call = self
            .inner
            .postpone_watch(payment_id, token, last_status, next_check_at);
        self.write("postpone_watch", payment_id.get(), call).await
    }

    async fn settle_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        settlement: Settlement,
        last_status: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let call = self
            .inner
            .settle_watch(payment_id, token, settlement, last_status, now);
        self.write("settle_watch", payment_id.get(), call).await
    }

    async fn watch_of(&self, payment_id: PaymentId) -> Result<Option<PaymentWatch>, StoreError> {
        self.inner.watch_of(payment_id).await
    }

    async fn under_way_of(
        &self,
        user_id: i64,
        limit: usize,
    ) -> Result<Vec<PaymentWatch>, StoreError> {
        self.inner.under_way_of(user_id, limit).await
    }
}

/// Purchases in parts suffer the same faults, attributed to the purchase.
impl<S: PaymentStore> PurchasePartsStore for ChaosStore<S> {
    async fn open_purchase(&self, open: &OpenPurchase) -> Result<PurchaseOpened, StoreError> {
        let id = open.purchase_id.get();
        self.write("open_purchase", id, self.inner.open_purchase(open))
            .await
    }

    async fn add_part(
        &self,
        purchase_id: PaymentId,
        part: &PurchasePart,
    ) -> Result<PartAdded, StoreError> {
        let call = self.inner.add_part(purchase_id, part);
        self.write("add_part", purchase_id.get(), call).await
    }

    async fn settle_purchase(
        &self,
        purchase_id: PaymentId,
        by: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<PartsSettled, StoreError> {
        let call = self.inner.settle_purchase(purchase_id, by, now);
        self.write("settle_purchase", purchase_id.get(), call).await
    }

    async fn settle_part_hold(
        &self,
        part: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let call = self.inner.settle_part_hold(part, now);
        self.write("settle_part_hold", part.get(), call).await
    }

    async fn purchase_of(&self, purchase_id: PaymentId) -> Result<Option<PartsTally>, StoreError> {
        self.inner.purchase_of(purchase_id).await
    }

    async fn open_purchases_of(
        &self,
        user_id: i64,
        limit: usize,
    ) -> Result<Vec<PartsTally>, StoreError> {
        self.inner.open_purchases_of(user_id, limit).await
    }

    async fn stale_purchases(
        &self,
        opened_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PartsTally>, StoreError> {
        let call = self.inner.stale_purchases(opened_before, limit);
        self.faulty("stale_purchases", 0, call).await
    }

    async fn mark_owner_told(
        &self,
        purchase_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let call = self.inner.mark_owner_told(purchase_id, now);
        self.write("mark_owner_told", purchase_id.get(), call).await
    }
}

/// Held-payment notices suffer the same faults, attributed to the held payment.
impl<S: PaymentStore> HeldNoticeStore for ChaosStore<S> {
    async fn claim_notice(&self, claim: &NoticeClaim) -> Result<NoticeFound, StoreError> {
        let id = claim.payment_id.get();
        self.write("claim_notice", id, self.inner.claim_notice(claim))
            .await
    }

    async fn finish_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
        told: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let call = self.inner.finish_notice(payment_id, token, told, now);
        self.write("finish_notice", payment_id.get(), call).await
    }

    async fn release_notice(
        &self,
        payment_id: PaymentId,
        token: &str,
    ) -> Result<Fenced, StoreError> {
        let call = self.inner.release_notice(payment_id, token);
        self.write("release_notice", payment_id.get(), call).await
    }

    async fn untold_holds(
        &self,
        held_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentId>, StoreError> {
        let call = self.inner.untold_holds(held_before, limit);
        self.faulty("untold_holds", 0, call).await
    }

    async fn undecided_holds_of(
        &self,
        user_id: telepay_core::order::UserId,
        limit: usize,
    ) -> Result<Vec<PaymentReview>, StoreError> {
        self.inner.undecided_holds_of(user_id, limit).await
    }

    async fn notice_state(&self, payment_id: PaymentId) -> Result<Option<NoticeState>, StoreError> {
        self.inner.notice_state(payment_id).await
    }
}

impl<S: PaymentStore> IngressStore for ChaosStore<S> {
    async fn record_accepted(&self, record: &ProcessedPayment) -> Result<Recorded, StoreError> {
        let id = record.payment_id.get();
        self.write("record_accepted", id, self.inner.record_accepted(record))
            .await
    }

    async fn hold_for_review(&self, review: &PaymentReview) -> Result<Held, StoreError> {
        let id = review.payment_id.get();
        self.write("hold_for_review", id, self.inner.hold_for_review(review))
            .await
    }
}

impl<S: PaymentStore> ProcessorStore for ChaosStore<S> {
    async fn begin_processing(
        &self,
        payment_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<ProcessingStart, StoreError> {
        let call = self.inner.begin_processing(payment_id, now);
        self.write("begin_processing", payment_id.get(), call).await
    }

    async fn mark_processed(
        &self,
        payment_id: PaymentId,
        now: DateTime<Utc>,
    ) -> Result<ProcessedMark, StoreError> {
        let call = self.inner.mark_processed(payment_id, now);
        self.write("mark_processed", payment_id.get(), call).await
    }
}

impl<S: PaymentStore> InviteStore for ChaosStore<S> {
    async fn claim_invite(&self, claim: &InviteClaim) -> Result<ClaimOutcome, StoreError> {
        let id = claim.payment_id.get();
        let claimed = self
            .write("claim_invite", id, self.inner.claim_invite(claim))
            .await;
        if let Ok(ClaimOutcome::Leased { .. }) = claimed {
            self.chaos
                .count("protocol: claim refused, another worker's lease is live");
        }
        claimed
    }

    async fn persist_invite_link(
        &self,
        lease: &InviteLease,
        link: &str,
        link_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let call = self
            .inner
            .persist_invite_link(lease, link, link_expires_at, now);
        let fenced = self
            .write("persist_invite_link", lease.payment_id.get(), call)
            .await;
        if let Ok(Fenced::LeaseLost) = fenced {
            self.chaos.count(
                "protocol: persist_invite_link refused, the lease expired and was taken over",
            );
        }
        fenced
    }

    async fn complete_invite(
        &self,
        lease: &InviteLease,
        how: InviteCompletion,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let call = self.inner.complete_invite(lease, how, now);
        let fenced = self
            .write(how.operation(), lease.payment_id.get(), call)
            .await;
        if how == InviteCompletion::Sent
            && let Ok(Fenced::LeaseLost) = fenced
        {
            self.chaos
                .count("protocol: complete_invite refused, the lease expired and was taken over");
        }
        fenced
    }

    async fn release_invite(
        &self,
        lease: &InviteLease,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let call = self.inner.release_invite(lease, now);
        self.write("release_invite", lease.payment_id.get(), call)
            .await
    }

    async fn fail_invite(
        &self,
        lease: &InviteLease,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        let call = self.inner.fail_invite(lease, reason, now);
        self.write("fail_invite", lease.payment_id.get(), call)
            .await
    }
}

impl<S: PaymentStore> ReconcilerStore for ChaosStore<S> {
    async fn needs_operator(&self, limit: usize) -> Result<Vec<Listed>, StoreError> {
        self.inner.needs_operator(limit).await
    }

    async fn mark_requeued(
        &self,
        payment_id: PaymentId,
        quiet_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let call = self.inner.mark_requeued(payment_id, quiet_since, now);
        self.write("mark_requeued", payment_id.get(), call).await
    }

    async fn pending_payments(
        &self,
        created_before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
        self.inner.pending_payments(created_before, limit).await
    }
}

impl<S: PaymentStore> OperatorStore for ChaosStore<S> {
    async fn get_payment(
        &self,
        payment_id: PaymentId,
    ) -> Result<Option<ProcessedPayment>, StoreError> {
        self.inner.get_payment(payment_id).await
    }

    async fn get_review(&self, payment_id: PaymentId) -> Result<Option<PaymentReview>, StoreError> {
        self.inner.get_review(payment_id).await
    }

    async fn failed_invites(&self, limit: usize) -> Result<Vec<Listed>, StoreError> {
        self.inner.failed_invites(limit).await
    }

    async fn list_reviews(&self, limit: usize) -> Result<Vec<PaymentReview>, StoreError> {
        self.inner.list_reviews(limit).await
    }

    async fn decide_review(
        &self,
        payment_id: PaymentId,
        decision: ReviewDecision,
        now: DateTime<Utc>,
    ) -> Result<Decided, StoreError> {
        self.inner.decide_review(payment_id, decision, now).await
    }

    async fn resolve_needs_operator(
        &self,
        payment_id: PaymentId,
        resolution: &Resolution,
        now: DateTime<Utc>,
    ) -> Result<Resolved, StoreError> {
        self.inner
            .resolve_needs_operator(payment_id, resolution, now)
            .await
    }

    async fn reopen_invite(
        &self,
        payment_id: PaymentId,
        link: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Reopened, StoreError> {
        self.inner.reopen_invite(payment_id, link, now).await
    }
}

// ---- the queues -------------------------------------------------------------------------

/// A queue send that passes step boundaries and may be refused.
#[derive(Clone)]
pub struct ChaosQueue {
    inner: Arc<SimQueue>,
    chaos: Arc<Chaos>,
}

impl ChaosQueue {
    pub fn new(inner: Arc<SimQueue>, chaos: Arc<Chaos>) -> Self {
        Self { inner, chaos }
    }
}

impl MessageQueue for ChaosQueue {
    async fn send(&self, payment_id: PaymentId, body: &str) -> Result<(), QueueError> {
        let id = payment_id.get();
        working_on(id);
        let queue = self.inner.name;
        boundary(&self.chaos, || format!("before send to {queue}")).await;
        let attempt = self.chaos.attempt(queue, id);
        let key = [tag("queue refused"), tag(queue), id as u64, attempt];
        if self.chaos.dice.chance(self.chaos.rates.queue_refused, &key) {
            self.chaos
                .fault(id, format!("queue refused send to {queue}"));
            return Err(QueueError::Unavailable("injected: send refused".into()));
        }
        self.inner.send(id, body);
        if body.contains("\"unrecorded\"") {
            // np-webhook met a refused record write: the processor records it.
            self.chaos.count(super::report::UNRECORDED_HANDOVER);
        }
        boundary(&self.chaos, || format!("after send to {queue}")).await;
        Ok(())
    }
}

/// Lifecycle tasks are keyed by subscription, not payment: their faults are counted
/// apart from any payment's ledger.
impl TaskQueue for ChaosQueue {
    async fn send_task(&self, subscription: SubscriptionKey, body: &str) -> Result<(), QueueError> {
        let queue = self.inner.name;
        boundary(&self.chaos, || format!("before send to {queue}")).await;
        let id = subscription.user_id.get();
        let attempt = self.chaos.attempt(queue, id);
        let key = [tag("queue refused"), tag(queue), id as u64, attempt];
        if self.chaos.dice.chance(self.chaos.rates.queue_refused, &key) {
            self.chaos.count(format!("queue refused send to {queue}"));
            return Err(QueueError::Unavailable("injected: send refused".into()));
        }
        self.inner.send(0, body);
        boundary(&self.chaos, || format!("after send to {queue}")).await;
        Ok(())
    }
}

// ---- Telegram ---------------------------------------------------------------------------

/// The real Bot API adapter with step boundaries around each call; Telegram's own faults
/// come from the fake Bot API's seeded policy.
#[derive(Clone)]
pub struct ChaosTelegram<T> {
    inner: T,
    chaos: Arc<Chaos>,
}

impl<T: MemberRemover> MemberRemover for ChaosTelegram<T> {
    async fn remove_member(&self, chat_id: i64, user_id: i64) -> Result<(), TelegramError> {
        lifecycle_works_on(user_id);
        boundary(&self.chaos, || "before unbanChatMember".into()).await;
        self.inner.remove_member(chat_id, user_id).await?;
        boundary(&self.chaos, || "after unbanChatMember".into()).await;
        Ok(())
    }
}

/// The Stars calls, with step boundaries around each.
impl<T: StarsPayments> StarsPayments for ChaosTelegram<T> {
    async fn create_stars_invoice_link(
        &self,
        invoice: &StarsInvoice,
    ) -> Result<String, TelegramError> {
        boundary(&self.chaos, || "before createInvoiceLink".into()).await;
        let link = self.inner.create_stars_invoice_link(invoice).await?;
        boundary(&self.chaos, || "after createInvoiceLink".into()).await;
        Ok(link)
    }

    async fn answer_pre_checkout(
        &self,
        query_id: &str,
        refusal: Option<&str>,
    ) -> Result<(), TelegramError> {
        boundary(&self.chaos, || "before answerPreCheckoutQuery".into()).await;
        self.inner.answer_pre_checkout(query_id, refusal).await?;
        boundary(&self.chaos, || "after answerPreCheckoutQuery".into()).await;
        Ok(())
    }

    async fn refund_star_payment(
        &self,
        user_id: i64,
        charge_id: &str,
    ) -> Result<(), TelegramError> {
        boundary(&self.chaos, || "before refundStarPayment".into()).await;
        self.inner.refund_star_payment(user_id, charge_id).await?;
        boundary(&self.chaos, || "after refundStarPayment".into()).await;
        Ok(())
    }

    async fn cancel_star_subscription(
        &self,
        user_id: i64,
        charge_id: &str,
    ) -> Result<(), TelegramError> {
        boundary(&self.chaos, || "before editUserStarSubscription".into()).await;
        self.inner
            .cancel_star_subscription(user_id, charge_id)
            .await?;
        boundary(&self.chaos, || "after editUserStarSubscription".into()).await;
        Ok(())
    }
}

/// The ledger read, with step boundaries around it: a crash between the read and the
/// record's write must leave the charge to be recorded on the redelivery.
impl<T: StarsLedger> StarsLedger for ChaosTelegram<T> {
    async fn star_transactions(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<StarsLedgerEntry>, TelegramError> {
        boundary(&self.chaos, || "before getStarTransactions".into()).await;
        let page = self.inner.star_transactions(offset, limit).await?;
        boundary(&self.chaos, || "after getStarTransactions".into()).await;
        Ok(page)
    }
}

impl<T> ChaosTelegram<T> {
    pub fn new(inner: T, chaos: Arc<Chaos>) -> Self {
        Self { inner, chaos }
    }
}

/// The bot's calls with step boundaries around each (a crash before or after Telegram
/// acted); Telegram's own faults come from the fake's policy.
impl<T: BotConversation> BotConversation for ChaosTelegram<T> {
    async fn send_menu(
        &self,
        chat_id: i64,
        text: &str,
        buttons: &[Vec<Button>],
    ) -> Result<(), TelegramError> {
        boundary(&self.chaos, || "before sendMessage (bot)".into()).await;
        self.inner.send_menu(chat_id, text, buttons).await?;
        boundary(&self.chaos, || "after sendMessage (bot)".into()).await;
        Ok(())
    }

    async fn answer_button(
        &self,
        query_id: &str,
        notice: Option<&str>,
    ) -> Result<(), TelegramError> {
        self.inner.answer_button(query_id, notice).await
    }

    async fn approve_join_request(&self, chat_id: i64, user_id: i64) -> Result<(), TelegramError> {
        boundary(&self.chaos, || "before approveChatJoinRequest".into()).await;
        self.inner.approve_join_request(chat_id, user_id).await?;
        boundary(&self.chaos, || "after approveChatJoinRequest".into()).await;
        Ok(())
    }

    async fn decline_join_request(&self, chat_id: i64, user_id: i64) -> Result<(), TelegramError> {
        boundary(&self.chaos, || "before declineChatJoinRequest".into()).await;
        self.inner.decline_join_request(chat_id, user_id).await?;
        boundary(&self.chaos, || "after declineChatJoinRequest".into()).await;
        Ok(())
    }
}

/// A lifecycle invocation's faults go to its buyer's ledger (a lifecycle task is a
/// buyer's, not a payment's): what the report reads to explain a repeated reminder.
fn lifecycle_works_on(user_id: i64) {
    if current().is_some_and(|invocation| invocation.stage == Stage::Lifecycle) {
        working_on(user_id);
    }
}

/// Notes a sendMessage whose answer was never awaited (the call timeout or the Lambda
/// timeout dropped it): Telegram may have delivered it.
struct AbandonedSend<'a> {
    chaos: &'a Chaos,
    payment_id: i64,
    answered: bool,
}

impl Drop for AbandonedSend<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.chaos.note(self.payment_id, LedgerEntry::SendAbandoned);
        }
    }
}

impl<T: TelegramInviter> TelegramInviter for ChaosTelegram<T> {
    async fn is_member(&self, chat_id: i64, user_id: i64) -> Result<bool, TelegramError> {
        boundary(&self.chaos, || "before getChatMember".into()).await;
        let member = self.inner.is_member(chat_id, user_id).await?;
        boundary(&self.chaos, || "after getChatMember".into()).await;
        Ok(member)
    }

    async fn create_invite_link(
        &self,
        chat_id: i64,
        name: &str,
        expires_at: DateTime<Utc>,
        admission: Admission,
    ) -> Result<InviteLink, TelegramError> {
        boundary(&self.chaos, || "before createChatInviteLink".into()).await;
        let link = self
            .inner
            .create_invite_link(chat_id, name, expires_at, admission)
            .await?;
        boundary(&self.chaos, || "after createChatInviteLink".into()).await;
        Ok(link)
    }

    async fn revoke_invite_link(&self, chat_id: i64, link: &str) -> Result<(), TelegramError> {
        boundary(&self.chaos, || "before revokeChatInviteLink".into()).await;
        self.inner.revoke_invite_link(chat_id, link).await?;
        boundary(&self.chaos, || "after revokeChatInviteLink".into()).await;
        Ok(())
    }

    async fn send_message(&self, user_id: i64, text: &str) -> Result<(), TelegramError> {
        lifecycle_works_on(user_id);
        boundary(&self.chaos, || "before sendMessage".into()).await;
        let payment_id = current_payment();
        let mut guard = AbandonedSend {
            chaos: &self.chaos,
            payment_id,
            answered: false,
        };
        let result = self.inner.send_message(user_id, text).await;
        guard.answered = true;
        match &result {
            Ok(()) => self.chaos.note(payment_id, LedgerEntry::SendAnswered),
            Err(err) => self
                .chaos
                .fault(payment_id, format!("sendMessage failed: {}", kind(err))),
        }
        result?;
        boundary(&self.chaos, || "after sendMessage".into()).await;
        Ok(())
    }
}

fn kind(err: &TelegramError) -> &'static str {
    match err {
        TelegramError::RetryAfter(_) => "429",
        TelegramError::Transient(_) => "transient",
        TelegramError::UserUnreachable(_) => "user unreachable",
        TelegramError::Misconfigured(_) => "misconfigured",
    }
}

/// The bot's budgets suffer the same faults: a spend that fails is a store down for
/// the update, which Telegram redelivers.
impl<S: PaymentStore> RateBudgetStore for ChaosStore<S> {
    async fn spend_budget(
        &self,
        key: BudgetKey,
        window: BudgetWindow,
        limit: u32,
    ) -> Result<BudgetSpend, StoreError> {
        let call = self.inner.spend_budget(key, window, limit);
        self.write("spend_budget", 0, call).await
    }
}

/// The catalog's reads and applies suffer the same faults: a refresh that fails keeps
/// the version held, an apply that fails is applied again.
impl<S: PaymentStore> CatalogStore for ChaosStore<S> {
    async fn latest_catalog(&self) -> Result<Option<StoredCatalog>, StoreError> {
        let call = self.inner.latest_catalog();
        self.faulty("latest_catalog", 0, call).await
    }

    async fn catalog_version(&self, version: u32) -> Result<Option<StoredCatalog>, StoreError> {
        let call = self.inner.catalog_version(version);
        self.faulty("catalog_version", 0, call).await
    }

    async fn apply_catalog(&self, catalog: &StoredCatalog) -> Result<CatalogApplied, StoreError> {
        let call = self.inner.apply_catalog(catalog);
        self.write("apply_catalog", 0, call).await
    }

    async fn catalog_history(&self, limit: usize) -> Result<Vec<StoredCatalog>, StoreError> {
        self.inner.catalog_history(limit).await
    }
}
