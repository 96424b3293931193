//! invite-sender: the exactly-once invite protocol.
//!
//! The Bot API has no idempotency key, so the store provides it:
//! 1. claim the payment with a fresh lease token (the fencing token), lease until just
//!    after this invocation's deadline;
//! 2. send the subscription's live link while it has at least half its lifetime left
//!    (one live link per subscription: a buyer's payments share it), else the payment's
//!    own stored link while good, else make one; before a stored link that may have
//!    reached the buyer is dropped, ask Telegram whether they are already in (then
//!    complete as `satisfied_by_membership`, no second link), else revoke it. A new link
//!    is persisted under the token (revoked if the lease was lost), then becomes the
//!    subscription's live link by one versioned write; a payment that loses that race
//!    revokes its own and sends the winner's;
//! 3. send it to the buyer;
//! 4. complete under the token.
//!
//! A renewal (the buyer had paid time before this payment's) with no link made yet asks
//! Telegram first whether the buyer is in the channel: if so, no link at all — one
//! "renewed until" message, and the payment completes as `renewed_in_place`. A link
//! never admits past the subscription's end plus the grace.
//!
//! Every handled failure releases the lease before the message is reported failed.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tracing::{error, info, warn};

use crate::clock::{SharedClock, system_clock};
use crate::directory::{Admission, ChannelDirectory};
use crate::metrics::{self, signal, stage};
use crate::owner::{OwnerNotice, tell_owner};
use crate::payment::ProcessedPayment;
use crate::queue::{
    GrantFacts, INVITE_MESSAGE_VERSION, InviteRequest, MessageOutcome, parse_message,
};
use crate::store::after_call::retry_write_after_call;
use crate::store::{
    ClaimOutcome, Fenced, InviteClaim, InviteLease, InviteStore, StoreError, SubscriptionStore,
};
use crate::subscription::{
    GrantSource, LedgerError, LifecycleSettings, LinkDecision, LiveLink, Subscription,
    SubscriptionKey, settle_live_link,
};
use crate::telegram::{TelegramError, TelegramInviter};

mod settings;

pub use settings::{
    BOT_API_CALLS_PER_MESSAGE, DEFAULT_CALL_TIMEOUT, DEFAULT_LINK_TTL, DEFAULT_MESSAGE,
    DEFAULT_RENEWED_MESSAGE, InviteSettings, MessageTemplate, STORE_TIME_PER_MESSAGE,
    TemplateWithoutLink,
};

pub struct InviteSender<S, T> {
    pub store: S,
    pub telegram: T,
    pub directory: ChannelDirectory,
    pub settings: InviteSettings,
    /// The grace after a subscription's end (a link admits until then at most).
    pub lifecycle: LifecycleSettings,
    pub clock: SharedClock,
}

/// The link a payment sends, or why it sends none.
enum Chosen {
    Link(String),
    /// A stored link may have reached the buyer, and they are in: complete, no link.
    BuyerIsIn,
}

/// Why a claimed delivery stopped short.
#[derive(Debug)]
enum Stopped {
    Telegram(TelegramError),
    Store(StoreError),
    /// Another worker took the payment over: it will finish the job.
    LeaseLost,
    /// Configuration, not Telegram: the payment has no stored purchase (a seed row) and
    /// its channel is not in the directory, so its private channel is unknown.
    UnknownChannel(i64),
}

impl From<TelegramError> for Stopped {
    fn from(e: TelegramError) -> Self {
        Self::Telegram(e)
    }
}

impl From<StoreError> for Stopped {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl<S: InviteStore + SubscriptionStore, T: TelegramInviter> InviteSender<S, T> {
    pub fn new(
        store: S,
        telegram: T,
        directory: ChannelDirectory,
        settings: InviteSettings,
    ) -> Self {
        Self {
            store,
            telegram,
            directory,
            settings,
            lifecycle: LifecycleSettings::default(),
            clock: system_clock(),
        }
    }

    pub fn with_lifecycle(mut self, lifecycle: LifecycleSettings) -> Self {
        self.lifecycle = lifecycle;
        self
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The invocation's deadline on this sender's clock, from the time it has left.
    pub fn deadline_in(&self, time_left: Duration) -> DateTime<Utc> {
        self.clock.now() + TimeDelta::from_std(time_left).unwrap_or(TimeDelta::zero())
    }

    /// Whether one more message can be handled before `deadline`
    /// ([`InviteSettings::time_per_message`]). Past this, messages are left for SQS
    /// untouched.
    pub fn has_time_for_one(&self, deadline: DateTime<Utc>) -> bool {
        (deadline - self.clock.now())
            .to_std()
            .is_ok_and(|left| left >= self.settings.time_per_message())
    }

    /// Handles one invite request body within an invocation ending at `deadline`.
    pub async fn deliver(&self, body: &str, deadline: DateTime<Utc>) -> MessageOutcome {
        let outcome = self.deliver_once(body, deadline).await;
        metrics::retries(stage::INVITE, &outcome);
        outcome
    }

    async fn deliver_once(&self, body: &str, deadline: DateTime<Utc>) -> MessageOutcome {
        let request: InviteRequest = match parse_message(body, INVITE_MESSAGE_VERSION) {
            Ok(request) => request,
            Err(reason) => {
                error!(%reason, "malformed invite request");
                return MessageOutcome::Retry;
            }
        };
        tracing::Span::current().record("payment_id", request.payment_id.get());
        let now = self.clock.now();
        let claim = InviteClaim {
            payment_id: request.payment_id,
            lease_token: uuid::Uuid::new_v4().to_string(),
            lease_until: deadline + self.settings.lease_grace,
            now,
        };
        match self.store.claim_invite(&claim).await {
            Ok(ClaimOutcome::Claimed(record)) => {
                self.deliver_claimed(&record, &claim, request.grant).await
            }
            Ok(ClaimOutcome::AlreadySent) => {
                info!("invite already sent; duplicate delivery acknowledged");
                metrics::outcome(stage::INVITE, "duplicate");
                MessageOutcome::Done
            }
            Ok(ClaimOutcome::InviteFailed) => {
                info!("invite is in invite_failed; an operator re-issues it");
                MessageOutcome::Done
            }
            Ok(ClaimOutcome::Leased { until }) => {
                info!(?until, "another worker holds the invite lease; retry later");
                MessageOutcome::Retry
            }
            Ok(ClaimOutcome::ClaimedUnreadable { why }) => {
                // Retrying cannot make it readable: end it where an operator sees it.
                let reason = format!("unreadable: {why}");
                error!(%reason, "claimed a payment record this version cannot read");
                metrics::count(signal::INVITE_UNREADABLE);
                self.fail_terminally(&claim.lease(), &reason).await
            }
            Ok(ClaimOutcome::Unreadable { why }) => {
                error!(%why, "a payment record this version cannot read refused the claim");
                metrics::count(signal::INVITE_UNREADABLE);
                MessageOutcome::Retry
            }
            Ok(ClaimOutcome::NotFound) => {
                error!("no processed_payments record for this invite request");
                MessageOutcome::Retry
            }
            Err(err) => {
                error!(error = %err, "could not claim the invite");
                MessageOutcome::Retry
            }
        }
    }

    async fn deliver_claimed(
        &self,
        record: &ProcessedPayment,
        claim: &InviteClaim,
        grant: Option<GrantFacts>,
    ) -> MessageOutcome {
        let lease = claim.lease();
        let run = self.run_protocol(record, &lease, claim.lease_until, grant);
        let stopped = match Box::pin(run).await {
            Ok(granted) => {
                self.tell_owner(record, granted).await;
                return MessageOutcome::Done;
            }
            Err(stopped) => stopped,
        };
        let outcome = match &stopped {
            Stopped::LeaseLost => {
                warn!("invite lease lost to another worker; it finishes the job");
                return MessageOutcome::Retry;
            }
            Stopped::Telegram(TelegramError::UserUnreachable(reason)) => {
                return self.fail_terminally(&lease, reason).await;
            }
            Stopped::Telegram(TelegramError::RetryAfter(delay)) => {
                warn!(?delay, "Telegram rate limit; retrying after its delay");
                MessageOutcome::RetryAfter(*delay)
            }
            Stopped::UnknownChannel(channel_id) => {
                error!(
                    channel_id,
                    "channel is not in the channel directory and the payment has no stored purchase: add the channel to the directory"
                );
                metrics::count(signal::INVITE_CONFIGURATION_ERROR);
                MessageOutcome::Retry
            }
            Stopped::Telegram(TelegramError::Misconfigured(reason)) => {
                error!(%reason, "bot configuration error: fix the bot's rights in the private channel");
                metrics::count(signal::INVITE_CONFIGURATION_ERROR);
                MessageOutcome::Retry
            }
            Stopped::Telegram(err @ TelegramError::Transient(_)) => {
                warn!(error = %err, "Telegram call failed; will retry");
                MessageOutcome::Retry
            }
            Stopped::Store(err) => {
                error!(error = %err, "payment store failed mid-invite; will retry");
                MessageOutcome::Retry
            }
        };
        // Free the payment for the retry at once rather than after the lease lapses.
        match self.store.release_invite(&lease, self.clock.now()).await {
            Ok(Fenced::Done) => {}
            Ok(Fenced::LeaseLost) => warn!("lease already taken over when releasing"),
            Err(err) => warn!(error = %err, "could not release the lease; it lapses on its own"),
        }
        outcome
    }

    /// A sale or a renewal, told to the channel's owner once the invite completed.
    async fn tell_owner(&self, record: &ProcessedPayment, grant: Option<GrantFacts>) {
        let (Some(grant), Ok(chat_id)) = (grant, self.private_channel(record)) else {
            return;
        };
        let price = record.purchase.as_ref().map_or_else(String::new, |p| {
            format!("{} {}", p.price_amount, p.price_currency.to_uppercase())
        });
        let user_id = record.user_id.get();
        let notice = if grant.renewal {
            OwnerNotice::Renewal {
                user_id,
                price,
                paid_until: grant.paid_until,
            }
        } else {
            OwnerNotice::Sale {
                user_id,
                price,
                paid_until: grant.paid_until,
            }
        };
        let timeout = self.settings.call_timeout;
        tell_owner(&self.telegram, &self.directory, chat_id, notice, timeout).await;
    }

    /// Runs the invite; answers what the grant was (for the owner's notice).
    async fn run_protocol(
        &self,
        record: &ProcessedPayment,
        lease: &InviteLease,
        lease_until: DateTime<Utc>,
        grant: Option<GrantFacts>,
    ) -> Result<Option<GrantFacts>, Stopped> {
        let chat_id = self.private_channel(record)?;
        // The buyer's subscription, if this payment's time is in it: its live link is the
        // one this payment sends. A payment from before subscriptions keeps its own link.
        let key = SubscriptionKey::new(record.user_id, chat_id);
        let source = GrantSource::Payment(record.payment_id.get());
        let subscription = self
            .store
            .get_subscription(key)
            .await?
            .filter(|subscription| subscription.grants.iter().any(|g| g.source == source));
        // A request queued by the reconciler or an operator carries no grant facts.
        let grant = grant.or_else(|| {
            subscription.as_ref().map(|subscription| GrantFacts {
                renewal: subscription.is_renewal(&source),
                paid_until: subscription.paid_until(&self.lifecycle),
                crossed_removal: subscription.crossed_removal(&source),
            })
        });
        // A grant that crossed a removal always gets a link: the buyer may be a member
        // only until the remover's call lands.
        if let Some(grant) = grant
            && grant.renewal
            && !grant.crossed_removal
            && record.telegram_invite_link.is_none()
        {
            // A renewal: if the buyer is still in, a link could only admit someone else.
            let user_id = record.user_id.get();
            let member = self
                .call(lease_until, self.telegram.is_member(chat_id, user_id))
                .await?;
            if member {
                return self
                    .renew_in_place(record, lease, lease_until, chat_id, grant.paid_until)
                    .await
                    .map(|()| Some(grant));
            }
        }
        let link = match self
            .choose_link(record, lease, lease_until, chat_id, grant, subscription)
            .await?
        {
            Chosen::Link(link) => link,
            Chosen::BuyerIsIn => {
                return self
                    .complete_by_membership(lease, lease_until)
                    .await
                    .map(|()| grant);
            }
        };
        let payment_id = record.payment_id.get();
        let hours = self.settings.link_ttl.as_secs() / 3600;
        let template = match self.directory.admission_of(chat_id) {
            Admission::OneTimeLink => &self.settings.message,
            Admission::JoinRequest => &self.settings.join_request_message,
        };
        let text = template.render(&link, hours, payment_id);
        self.call(
            lease_until,
            self.telegram.send_message(record.user_id.get(), &text),
        )
        .await?;
        let completed = self
            .write_after_call(lease_until, "mark the invite sent", || {
                self.store.complete_invite(lease, self.clock.now())
            })
            .await?;
        match completed {
            Fenced::Done => {
                info!("invite sent");
                metrics::outcome(stage::INVITE, "sent");
            }
            Fenced::LeaseLost => {
                // Our message went out with the persisted link; the worker that took over
                // may send that same link once more, then completes.
                warn!("invite sent, but the lease was taken over before completing");
                // The worker that took over completes it and tells the owner.
                return Ok(None);
            }
        }
        Ok(grant)
    }

    /// The link this payment sends: the subscription's live link while it is good, else
    /// the payment's own stored link if good (settled as the live link), else a new one.
    /// A payment's stored link that may have reached the buyer is never dropped for
    /// another without asking Telegram whether the buyer is in already.
    async fn choose_link(
        &self,
        record: &ProcessedPayment,
        lease: &InviteLease,
        lease_until: DateTime<Utc>,
        chat_id: i64,
        grant: Option<GrantFacts>,
        subscription: Option<Subscription>,
    ) -> Result<Chosen, Stopped> {
        let paid_until = grant.map(|g| g.paid_until);
        // A grant that crossed a removal never sends the live link: the remover revokes
        // the live link it saw when it claimed, so this payment's link replaces it.
        let crossed_removal = grant.is_some_and(|g| g.crossed_removal);
        let good =
            |link: &LiveLink| !crossed_removal && self.worth_sending(link.expires_at, paid_until);
        if let Some(live) = subscription
            .as_ref()
            .and_then(|subscription| subscription.sendable_link(good))
        {
            info!("sending the subscription's live link");
            metrics::outcome(stage::INVITE, "link_reused");
            let live = live.clone();
            let own = record
                .telegram_invite_link
                .as_deref()
                .map(|url| (url, true));
            return self
                .adopt(record, lease, lease_until, chat_id, own, &live)
                .await;
        }
        // Whether the candidate may have reached the buyer (a stored one) or is new.
        let mut stored_before = true;
        let candidate = match self.reusable_link(record, paid_until) {
            Some((url, expires_at)) => {
                info!("reusing the stored invite link");
                LiveLink {
                    url: url.to_owned(),
                    expires_at,
                    made_for: record.payment_id.get(),
                    made_at: record.updated_at,
                }
            }
            None => {
                if let Some(old) = record.telegram_invite_link.as_deref()
                    && self
                        .buyer_is_in_or_revoke(record, old, chat_id, lease_until)
                        .await?
                {
                    return Ok(Chosen::BuyerIsIn);
                }
                stored_before = false;
                self.make_link(record, lease, lease_until, chat_id, paid_until)
                    .await?
            }
        };
        let Some(subscription) = subscription else {
            return Ok(Chosen::Link(candidate.url));
        };
        let now = self.clock.now();
        let decision = settle_live_link(
            &self.store,
            subscription.key,
            Some(subscription),
            &candidate,
            now,
            good,
        )
        .await
        .map_err(|err| match err {
            LedgerError::Store(err) => Stopped::Store(err),
            contended => Stopped::Store(StoreError::Unavailable(contended.to_string())),
        })?;
        match decision {
            LinkDecision::Ours { replaced } => {
                if let Some(old) = replaced.filter(|old| old.url != candidate.url) {
                    // Too short-lived to send again; this payment's link replaces it.
                    self.revoke_best_effort(chat_id, &old.url, lease_until)
                        .await;
                }
                Ok(Chosen::Link(candidate.url))
            }
            LinkDecision::Theirs(live) => {
                // A racing payment of this buyer settled its link first: one live link.
                info!("another payment's link became the live one; sending that");
                metrics::outcome(stage::INVITE, "link_reused");
                let own = Some((candidate.url.as_str(), stored_before));
                self.adopt(record, lease, lease_until, chat_id, own, &live)
                    .await
            }
            LinkDecision::NoSubscription => Ok(Chosen::Link(candidate.url)),
        }
    }

    /// Makes this payment send the subscription's live link instead of its own link
    /// `own` (and whether that may have reached the buyer), which is revoked first.
    async fn adopt(
        &self,
        record: &ProcessedPayment,
        lease: &InviteLease,
        lease_until: DateTime<Utc>,
        chat_id: i64,
        own: Option<(&str, bool)>,
        live: &LiveLink,
    ) -> Result<Chosen, Stopped> {
        match own {
            Some((url, _)) if url == live.url => return Ok(Chosen::Link(live.url.clone())),
            Some((url, true)) => {
                let buyer_is_in = self
                    .buyer_is_in_or_revoke(record, url, chat_id, lease_until)
                    .await?;
                if buyer_is_in {
                    return Ok(Chosen::BuyerIsIn);
                }
            }
            // Never sent: nobody can hold it.
            Some((url, false)) => self.revoke_best_effort(chat_id, url, lease_until).await,
            None => {}
        }
        let persisted = self
            .write_after_call(lease_until, "persist the live link", || {
                self.store
                    .persist_invite_link(lease, &live.url, live.expires_at, self.clock.now())
            })
            .await?;
        match persisted {
            Fenced::Done => Ok(Chosen::Link(live.url.clone())),
            // Never revoke the live link here: other payments of the buyer send it.
            Fenced::LeaseLost => Err(Stopped::LeaseLost),
        }
    }

    /// Before this payment's stored link `old` is dropped for another: it may have reached
    /// the buyer (a send whose outcome was never seen). If they are already in, a second
    /// link could only admit someone else (`true`: done, no link). If not, it will never
    /// be sent again, so it is made useless.
    async fn buyer_is_in_or_revoke(
        &self,
        record: &ProcessedPayment,
        old: &str,
        chat_id: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, Stopped> {
        let user_id = record.user_id.get();
        let member = self
            .call(lease_until, self.telegram.is_member(chat_id, user_id))
            .await?;
        if !member {
            self.revoke_best_effort(chat_id, old, lease_until).await;
        }
        Ok(member)
    }

    /// A new link for this payment, persisted under the lease before anything else (so a
    /// crash never loses track of a link that may be sent).
    async fn make_link(
        &self,
        record: &ProcessedPayment,
        lease: &InviteLease,
        lease_until: DateTime<Utc>,
        chat_id: i64,
        paid_until: Option<DateTime<Utc>>,
    ) -> Result<LiveLink, Stopped> {
        let payment_id = record.payment_id.get();
        let expires_at = self.link_expiry(paid_until);
        let admission = self.directory.admission_of(chat_id);
        // A join-request link is useful to its buyer only, so it is named for them.
        let name = match admission {
            Admission::OneTimeLink => format!("payment {payment_id}"),
            Admission::JoinRequest => format!("buyer {}", record.user_id.get()),
        };
        let created = self
            .call(
                lease_until,
                self.telegram
                    .create_invite_link(chat_id, &name, expires_at, admission),
            )
            .await?;
        let persisted = self
            .write_after_call(lease_until, "persist the link", || {
                self.store.persist_invite_link(
                    lease,
                    &created.url,
                    created.expires_at,
                    self.clock.now(),
                )
            })
            .await?;
        if persisted == Fenced::LeaseLost {
            // Nobody will ever send this link: make it useless.
            self.revoke_best_effort(chat_id, &created.url, lease_until)
                .await;
            return Err(Stopped::LeaseLost);
        }
        info!("invite link created");
        Ok(LiveLink {
            url: created.url,
            expires_at: created.expires_at,
            made_for: payment_id,
            made_at: self.clock.now(),
        })
    }

    /// A renewing buyer already in the channel: one "renewed until" message, no link.
    async fn renew_in_place(
        &self,
        record: &ProcessedPayment,
        lease: &InviteLease,
        lease_until: DateTime<Utc>,
        chat_id: i64,
        paid_until: DateTime<Utc>,
    ) -> Result<(), Stopped> {
        let channel = self.directory.private_channel_name(chat_id);
        let text = self.settings.render_renewed(&channel, paid_until);
        let sent = self
            .call(
                lease_until,
                self.telegram.send_message(record.user_id.get(), &text),
            )
            .await;
        match sent {
            Ok(()) => {}
            // They are in the channel: the note is a courtesy, not the delivery.
            Err(TelegramError::UserUnreachable(reason)) => {
                warn!(%reason, "renewed in place; the buyer cannot be messaged");
            }
            Err(err) => return Err(Stopped::Telegram(err)),
        }
        let completed = self
            .write_after_call(lease_until, "mark the invite renewed in place", || {
                self.store
                    .complete_invite_renewed_in_place(lease, self.clock.now())
            })
            .await?;
        match completed {
            Fenced::Done => {
                info!(%paid_until, "renewal: the buyer is in the channel; renewed in place, no link");
                metrics::outcome(stage::INVITE, "renewed_in_place");
                Ok(())
            }
            Fenced::LeaseLost => Err(Stopped::LeaseLost),
        }
    }

    /// A new link's `expire_date`: its lifetime, but never past the paid time (with the
    /// grace), and never less than a few minutes from now.
    fn link_expiry(&self, paid_until: Option<DateTime<Utc>>) -> DateTime<Utc> {
        let now = self.clock.now();
        let full = now + self.ttl();
        match paid_until {
            Some(until) => full.min(until).max(now + TimeDelta::minutes(5)),
            None => full,
        }
    }

    /// The buyer is already in the channel: the invite is complete without a new link.
    async fn complete_by_membership(
        &self,
        lease: &InviteLease,
        lease_until: DateTime<Utc>,
    ) -> Result<(), Stopped> {
        let completed = self
            .write_after_call(
                lease_until,
                "mark the invite satisfied by membership",
                || {
                    self.store
                        .complete_invite_by_membership(lease, self.clock.now())
                },
            )
            .await?;
        match completed {
            Fenced::Done => {
                info!("buyer already in the channel: invite satisfied by membership, no new link");
                metrics::outcome(stage::INVITE, "already_member");
                Ok(())
            }
            Fenced::LeaseLost => Err(Stopped::LeaseLost),
        }
    }

    /// A write after a Bot API call ([`retry_write_after_call`]), retried in place while
    /// the invocation has time left.
    async fn write_after_call<R, F>(
        &self,
        lease_until: DateTime<Utc>,
        what: &'static str,
        write: impl FnMut() -> F,
    ) -> Result<R, StoreError>
    where
        F: Future<Output = Result<R, StoreError>>,
    {
        // Never past the invocation's deadline (the lease outlives it by the grace).
        let give_up_at = lease_until - self.settings.lease_grace - TimeDelta::seconds(1);
        retry_write_after_call(&*self.clock, give_up_at, what, |_| true, write).await
    }

    fn private_channel(&self, record: &ProcessedPayment) -> Result<i64, Stopped> {
        record
            .private_channel(Some(&self.directory))
            .ok_or(Stopped::UnknownChannel(record.channel_id.get()))
    }

    fn ttl(&self) -> TimeDelta {
        TimeDelta::from_std(self.settings.link_ttl).unwrap_or(TimeDelta::hours(24))
    }

    /// The payment's stored link and its expiry, if it is still worth sending.
    fn reusable_link<'r>(
        &self,
        record: &'r ProcessedPayment,
        paid_until: Option<DateTime<Utc>>,
    ) -> Option<(&'r str, DateTime<Utc>)> {
        let link = record.telegram_invite_link.as_deref()?;
        let expires_at = record.invite_link_expires_at?;
        self.worth_sending(expires_at, paid_until)
            .then_some((link, expires_at))
    }

    /// Whether a link expiring at `expires_at` has at least half the lifetime a link made
    /// now would get.
    fn worth_sending(&self, expires_at: DateTime<Utc>, paid_until: Option<DateTime<Utc>>) -> bool {
        let now = self.clock.now();
        let lifetime = self.link_expiry(paid_until) - now;
        expires_at - now >= lifetime / 2
    }

    async fn revoke_best_effort(&self, chat_id: i64, link: &str, lease_until: DateTime<Utc>) {
        if let Err(err) = self
            .call(lease_until, self.telegram.revoke_invite_link(chat_id, link))
            .await
        {
            warn!(error = %err, "could not revoke an unused invite link; it expires on its own");
        }
    }

    /// One Bot API call, cut off before the lease could lapse under it.
    async fn call<R>(
        &self,
        lease_until: DateTime<Utc>,
        call: impl Future<Output = Result<R, TelegramError>>,
    ) -> Result<R, TelegramError> {
        let safety = TimeDelta::seconds(1);
        let lease_left = (lease_until - self.clock.now() - safety)
            .to_std()
            .unwrap_or_default();
        let budget = self.settings.call_timeout.min(lease_left);
        if budget.is_zero() {
            return Err(TelegramError::Transient(
                "no lease time left for the call".into(),
            ));
        }
        tokio::time::timeout(budget, call)
            .await
            .unwrap_or_else(|_| {
                Err(TelegramError::Transient(format!(
                    "no answer within {budget:?}"
                )))
            })
    }

    async fn fail_terminally(&self, lease: &InviteLease, reason: &str) -> MessageOutcome {
        match self
            .store
            .fail_invite(lease, reason, self.clock.now())
            .await
        {
            Ok(Fenced::Done) => {
                warn!(%reason, "invite_failed: the user cannot be messaged; an operator re-issues");
                metrics::outcome(stage::INVITE, "failed");
                MessageOutcome::Done
            }
            Ok(Fenced::LeaseLost) => {
                warn!("lease lost before recording invite_failed");
                MessageOutcome::Retry
            }
            Err(err) => {
                error!(error = %err, "could not record invite_failed; will retry");
                MessageOutcome::Retry
            }
        }
    }
}
