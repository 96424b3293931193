//! The bot's own membership of a channel changed: the owner is told when the bot loses
//! the rights it needs there.
//!
//! Tests: `functions/bot-webhook/src/tests/membership.rs`.

use tracing::{error, info};

use super::{BotFrontDoor, FrontDoorStore};
use crate::bot::invoice::InvoiceApi;
use crate::bot::update::BotMembership;
use crate::metrics::{self, signal};
use crate::owner::{OwnerNotice, tell_owner};
use crate::queue::{DelayedQueue, MessageQueue};
use crate::telegram::{BotConversation, MemberRemover, StarsPayments, TelegramInviter};

impl<S, T, I, Q, V> BotFrontDoor<S, T, I, Q, V>
where
    S: FrontDoorStore,
    T: BotConversation + TelegramInviter + MemberRemover + StarsPayments,
    I: InvoiceApi,
    Q: DelayedQueue,
    V: MessageQueue,
{
    pub(super) async fn on_bot_membership(&self, change: &BotMembership) {
        let catalog = self.setup.catalog.now();
        if catalog.directory.selling(change.chat_id).is_none() {
            info!(
                chat_id = change.chat_id,
                status = change.status,
                "bot membership changed in a chat not in the directory"
            );
        } else if change.can_manage() {
            info!(
                chat_id = change.chat_id,
                status = change.status,
                "bot can manage the channel"
            );
        } else {
            metrics::count(signal::BOT_RIGHTS_LOST);
            error!(
                chat_id = change.chat_id,
                status = change.status,
                "the bot lost its admin rights in a sold channel (or was removed): invites and removals fail until it is an admin that may invite and ban users again"
            );
            let notice = OwnerNotice::RightsLost {
                status: change.status.clone(),
            };
            tell_owner(
                &self.telegram,
                &catalog.directory,
                change.chat_id,
                notice,
                self.setup.timing.call_timeout,
            )
            .await;
        }
    }
}
