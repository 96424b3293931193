//! Membership: a renewing buyer already in the channel gets one "renewed until" message
//! and no link; a buyer found in before a stored link is dropped completes without one.
//!
//! Tests: `functions/invite-sender/src/tests/renewal.rs`.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::{InviteSender, Stopped};
use crate::metrics::{self, stage};
use crate::payment::ProcessedPayment;
use crate::store::{Fenced, InviteCompletion, InviteLease, InviteStore, SubscriptionStore};
use crate::telegram::{TelegramError, TelegramInviter};

impl<S: InviteStore + SubscriptionStore, T: TelegramInviter> InviteSender<S, T> {
    /// A renewing buyer already in the channel: one "renewed until" message, no link.
    pub(super) async fn renew_in_place(
        &self,
        record: &ProcessedPayment,
        lease: &InviteLease,
        lease_until: DateTime<Utc>,
        chat_id: i64,
        paid_until: DateTime<Utc>,
    ) -> Result<(), Stopped> {
        let channel = self.catalog.now().directory.private_channel_name(chat_id);
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
                self.store.complete_invite(
                    lease,
                    InviteCompletion::RenewedInPlace,
                    self.clock.now(),
                )
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

    /// The buyer is already in the channel: the invite is complete without a new link.
    pub(super) async fn complete_by_membership(
        &self,
        lease: &InviteLease,
        lease_until: DateTime<Utc>,
    ) -> Result<(), Stopped> {
        let completed = self
            .write_after_call(
                lease_until,
                "mark the invite satisfied by membership",
                || {
                    self.store.complete_invite(
                        lease,
                        InviteCompletion::ByMembership,
                        self.clock.now(),
                    )
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
}
