//! The np-webhook decision: from a raw HTTP request to one outcome, with its effects.
//!
//! Order matters: size, then signature (nothing unsigned is parsed beyond a peek for the
//! alarm), then shape, then status, then the hold rules, then the one conditional write.
//! A signed `refunded` IPN takes the payment's time out of the buyer's subscription
//! (once); its payout is not reversed here (logged and counted for the owner).
//!
//! Tests: `functions/np-webhook/src/tests.rs` (the handler), `tests/tests/bad_input.rs` and
//! `tests/tests/webhook_moto.rs`.

use chrono::{SubsecRound, TimeDelta};
use serde::Serialize;
use tracing::{error, info, warn};

use crate::access::{Refunded, refund_time};
use crate::catalog::LiveCatalog;
use crate::clock::{SharedClock, system_clock};
use crate::directory::{ChannelDirectory, TierMismatch};
use crate::held::HoldNoticeRequest;
use crate::ipn::{Ipn, PaymentStatus, readable_payment_id};
use crate::metrics::{self, signal, stage};
use crate::order::OrderRef;
use crate::payment::{
    HoldReason, PaymentReview, ProcessedPayment, Purchase, RecordState, payload_hash,
};
use crate::queue::{MessageQueue, ProcessorMessage};
use crate::rotation::{RotatingSecret, SecretSource};
use crate::signature::{IpnSecret, SignatureError, verify};
use crate::store::{
    Held, IngressStore, NewWatch, OperatorStore, PaymentWatchStore, PurchasePartsStore, Recorded,
    SubscriptionStore, Watched,
};
use crate::subscription::{GrantSource, LifecycleSettings, SubscriptionKey};
use crate::topup::{self, PartVerdict};

/// A finished IPN usually follows its `waiting` within minutes (confirmations take
/// longer on some chains): a payment under way is first asked about this long after its
/// first in-flight IPN ([`crate::recovery`]).
pub const FIRST_CHECK_AFTER: TimeDelta = TimeDelta::minutes(20);

/// NOWPayments bodies are ~1 KiB; anything near this is not an IPN.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The parts of an HTTP request the webhook looks at.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    pub method: &'a str,
    /// The `x-nowpayments-sig` header, found case-insensitively by the caller.
    pub signature: Option<&'a str>,
    pub body: &'a [u8],
}

/// Every answer the webhook gives. [`WebhookOutcome::status`] is the one place outcomes
/// become HTTP status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookOutcome {
    /// Recorded (now or before) and on the processor queue.
    Queued,
    /// Already processed: nothing to do.
    Duplicate,
    /// A payment under way (waiting, confirming, confirmed, sending): nothing granted
    /// yet; it is watched, and asked about if its finish never arrives.
    Watched,
    /// A status that grants nothing and needs no watch (failed, expired).
    Ignored,
    /// Finished but needs a human: one `payment_reviews` entry.
    Held,
    /// A refund: the payment's time is out of the buyer's subscription.
    Refunded,
    BadSignature,
    BadRequest,
    MethodNotAllowed,
    TooLarge,
    /// The store or queue failed: NOWPayments must retry. Never fail open.
    Unavailable,
}

impl WebhookOutcome {
    pub fn status(self) -> u16 {
        match self {
            Self::Queued
            | Self::Duplicate
            | Self::Watched
            | Self::Ignored
            | Self::Held
            | Self::Refunded => 200,
            Self::BadRequest => 400,
            Self::BadSignature => 401,
            Self::MethodNotAllowed => 405,
            Self::TooLarge => 413,
            Self::Unavailable => 500,
        }
    }

    /// The word in the JSON answer.
    pub fn word(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Duplicate => "duplicate",
            Self::Watched => "watched",
            Self::Ignored => "ignored",
            Self::Held => "held",
            Self::Refunded => "refunded",
            Self::BadSignature => "bad_signature",
            Self::BadRequest | Self::MethodNotAllowed => "bad_request",
            Self::TooLarge => "too_large",
            Self::Unavailable => "unavailable",
        }
    }

    /// The response body: the outcome word, never internal error text.
    pub fn body(self) -> String {
        format!("{{\"outcome\":\"{}\"}}", self.word())
    }
}

/// What decides a verified IPN (or NOWPayments' own answer about a payment, for the
/// recovery pass): everything the webhook holds but the secret.
pub struct PaymentIngress<S, Q> {
    /// Channels and tiers: the version an order names, else the newest.
    pub catalog: LiveCatalog,
    pub store: S,
    pub processor_queue: Q,
    /// For the subscription a refund changes (when the sweeper looks next).
    pub lifecycle: LifecycleSettings,
    pub clock: SharedClock,
    /// Where a held payment's notice goes (the invite queue): its buyer and owner are
    /// told ([`crate::held`]). `None` only in tests of other paths.
    pub notice_queue: Option<Q>,
    /// An in-flight payment is first asked about this long after its first IPN, if its
    /// finish has not arrived by then ([`crate::recovery`]).
    pub first_check_after: TimeDelta,
}

/// Everything the webhook needs, built once at cold start: the secret that makes a body
/// an IPN, and the ingress that decides it. Reads through to the ingress's fields.
pub struct PaymentWebhook<S, Q> {
    /// Read again from its store when a signed IPN fails its check ([`crate::rotation`]).
    pub secret: RotatingSecret,
    pub ingress: PaymentIngress<S, Q>,
}

impl<S, Q> std::ops::Deref for PaymentWebhook<S, Q> {
    type Target = PaymentIngress<S, Q>;
    fn deref(&self) -> &Self::Target {
        &self.ingress
    }
}

impl<S, Q> std::ops::DerefMut for PaymentWebhook<S, Q> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.ingress
    }
}

/// What the ingress decided, and whether this call made the decision (the first to
/// record, hold, watch or refund it) or found it made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub outcome: WebhookOutcome,
    pub first: bool,
}

impl Admission {
    fn first(outcome: WebhookOutcome) -> Self {
        Self {
            outcome,
            first: true,
        }
    }
    fn again(outcome: WebhookOutcome) -> Self {
        Self {
            outcome,
            first: false,
        }
    }
}

/// A finished IPN's verdict before anything is written.
enum Verdict {
    Grant(Box<ProcessedPayment>),
    Hold(HoldReason),
}

impl<
    S: IngressStore + OperatorStore + SubscriptionStore + PaymentWatchStore + PurchasePartsStore,
    Q: MessageQueue,
> PaymentWebhook<S, Q>
{
    pub fn new(secret: IpnSecret, catalog: impl Into<LiveCatalog>, store: S, queue: Q) -> Self {
        Self {
            secret: RotatingSecret::fixed(secret),
            ingress: PaymentIngress::new(catalog, store, queue),
        }
    }

    /// Held payments are told through `queue` (the invite queue).
    pub fn with_notice_queue(mut self, queue: Q) -> Self {
        self.ingress = self.ingress.with_notice_queue(queue);
        self
    }

    pub fn with_lifecycle(mut self, lifecycle: LifecycleSettings) -> Self {
        self.ingress = self.ingress.with_lifecycle(lifecycle);
        self
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.ingress = self.ingress.with_clock(clock);
        self
    }

    /// The IPN secret is read again from `source` when a signed IPN fails its check, at
    /// most once per `pause` (a rotated secret reaches a warm function).
    pub fn with_secret_source(
        mut self,
        source: std::sync::Arc<dyn SecretSource>,
        pause: std::time::Duration,
    ) -> Self {
        self.secret = self.secret.with_source(source, pause);
        self
    }

    /// The IPN secret is read again at its next use once held `age`, refused or not.
    pub fn with_secret_max_age(mut self, age: std::time::Duration) -> Self {
        self.secret = self.secret.with_max_age(age);
        self
    }

    /// A signature that did not match may be the new secret's: read it again (at most
    /// once a pause) and check once more. A missing or malformed one never is.
    async fn renewed_check(
        &self,
        checked: Result<crate::signature::VerifiedOver, SignatureError>,
        request: &WebhookRequest<'_>,
    ) -> Result<(), SignatureError> {
        match checked {
            Ok(_) => Ok(()),
            Err(SignatureError::Mismatch) => match self.secret.renewed_after_refusal().await {
                Some(renewed) => verify(&renewed, request.body, request.signature).map(drop),
                None => Err(SignatureError::Mismatch),
            },
            Err(other) => Err(other),
        }
    }

    pub fn with_first_check_after(mut self, after: TimeDelta) -> Self {
        self.ingress.first_check_after = after;
        self
    }

    pub async fn receive(&self, request: WebhookRequest<'_>) -> WebhookOutcome {
        let outcome = self.answer(request).await;
        metrics::outcome(stage::IPN, outcome.word());
        outcome
    }

    async fn answer(&self, request: WebhookRequest<'_>) -> WebhookOutcome {
        if !request.method.eq_ignore_ascii_case("POST") {
            return WebhookOutcome::MethodNotAllowed;
        }
        if request.body.len() > MAX_BODY_BYTES {
            warn!(bytes = request.body.len(), "IPN body too large");
            return WebhookOutcome::TooLarge;
        }
        self.secret.refresh_if_due().await;
        let checked = verify(&self.secret.current(), request.body, request.signature);
        if let Err(reason) = self.renewed_check(checked, &request).await {
            // Never log the body: it is unauthenticated input.
            let looks_like_ipn = Ipn::parse(request.body).is_ok();
            warn!(%reason, looks_like_ipn, "IPN signature rejected");
            if looks_like_ipn {
                metrics::count(signal::IPN_SIGNATURE_REJECTED);
            }
            return WebhookOutcome::BadSignature;
        }
        // What the wrong-secret alarm weighs the rejections against: anyone can send the
        // public sample, only NOWPayments can sign.
        metrics::count(signal::IPN_SIGNATURE_ACCEPTED);
        let ipn = match Ipn::parse(request.body) {
            Ok(ipn) => ipn,
            Err(reason) => {
                let payment_id = readable_payment_id(request.body);
                error!(payment_id, %reason, "signed body is not a valid IPN");
                metrics::count(signal::SIGNED_IPN_REFUSED);
                return WebhookOutcome::BadRequest;
            }
        };
        // Payment ids from 2^62 are Telegram Stars charges' (`crate::stars`): never
        // NOWPayments', so such an IPN is refused rather than let share a record.
        if crate::stars::is_stars_payment(ipn.payment_id) {
            error!(
                payment_id = ipn.payment_id.get(),
                "signed IPN with a payment_id in the Telegram Stars range: refused"
            );
            metrics::count(signal::SIGNED_IPN_REFUSED);
            return WebhookOutcome::BadRequest;
        }
        tracing::Span::current().record("payment_id", ipn.payment_id.get());
        self.ingress
            .admit_signed(&ipn, request.body, request.signature)
            .await
            .outcome
    }
}

impl<
    S: IngressStore + OperatorStore + SubscriptionStore + PaymentWatchStore + PurchasePartsStore,
    Q: MessageQueue,
> PaymentIngress<S, Q>
{
    pub fn new(catalog: impl Into<LiveCatalog>, store: S, queue: Q) -> Self {
        Self {
            catalog: catalog.into(),
            store,
            processor_queue: queue,
            lifecycle: LifecycleSettings::default(),
            clock: system_clock(),
            notice_queue: None,
            first_check_after: FIRST_CHECK_AFTER,
        }
    }

    /// Held payments are told through `queue` (the invite queue).
    pub fn with_notice_queue(mut self, queue: Q) -> Self {
        self.notice_queue = Some(queue);
        self
    }

    pub fn with_lifecycle(mut self, lifecycle: LifecycleSettings) -> Self {
        self.lifecycle = lifecycle;
        self
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The decision on a payment NOWPayments vouched for with a signed IPN, `body` as it
    /// came: one conditional write decides it.
    pub async fn admit(&self, ipn: &Ipn, body: &[u8]) -> Admission {
        self.admit_as(ipn, body, false, None).await
    }

    /// [`Self::admit`] with the IPN's signature, which a handover to the processor
    /// carries when the store is down (the processor verifies it before writing).
    pub async fn admit_signed(&self, ipn: &Ipn, body: &[u8], signature: Option<&str>) -> Admission {
        self.admit_as(ipn, body, false, signature).await
    }

    /// The same decision on NOWPayments' answer to a status question (the recovery
    /// pass): a payment it records is marked recovered, so its owner hears the callback
    /// is broken.
    pub async fn admit_recovered(&self, ipn: &Ipn, body: &[u8]) -> Admission {
        self.admit_as(ipn, body, true, None).await
    }

    async fn admit_as(
        &self,
        ipn: &Ipn,
        body: &[u8],
        recovered: bool,
        signature: Option<&str>,
    ) -> Admission {
        let payment_id = ipn.payment_id.get();
        // The catalog the invoice was priced from (its order names the version): a price
        // changed since does not turn a paid invoice into a short payment.
        let version = OrderRef::parse(ipn.order_id.as_deref())
            .ok()
            .and_then(|order| order.catalog_version);
        let catalog = match self.catalog.of_version(version).await {
            Ok(catalog) => catalog,
            Err(why) => {
                error!(payment_id, version, %why, "could not read the catalog the order names");
                return Admission::again(WebhookOutcome::Unavailable);
            }
        };
        let directory = &catalog.directory;
        let signed = signature.map(|signature| (body, signature));
        if ipn.payment_status == PaymentStatus::Refunded {
            return self.refund(ipn, directory).await;
        }
        if ipn.payment_status.is_under_way() {
            return self.watch(ipn).await;
        }
        // Money arrived short (`partially_paid`): never ignored; held and told, or
        // prorated where the channel says so.
        let short = ipn.payment_status == PaymentStatus::PartiallyPaid;
        if !ipn.payment_status.grants_access() && !short {
            info!(
                payment_id,
                status = ipn.payment_status.as_str(),
                "IPN ignored"
            );
            return Admission::again(WebhookOutcome::Ignored);
        }
        // A top-up (its order names the purchase it completes) adds up with its purchase's
        // other parts; a repeat deposit of one is still held below.
        if ipn.parent_payment_id.is_none()
            && let Ok(order) = OrderRef::parse(ipn.order_id.as_deref())
            && order.topup_of.is_some()
        {
            return self
                .top_up(ipn, &order, body, recovered, directory, signed)
                .await;
        }
        match self.verdict(ipn, directory) {
            Verdict::Hold(reason) => self.hold(ipn, reason, body, directory).await,
            Verdict::Grant(mut record) => {
                if let Some(purchase) = record.purchase.as_mut() {
                    purchase.recovered = recovered;
                }
                self.grant(ipn, &record, signed).await
            }
        }
    }

    /// A top-up's IPN: counted once in its purchase; the part that completes it grants the
    /// tier, a part still short is held `underpaid` (its buyer told the new remainder).
    async fn top_up(
        &self,
        ipn: &Ipn,
        order: &OrderRef,
        body: &[u8],
        recovered: bool,
        directory: &ChannelDirectory,
        signed: Option<(&[u8], &str)>,
    ) -> Admission {
        let payment_id = ipn.payment_id.get();
        let now = self.clock.now().trunc_subsecs(3);
        match topup::decide_part(&self.store, directory, ipn, order, now).await {
            Ok(PartVerdict::Complete(mut record)) => {
                if let Some(purchase) = record.purchase.as_mut() {
                    purchase.recovered = recovered;
                }
                if let Err(err) = topup::settle_part_holds(&self.store, order, now).await {
                    // Not granted yet: NOWPayments' retry finds the purchase settled by
                    // this part, settles the holds and grants.
                    warn!(payment_id, error = %err, "could not settle the purchase's other parts' holds");
                    return Admission::again(WebhookOutcome::Unavailable);
                }
                self.grant(ipn, &record, signed).await
            }
            Ok(PartVerdict::Counted) => {
                // Held short before another part completed the purchase (or a crash came
                // between): its own hold is settled with the purchase.
                if let Err(err) = self.store.settle_part_hold(ipn.payment_id, now).await {
                    error!(payment_id, error = %err, "could not settle a counted top-up's hold");
                    return Admission::again(WebhookOutcome::Unavailable);
                }
                info!(
                    payment_id,
                    "top-up counted in a purchase another part completed"
                );
                Admission::again(WebhookOutcome::Duplicate)
            }
            Ok(PartVerdict::Short) => {
                let held = self.hold(ipn, HoldReason::Underpaid, body, directory).await;
                // Another part may have completed the purchase between this part's add
                // and its hold: then the hold is settled with it (a retry does the same).
                match topup::settle_if_completed(&self.store, ipn, order, now).await {
                    Ok(()) => held,
                    Err(err) => {
                        error!(payment_id, error = %err, "could not check the purchase of a short top-up");
                        Admission::again(WebhookOutcome::Unavailable)
                    }
                }
            }
            Ok(PartVerdict::Hold(reason)) => self.hold(ipn, reason, body, directory).await,
            Err(err) => {
                error!(payment_id, error = %err, "could not count a top-up");
                Admission::again(WebhookOutcome::Unavailable)
            }
        }
    }

    /// Watches a payment under way, so that its finish is asked about if its IPN never
    /// comes. A store failure is a 500: NOWPayments retries, nothing is dropped.
    async fn watch(&self, ipn: &Ipn) -> Admission {
        let payment_id = ipn.payment_id.get();
        let order = OrderRef::parse(ipn.order_id.as_deref()).ok();
        let now = self.clock.now().trunc_subsecs(3);
        let watch = NewWatch {
            payment_id: ipn.payment_id,
            user_id: order.as_ref().map_or(0, |o| o.user_id.get()),
            channel_id: order.as_ref().map_or(0, |o| o.channel_id.get()),
            status: ipn.payment_status.as_str().to_owned(),
            seen_at: now,
            first_check_at: now + self.first_check_after,
        };
        match self.store.watch_payment(&watch).await {
            Ok(Watched::New) => {
                info!(
                    payment_id,
                    status = watch.status,
                    "payment under way: watched"
                );
                Admission::first(WebhookOutcome::Watched)
            }
            Ok(Watched::Already) => Admission::again(WebhookOutcome::Watched),
            Err(err) => {
                error!(payment_id, error = %err, "could not watch a payment under way");
                Admission::again(WebhookOutcome::Unavailable)
            }
        }
    }

    fn verdict(&self, ipn: &Ipn, directory: &ChannelDirectory) -> Verdict {
        if ipn.parent_payment_id.is_some() {
            return Verdict::Hold(HoldReason::RepeatDeposit);
        }
        let Ok(order) = OrderRef::parse(ipn.order_id.as_deref()) else {
            return Verdict::Hold(HoldReason::UnparseableOrderId);
        };
        let partially_paid = ipn.payment_status == PaymentStatus::PartiallyPaid;
        let grant = match directory.match_payment(
            order.channel_id,
            order.tier_seconds,
            ipn.price_amount,
            ipn.price_currency.as_deref(),
        ) {
            Ok(grant) => grant,
            Err(TierMismatch::UnknownChannel) => return Verdict::Hold(HoldReason::UnknownChannel),
            Err(TierMismatch::PriceMismatch) if partially_paid => {
                return self.short(ipn, &order, directory);
            }
            Err(TierMismatch::PriceMismatch) => return Verdict::Hold(HoldReason::PriceMismatch),
        };
        if partially_paid || ipn.arrived_short(directory.tolerance_percent()) {
            return self.short(ipn, &order, directory);
        }
        // The price is present: the tier matched on it. What arrived above the tier's
        // price (a price that fell while the invoice was open, or more crypto sent than
        // asked) is recorded for the owner's notice.
        let arrived = ipn
            .paid_in_price_currency()
            .or(ipn.price_amount)
            .unwrap_or(grant.tier_price);
        let purchase = Purchase::from_ipn(ipn, grant.private_channel_id, grant.access)
            .with_surplus(arrived, grant.tier_price, directory.tolerance_percent());
        self.accept(ipn, &order, purchase)
    }

    /// The accepted record `purchase` makes of this IPN's order.
    fn accept(&self, ipn: &Ipn, order: &OrderRef, purchase: Purchase) -> Verdict {
        Verdict::Grant(Box::new(ProcessedPayment::accepted(
            ipn.payment_id,
            order.user_id,
            order.channel_id,
            payload_hash(ipn),
            purchase,
            self.clock.now(),
        )))
    }

    /// A payment that arrived short: prorated where its channel says so (the share of the
    /// tier that arrived, rounded down to the minute), else held for a person.
    fn short(&self, ipn: &Ipn, order: &OrderRef, directory: &ChannelDirectory) -> Verdict {
        let prorated = ipn.paid_in_price_currency().and_then(|arrived| {
            directory.prorate(
                order.channel_id,
                order.tier_seconds,
                ipn.price_currency.as_deref(),
                arrived,
            )
        });
        let Some(prorated) = prorated else {
            return Verdict::Hold(HoldReason::Underpaid);
        };
        let grant = prorated.grant;
        let purchase = Purchase::from_ipn(ipn, grant.private_channel_id, grant.access)
            .prorated_from(prorated.tier_length);
        self.accept(ipn, order, purchase)
    }

    /// Takes a refunded payment's time out of its buyer's subscription, once: the one its
    /// grant went to, by the stored purchase (the catalog may have moved the channel
    /// since: [`ProcessedPayment::private_channel`]); by the catalog only for a seed row
    /// without one or a payment not recorded yet.
    async fn refund(&self, ipn: &Ipn, directory: &ChannelDirectory) -> Admission {
        let payment_id = ipn.payment_id.get();
        let stored = match self.store.get_payment(ipn.payment_id).await {
            Ok(stored) => stored,
            Err(err) => {
                error!(payment_id, error = %err, "could not read the refunded payment");
                return Admission::again(WebhookOutcome::Unavailable);
            }
        };
        let channel = match stored {
            Some(record) => record
                .private_channel(Some(directory))
                .map(|channel| SubscriptionKey::new(record.user_id, channel)),
            None => OrderRef::parse(ipn.order_id.as_deref())
                .ok()
                .and_then(|order| {
                    let entry = directory.channel(order.channel_id)?;
                    Some(SubscriptionKey::new(
                        order.user_id,
                        entry.private_channel_id,
                    ))
                }),
        };
        let Some(key) = channel else {
            error!(
                payment_id,
                "refund for an order no channel in the directory matches; nothing to take back"
            );
            metrics::count(signal::REFUND_UNMATCHED);
            return Admission::again(WebhookOutcome::Ignored);
        };
        let source = GrantSource::Payment(payment_id);
        let now = self.clock.now();
        match Box::pin(refund_time(&self.store, key, &source, now, &self.lifecycle)).await {
            Ok(Refunded::Now { expires_at }) => {
                warn!(
                    payment_id,
                    %expires_at,
                    "payment refunded: its time is taken back; its payout is NOT reversed automatically"
                );
                metrics::count(signal::PAYMENT_REFUNDED);
                Admission::first(WebhookOutcome::Refunded)
            }
            Ok(Refunded::Already) => {
                info!(payment_id, "refund already applied");
                Admission::again(WebhookOutcome::Duplicate)
            }
            Ok(Refunded::AheadOfGrant) => {
                warn!(
                    payment_id,
                    "refund for a payment not granted yet (held, or not processed yet): recorded; it will be neither granted, paid out nor invited"
                );
                metrics::count(signal::REFUND_WITHOUT_GRANT);
                Admission::first(WebhookOutcome::Refunded)
            }
            Err(err) => {
                error!(payment_id, error = %err, "could not apply the refund");
                Admission::again(WebhookOutcome::Unavailable)
            }
        }
    }

    async fn hold(
        &self,
        ipn: &Ipn,
        reason: HoldReason,
        body: &[u8],
        directory: &ChannelDirectory,
    ) -> Admission {
        let payment_id = ipn.payment_id.get();
        let review = PaymentReview {
            payment_id: ipn.payment_id,
            reason,
            ipn: String::from_utf8_lossy(body).into_owned(),
            received_at: self.clock.now().trunc_subsecs(3),
            decision: None,
            decided_at: None,
        };
        let first = match self.store.hold_for_review(&review).await {
            Ok(Held::New) => {
                metrics::held(reason.as_str());
                warn!(
                    payment_id,
                    reason = reason.as_str(),
                    "payment held for review"
                );
                true
            }
            Ok(Held::AlreadyHeld) => {
                info!(payment_id, reason = reason.as_str(), "payment already held");
                false
            }
            Err(err) => {
                error!(payment_id, error = %err, "could not hold payment for review");
                return Admission::again(WebhookOutcome::Unavailable);
            }
        };
        // A short payment in a channel that offers top-ups opens its purchase (again on a
        // repeated IPN: a crash between the hold and this write is healed by the retry).
        if reason == HoldReason::Underpaid
            && let Some(open) = topup::opening(ipn, directory, self.clock.now().trunc_subsecs(3))
            && let Err(err) = self.store.open_purchase(&open).await
        {
            error!(payment_id, error = %err, "could not open the short payment's purchase");
            return Admission::again(WebhookOutcome::Unavailable);
        }
        let held = Admission {
            outcome: WebhookOutcome::Held,
            first,
        };
        // Queued again on every repeat of the IPN: the notice dedupes on the review, and
        // a crash between the hold and this send is healed by NOWPayments' retry.
        let Some(queue) = &self.notice_queue else {
            return held;
        };
        let notice = HoldNoticeRequest::new(ipn.payment_id).to_json();
        match queue.send(ipn.payment_id, &notice).await {
            Ok(()) => held,
            Err(err) => {
                // The hold stands; NOWPayments' retry queues the notice again.
                error!(payment_id, error = %err, "could not queue the held payment's notice");
                Admission {
                    outcome: WebhookOutcome::Unavailable,
                    first,
                }
            }
        }
    }

    /// `signed`: the IPN's body and signature, for a handover when the store is down;
    /// without them (the recovery pass's unsigned answer) the payment waits for a retry.
    async fn grant(
        &self,
        ipn: &Ipn,
        record: &ProcessedPayment,
        signed: Option<(&[u8], &str)>,
    ) -> Admission {
        let payment_id = ipn.payment_id.get();
        let fallback_purchase = record.purchase.as_ref().expect("granted records carry one");
        let (message, first) = match self.store.record_accepted(record).await {
            Ok(Recorded::New) => (
                ProcessorMessage::from_record(record, fallback_purchase),
                true,
            ),
            Ok(Recorded::Existing(stored)) => {
                if stored.payload_hash.is_some() && stored.payload_hash != record.payload_hash {
                    error!(
                        payment_id,
                        "finished IPN differs from the stored one; stored record kept"
                    );
                    metrics::count(signal::PAYLOAD_MISMATCH);
                }
                if stored.processed || stored.state != RecordState::Accepted {
                    info!(payment_id, state = stored.state.as_str(), "duplicate IPN");
                    return Admission::again(WebhookOutcome::Duplicate);
                }
                // Recorded before but the processor has not finished: the earlier send may
                // have failed, so send again; the processor is idempotent.
                (
                    ProcessorMessage::from_record(&stored, fallback_purchase),
                    false,
                )
            }
            Err(err) => {
                // Verified and priced, but not written: the processor writes it (one
                // conditional put, retried from its queue and dead-lettered, never
                // dropped), so an outage longer than NOWPayments' retries loses nothing.
                // It carries the signed IPN: the processor writes nothing it cannot verify.
                let Some((body, signature)) = signed else {
                    warn!(payment_id, error = %err, "could not record payment; its next check tries again");
                    return Admission::again(WebhookOutcome::Unavailable);
                };
                warn!(payment_id, error = %err, "could not record payment; the processor records it");
                metrics::count(signal::IPN_QUEUED_UNRECORDED);
                (
                    ProcessorMessage::unrecorded(record, fallback_purchase, body, signature),
                    true,
                )
            }
        };
        match self
            .processor_queue
            .send(ipn.payment_id, &message.to_json())
            .await
        {
            Ok(()) => {
                info!(payment_id, "payment queued for processing");
                Admission {
                    outcome: WebhookOutcome::Queued,
                    first,
                }
            }
            Err(err) => {
                // The record stays accepted-not-processed: NOWPayments' retry re-sends.
                error!(payment_id, error = %err, "could not queue payment");
                Admission {
                    outcome: WebhookOutcome::Unavailable,
                    first,
                }
            }
        }
    }
}
