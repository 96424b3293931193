//! Which link a payment sends: the subscription's live link while good, the payment's
//! own stored link, or a new one; the race between a buyer's payments for the one live
//! link; and when a link is worth sending.
//!
//! Tests: `functions/invite-sender/src/tests/link.rs`.

use chrono::{DateTime, TimeDelta, Utc};
use tracing::{info, warn};

use super::{Chosen, InviteSender, Stopped};
use crate::access::{LedgerError, settle_live_link};
use crate::directory::Admission;
use crate::metrics::{self, stage};
use crate::payment::ProcessedPayment;
use crate::queue::GrantFacts;
use crate::store::{Fenced, InviteLease, InviteStore, StoreError, SubscriptionStore};
use crate::subscription::{LinkDecision, LiveLink, Subscription};
use crate::telegram::{TelegramError, TelegramInviter};

impl<S: InviteStore + SubscriptionStore, T: TelegramInviter> InviteSender<S, T> {
    /// The link this payment sends: the subscription's live link while it is good, else
    /// the payment's own stored link if good (settled as the live link), else a new one.
    /// A payment's stored link that may have reached the buyer is never dropped for
    /// another without asking Telegram whether the buyer is in already.
    pub(super) async fn choose_link(
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
            .and_then(|subscription| subscription.sendable_link(&self.lifecycle, good))
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
        let reusable = self.reusable_link(record, paid_until);
        // This payment's own stored link, too short-lived to send again, may have reached
        // the buyer: if they are in already, nothing is replaced and no link goes out.
        if reusable.is_none()
            && let Some(old) = record.telegram_invite_link.as_deref()
            && self
                .buyer_is_in_or_revoke(record, old, chat_id, lease_until)
                .await?
        {
            return Ok(Chosen::BuyerIsIn);
        }
        // The live link is about to be replaced (too short-lived, past the paid end, or
        // met by a removal): revoke it first, so that no crash or lost lease time between
        // the replacement and its revoke can leave the buyer holding two open links. A
        // revoke that may work later stops here and the message is retried.
        let stale = subscription
            .as_ref()
            .and_then(|subscription| subscription.live_link.as_ref())
            .map(|live| live.url.clone())
            .filter(|stale| record.telegram_invite_link.as_deref() != Some(stale.as_str()));
        if let Some(stale) = &stale {
            self.revoke_before_replacing(chat_id, stale, lease_until)
                .await?;
        }
        // Whether the candidate may have reached the buyer (a stored one) or is new.
        let mut stored_before = true;
        let candidate = match reusable {
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
                let revoked_first = |old: &LiveLink| stale.as_deref() == Some(old.url.as_str());
                if let Some(old) =
                    replaced.filter(|old| old.url != candidate.url && !revoked_first(old))
                {
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
    pub(super) async fn adopt(
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
    pub(super) async fn buyer_is_in_or_revoke(
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
    pub(super) async fn make_link(
        &self,
        record: &ProcessedPayment,
        lease: &InviteLease,
        lease_until: DateTime<Utc>,
        chat_id: i64,
        paid_until: Option<DateTime<Utc>>,
    ) -> Result<LiveLink, Stopped> {
        let payment_id = record.payment_id.get();
        let expires_at = self.link_expiry(paid_until);
        // The paid time ran out since the run began: Telegram takes whole seconds ahead.
        if let Some(paid_until) = paid_until
            && expires_at - self.clock.now() < TimeDelta::seconds(1)
        {
            return Err(Stopped::AccessEnded { paid_until });
        }
        let admission = self.catalog.now().directory.admission_of(chat_id);
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

    /// A new link's `expire_date`: its lifetime, but never past the paid time (with the
    /// grace), however little of it is left: the removal, claimed after that end, then
    /// removes whoever joined with it.
    pub(super) fn link_expiry(&self, paid_until: Option<DateTime<Utc>>) -> DateTime<Utc> {
        let full = self.clock.now() + self.ttl();
        match paid_until {
            Some(until) => full.min(until),
            None => full,
        }
    }

    pub(super) fn ttl(&self) -> TimeDelta {
        TimeDelta::from_std(self.settings.link_ttl).unwrap_or(TimeDelta::hours(24))
    }

    /// The payment's stored link and its expiry, if it is still worth sending.
    pub(super) fn reusable_link<'r>(
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
    /// now would get, and admits nobody past the paid time (a link made before a refund
    /// moved the end back may).
    pub(super) fn worth_sending(
        &self,
        expires_at: DateTime<Utc>,
        paid_until: Option<DateTime<Utc>>,
    ) -> bool {
        let now = self.clock.now();
        let lifetime = self.link_expiry(paid_until) - now;
        expires_at - now >= lifetime / 2 && paid_until.is_none_or(|until| expires_at <= until)
    }

    /// Revokes the live link this payment is about to replace. Only a failure worth
    /// retrying stops the run (Telegram may act on the next attempt); one that cannot
    /// change (the link is gone or expired, the rights are lost) is logged and passed.
    async fn revoke_before_replacing(
        &self,
        chat_id: i64,
        link: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<(), Stopped> {
        match self
            .call(lease_until, self.telegram.revoke_invite_link(chat_id, link))
            .await
        {
            Ok(()) => Ok(()),
            Err(err @ (TelegramError::RetryAfter(_) | TelegramError::Transient(_))) => {
                warn!(error = %err, "could not revoke the live link before replacing it; retrying");
                Err(Stopped::Telegram(err))
            }
            Err(err) => {
                warn!(error = %err, "the live link being replaced could not be revoked; it expires on its own");
                Ok(())
            }
        }
    }

    pub(super) async fn revoke_best_effort(
        &self,
        chat_id: i64,
        link: &str,
        lease_until: DateTime<Utc>,
    ) {
        if let Err(err) = self
            .call(lease_until, self.telegram.revoke_invite_link(chat_id, link))
            .await
        {
            warn!(error = %err, "could not revoke an unused invite link; it expires on its own");
        }
    }
}
