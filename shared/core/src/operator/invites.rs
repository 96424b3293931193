//! A stuck or failed invite queued again, and a sent one re-issued: the link it carried
//! is revoked, exactly the one the reopen cleared (the bot's /status uses the re-issue).
//!
//! Tests: `super::tests`, `cli/tests/operator.rs`.

use super::{LinkRevoker, Operator, OperatorError};
use crate::ipn::PaymentId;
use crate::payment::{ProcessedPayment, RecordState};
use crate::queue::{InviteRequest, MessageQueue};
use crate::store::{OperatorStore, Reopened};
use crate::telegram::TelegramInviter;

impl<S: OperatorStore> Operator<'_, S> {
    /// Queues a stuck or failed invite again. A failed one is made due first (the buyer
    /// may have started the bot since), and the link it carried, which may have reached
    /// someone, is revoked. A sent invite is refused: that is a re-issue.
    pub async fn replay<T: TelegramInviter>(
        &self,
        payment_id: PaymentId,
        bot: LinkRevoker<'_, T>,
        invite_queue: &impl MessageQueue,
    ) -> Result<Option<String>, OperatorError> {
        let record = self.payment(payment_id).await?;
        if record.telegram_invite_sent {
            return Err(OperatorError::AlreadySent(payment_id.get()));
        }
        if record.state != RecordState::InviteFailed {
            // Still in the protocol: the claim reuses or replaces its link.
            invite_queue
                .send(payment_id, &InviteRequest::from(&record).to_json())
                .await?;
            return Ok(None);
        }
        self.reopen_revoke_and_queue(&record, bot, invite_queue)
            .await
    }

    /// Makes the invite due again, revokes the link it carried (so it admits nobody) and
    /// queues a new invite; answers the revoked link. Needs the bot only when there is a
    /// link.
    pub async fn reissue<T: TelegramInviter>(
        &self,
        payment_id: PaymentId,
        bot: LinkRevoker<'_, T>,
        invite_queue: &impl MessageQueue,
    ) -> Result<Option<String>, OperatorError> {
        let record = self.payment(payment_id).await?;
        self.reopen_revoke_and_queue(&record, bot, invite_queue)
            .await
    }

    /// Reopen first, conditioned on the link as read, so exactly the link it cleared is
    /// revoked: revoking first would let a live worker send a dead link, and a link sent
    /// between a read and an unconditional reopen would be cleared without being revoked.
    pub(super) async fn reopen_revoke_and_queue<T: TelegramInviter>(
        &self,
        record: &ProcessedPayment,
        bot: LinkRevoker<'_, T>,
        invite_queue: &impl MessageQueue,
    ) -> Result<Option<String>, OperatorError> {
        let payment_id = record.payment_id;
        // Everything a revoke needs is checked before anything changes.
        let revoker = bot
            .telegram
            .map(|telegram| (telegram, record.private_channel(bot.directory)));
        let mut seen = record.clone();
        let mut attempts = 0;
        let cleared = loop {
            attempts += 1;
            if seen.telegram_invite_link.is_some() {
                match revoker {
                    None => return Err(OperatorError::NoBot(payment_id.get())),
                    Some((_, None)) => {
                        return Err(OperatorError::UnknownPrivateChannel(payment_id.get()));
                    }
                    Some(_) => {}
                }
            }
            let link = seen.telegram_invite_link.clone();
            match self
                .store
                .reopen_invite(payment_id, link.as_deref(), self.clock.now())
                .await?
            {
                Reopened::Done => break link,
                Reopened::Leased => return Err(OperatorError::Leased(payment_id.get())),
                Reopened::NotFound => {
                    return Err(OperatorError::PaymentNotFound(payment_id.get()));
                }
                // A worker stored or sent a link since: decide again on what is there,
                // a few times; a payment this busy is worked on, so try later.
                Reopened::LinkChanged if attempts < 3 => seen = self.payment(payment_id).await?,
                Reopened::LinkChanged => return Err(OperatorError::Leased(payment_id.get())),
            }
        };
        let revoked = match (&cleared, revoker) {
            (Some(link), Some((telegram, Some(chat)))) => {
                Some(telegram.revoke_invite_link(chat, link).await)
            }
            _ => None,
        };
        // Queued whatever the revoke did: the buyer is owed a working link.
        invite_queue
            .send(payment_id, &InviteRequest::from(record).to_json())
            .await?;
        match revoked {
            Some(Err(reason)) => Err(OperatorError::RevokeFailed {
                payment_id: payment_id.get(),
                link: cleared.unwrap_or_default(),
                reason,
            }),
            _ => Ok(cleared),
        }
    }
}
