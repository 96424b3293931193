//! The protocol's run for a claimed payment: the renewal check, the link, the message,
//! the completion; then the owner's notice of the sale or renewal.
//!
//! Tests: `functions/invite-sender/src/tests/protocol.rs`.

use chrono::{DateTime, Utc};

use super::{Chosen, InviteSender, Stopped};
use crate::directory::Admission;
use crate::metrics::{self, stage};
use crate::owner::{OwnerNotice, PaidNote, tell_owner};
use crate::payment::{ProcessedPayment, Purchase};
use crate::queue::GrantFacts;
use crate::store::{Fenced, InviteCompletion, InviteLease, InviteStore, SubscriptionStore};
use crate::subscription::{GrantSource, SubscriptionKey};
use crate::telegram::TelegramInviter;
use tracing::{info, warn};

impl<S: InviteStore + SubscriptionStore, T: TelegramInviter> InviteSender<S, T> {
    /// A sale or a renewal, told to the channel's owner once the invite completed.
    pub(super) async fn tell_owner(&self, record: &ProcessedPayment, grant: Option<GrantFacts>) {
        let (Some(grant), Ok(chat_id)) = (grant, self.private_channel(record)) else {
            return;
        };
        let price = record
            .purchase
            .as_ref()
            .map_or_else(String::new, Purchase::price_label);
        let note = record.purchase.as_ref().and_then(PaidNote::of);
        let recovered = record.purchase.as_ref().is_some_and(|p| p.recovered);
        let user_id = record.user_id.get();
        let notice = if grant.renewal {
            OwnerNotice::Renewal {
                user_id,
                price,
                paid_until: grant.paid_until,
                note,
                recovered,
            }
        } else {
            OwnerNotice::Sale {
                user_id,
                price,
                paid_until: grant.paid_until,
                note,
                recovered,
            }
        };
        self.notice_owner(chat_id, notice).await;
    }

    /// Tells the owner of `chat_id` (from the catalog) `notice`, within one call's time.
    pub(super) async fn notice_owner(&self, chat_id: i64, notice: OwnerNotice) {
        let catalog = self.catalog.now();
        let timeout = self.settings.call_timeout;
        tell_owner(&self.telegram, &catalog.directory, chat_id, notice, timeout).await;
    }

    /// Runs the invite; answers what the grant was (for the owner's notice).
    pub(super) async fn run_protocol(
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
        // A request queued by the reconciler or an operator carries no grant facts; the
        // paid end is always the subscription's now (a refund may have moved it since).
        let grant = match &subscription {
            Some(subscription) if subscription.is_refunded(&source) => {
                return Err(Stopped::Refunded);
            }
            Some(subscription) => {
                let paid_until = subscription.paid_until(&self.lifecycle);
                if !subscription.is_active(self.clock.now(), &self.lifecycle) {
                    return Err(Stopped::AccessEnded { paid_until });
                }
                Some(grant.map_or_else(
                    || GrantFacts {
                        renewal: subscription.is_renewal(&source),
                        paid_until,
                        crossed_removal: subscription.crossed_removal(&source),
                    },
                    |grant| GrantFacts {
                        paid_until,
                        ..grant
                    },
                ))
            }
            None => grant,
        };
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
        let template = match self.catalog.now().directory.admission_of(chat_id) {
            Admission::OneTimeLink => &self.settings.message,
            Admission::JoinRequest => &self.settings.join_request_message,
        };
        let mut text = template.render(&link, hours, payment_id);
        // A short payment its channel prorates: the buyer learns what it bought.
        if let Some(PaidNote::Prorated {
            paid,
            price,
            granted,
            tier,
        }) = record.purchase.as_ref().and_then(PaidNote::of)
        {
            let note = self
                .catalog
                .now()
                .texts
                .prorated
                .replace("{paid}", &paid)
                .replace("{price}", &price)
                .replace("{granted}", &granted)
                .replace("{tier}", &tier);
            text = format!("{text}\n\n{note}");
        }
        self.call(
            lease_until,
            self.telegram.send_message(record.user_id.get(), &text),
        )
        .await?;
        let completed = self
            .write_after_call(lease_until, "mark the invite sent", || {
                self.store
                    .complete_invite(lease, InviteCompletion::Sent, self.clock.now())
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
}
