//! A purchase never completed: a short payment whose buyer has not paid the rest within
//! the wait (`TELEPAY_TOPUP_WAIT_HOURS`, 24 by default) is told to its channel's owner
//! once, with the commands that settle it.
//!
//! The reconciler queues a [`PurchaseWaitNotice`] on the invite queue for every open
//! purchase past the wait whose owner was not told; the invite sender tells the owner,
//! then records it told (one conditional write). A crash between the two tells again:
//! at least once, never silently none. A purchase completed or settled meanwhile is
//! not told.
//!
//! Tests: `functions/invite-sender/src/tests/held.rs`, `super::tests`, the conformance
//! suite (`parts_*`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use crate::clock::SharedClock;
use crate::directory::ChannelDirectory;
use crate::held::notify;
use crate::ipn::PaymentId;
use crate::metrics::{self, signal};
use crate::order::ChannelId;
use crate::owner::OwnerNotice;
use crate::queue::MessageOutcome;
use crate::store::{PartsTally, PurchasePartsStore};
use crate::telegram::TelegramInviter;

pub const WAIT_NOTICE_VERSION: u32 = 1;

/// "Tell the owner this purchase was never completed": a message on the invite queue.
/// Its key field keeps it apart from an invite request and a hold notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseWaitNotice {
    pub v: u32,
    pub purchase_never_completed: PaymentId,
}

impl PurchaseWaitNotice {
    pub fn new(purchase_id: PaymentId) -> Self {
        Self {
            v: WAIT_NOTICE_VERSION,
            purchase_never_completed: purchase_id,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a wait notice always serializes")
    }

    /// The notice, if `body` is one.
    pub fn recognise(body: &str) -> Option<Self> {
        serde_json::from_str::<Self>(body)
            .ok()
            .filter(|notice| notice.v == WAIT_NOTICE_VERSION)
    }
}

/// Tells owners of purchases never completed, borrowing the invite sender's parts.
pub struct StaleTeller<'a, S, T> {
    pub store: &'a S,
    pub telegram: &'a T,
    pub directory: &'a ChannelDirectory,
    pub call_timeout: Duration,
    pub clock: &'a SharedClock,
}

impl<S: PurchasePartsStore, T: TelegramInviter> StaleTeller<'_, S, T> {
    pub async fn tell(&self, notice: PurchaseWaitNotice) -> MessageOutcome {
        let purchase_id = notice.purchase_never_completed;
        let tally = match self.store.purchase_of(purchase_id).await {
            Ok(Some(tally)) if tally.is_open() && tally.owner_told_at.is_none() => tally,
            Ok(_) => {
                info!(
                    purchase_id = purchase_id.get(),
                    "purchase completed, settled or told meanwhile: nothing to tell"
                );
                return MessageOutcome::Done;
            }
            Err(err) => {
                error!(purchase_id = purchase_id.get(), error = %err, "could not read the purchase");
                return MessageOutcome::Retry;
            }
        };
        let owner = ChannelId::new(tally.channel_id)
            .ok()
            .and_then(|channel| self.directory.channel(channel));
        let (channel, owner_chat) = match owner {
            Some(entry) => (
                self.directory
                    .private_channel_name(entry.private_channel_id),
                entry.owner_chat_id,
            ),
            None => ("a channel no longer sold".to_owned(), None),
        };
        if let Some(chat) = owner_chat {
            let text = never_completed(&tally).text(&channel);
            let about = "purchase never completed";
            if let Err(again) = notify(self.telegram, chat, &text, self.call_timeout, about).await {
                return again.outcome();
            }
        } else {
            warn!(
                purchase_id = purchase_id.get(),
                "no owner_chat_id in the channel directory: the owner learns of this purchase from the PurchaseNeverCompleted metric only"
            );
        }
        match self
            .store
            .mark_owner_told(purchase_id, self.clock.now())
            .await
        {
            Ok(true) => {
                metrics::count(signal::PURCHASE_NEVER_COMPLETED);
                MessageOutcome::Done
            }
            Ok(false) => MessageOutcome::Done,
            Err(err) => {
                // Told but not recorded: the retry tells again (at least once).
                error!(purchase_id = purchase_id.get(), error = %err, "could not record the owner told");
                MessageOutcome::Retry
            }
        }
    }
}

impl<
    S: crate::store::InviteStore + crate::store::SubscriptionStore + PurchasePartsStore,
    T: TelegramInviter,
> crate::invite::InviteSender<S, T>
{
    /// Tells a purchase's owner it was never completed (the invite queue carries these
    /// notices beside invite requests).
    pub async fn tell_wait(&self, notice: PurchaseWaitNotice) -> MessageOutcome {
        let catalog = self.catalog.current().await;
        StaleTeller {
            store: &self.store,
            telegram: &self.telegram,
            directory: &catalog.directory,
            call_timeout: self.settings.call_timeout,
            clock: &self.clock,
        }
        .tell(notice)
        .await
    }
}

/// The owner's notice of `tally`.
fn never_completed(tally: &PartsTally) -> OwnerNotice {
    let currency = tally.price_currency.to_uppercase();
    OwnerNotice::PurchaseNeverCompleted {
        purchase_id: tally.purchase_id.get(),
        user_id: tally.user_id,
        paid: format!("{:.2} {currency}", tally.paid_total),
        price: format!("{} {currency}", tally.price_amount),
        missing: format!("{:.2} {currency}", tally.missing()),
        parts: tally.parts.len(),
    }
}
