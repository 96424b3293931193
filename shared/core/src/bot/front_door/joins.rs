//! Who came in through whose link: a `chat_member` join to a sold channel through a link
//! the bot made for one buyer (named `payment N` by the invite sender, `buyer U` by the
//! lifecycle and join-request links), by someone else with no access of their own, is
//! undone. The link is revoked first (a removal frees its place: a one-time link counts
//! the members in), then the newcomer removed, the buyer's live link forgotten if it was
//! that one (so their `/status` re-issues), and the owner told. A forwarded one-time link
//! therefore admits nobody for long, and the buyer can still get in. Repeating it (a
//! redelivery after a crash) is harmless: a revoked link and an absent member are no
//! errors.
//!
//! Tests: `functions/bot-webhook/src/tests/joins.rs`.

use tracing::{info, warn};

use super::outcome::BotError;
use super::status::ledger_error;
use super::{BotFrontDoor, FrontDoorStore};
use crate::access::ledger::{Step, change};
use crate::bot::invoice::InvoiceApi;
use crate::bot::timing::bounded;
use crate::bot::update::MemberJoined;
use crate::ipn::PaymentId;
use crate::metrics::{self, signal};
use crate::order::UserId;
use crate::owner::{OwnerNotice, tell_owner};
use crate::queue::{DelayedQueue, MessageQueue};
use crate::subscription::SubscriptionKey;
use crate::telegram::{
    BotConversation, MemberRemover, StarsPayments, TelegramError, TelegramInviter,
};

/// Whose link a link's name says it is: the buyer it was made for.
enum LinkFor {
    Payment(PaymentId),
    Buyer(i64),
}

fn link_for(name: Option<&str>) -> Option<LinkFor> {
    let name = name?;
    if let Some(id) = name.strip_prefix("payment ") {
        return id
            .parse()
            .ok()
            .and_then(|id| PaymentId::new(id).ok())
            .map(LinkFor::Payment);
    }
    name.strip_prefix("buyer ")?
        .parse()
        .ok()
        .map(LinkFor::Buyer)
}

impl<S, T, I, Q, V> BotFrontDoor<S, T, I, Q, V>
where
    S: FrontDoorStore,
    T: BotConversation + TelegramInviter + MemberRemover + StarsPayments,
    I: InvoiceApi,
    Q: DelayedQueue,
    V: MessageQueue,
{
    pub(super) async fn on_member_joined(&self, join: &MemberJoined) -> Result<(), BotError> {
        let catalog = self.setup.catalog.now();
        if catalog.directory.selling(join.chat_id).is_none() {
            return Ok(());
        }
        let buyer = match link_for(join.link_name.as_deref()) {
            // Not a link the bot made for a buyer (the owner's own, say): not ours to judge.
            None => return Ok(()),
            Some(LinkFor::Buyer(user)) => user,
            Some(LinkFor::Payment(payment)) => match self.store.get_payment(payment).await? {
                Some(record) => record.user_id.get(),
                None => return Ok(()),
            },
        };
        if buyer == join.user_id {
            return Ok(());
        }
        let now = self.clock.now();
        let settings = &self.setup.settings;
        if let Ok(user) = UserId::new(join.user_id) {
            let own = SubscriptionKey::new(user, join.chat_id);
            if self
                .store
                .get_subscription(own)
                .await?
                .is_some_and(|s| s.is_active(now, settings))
            {
                info!(
                    user_id = join.user_id,
                    buyer, "joined through another buyer's link, with access of their own: left in"
                );
                return Ok(());
            }
        }
        let timeout = self.setup.timing.call_timeout;
        bounded(
            timeout,
            self.telegram.revoke_invite_link(join.chat_id, &join.link),
        )
        .await?;
        let removed = match bounded(
            timeout,
            self.telegram.remove_member(join.chat_id, join.user_id),
        )
        .await
        {
            Ok(()) => true,
            // An admin, or the bot without the right: the owner removes them by hand.
            Err(TelegramError::Misconfigured(why)) => {
                warn!(
                    user_id = join.user_id,
                    why, "could not remove a shared link's joiner"
                );
                false
            }
            Err(other) => return Err(other.into()),
        };
        if let Ok(user) = UserId::new(buyer) {
            let key = SubscriptionKey::new(user, join.chat_id);
            change(&self.store, key, |stored| match stored {
                Some(current)
                    if current.live_link.as_ref().map(|l| l.url.as_str())
                        == Some(join.link.as_str()) =>
                {
                    Step::Write(Box::new(current.without_live_link(now)), ())
                }
                _ => Step::Keep(()),
            })
            .await
            .map_err(ledger_error)?;
        }
        warn!(
            user_id = join.user_id,
            buyer,
            chat_id = join.chat_id,
            removed,
            "joined through a link made for another buyer: link revoked, newcomer removed"
        );
        metrics::count(signal::SHARED_LINK_JOIN_REMOVED);
        let notice = OwnerNotice::LinkShared {
            joined: join.user_id,
            buyer,
            removed,
        };
        tell_owner(
            &self.telegram,
            &catalog.directory,
            join.chat_id,
            notice,
            timeout,
        )
        .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_links_name_says_whose_it_is() {
        assert!(matches!(link_for(Some("payment 42")), Some(LinkFor::Payment(p)) if p.get() == 42));
        assert!(matches!(
            link_for(Some("buyer 7001")),
            Some(LinkFor::Buyer(7001))
        ));
        for other in [
            None,
            Some("payment"),
            Some("payment x"),
            Some("payment -3"),
            Some("VIP"),
            Some("buyer "),
        ] {
            assert!(link_for(other).is_none(), "{other:?}");
        }
    }
}
