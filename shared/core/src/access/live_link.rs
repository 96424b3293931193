//! One live invite link per subscription. A buyer's payments share the subscription's
//! link instead of each making its own: the invite path sends the live link while it is
//! good, and a new link becomes the live one only by one write over the version it was
//! decided on. Two payments racing to make a link therefore end with one live link: the
//! loser revokes its own and sends the winner's. A removal revokes the live link and
//! clears it in its completion, so a returning buyer gets a fresh one.
//!
//! Tests: `functions/invite-sender/src/tests/link.rs`, `tests/tests/subscription_conformance.rs`.

use chrono::{DateTime, Utc};

use super::ledger::{LedgerError, Step, change_from};
use crate::store::SubscriptionStore;
use crate::subscription::{LinkDecision, LiveLink, Subscription, SubscriptionKey};

/// Makes `candidate` the live link of `key` unless a good one (`good`) is live already.
/// `read` is the record as the caller last read it (saves a read when nothing changed).
pub async fn settle_live_link<S: SubscriptionStore + ?Sized>(
    store: &S,
    key: SubscriptionKey,
    read: Option<Subscription>,
    candidate: &LiveLink,
    now: DateTime<Utc>,
    good: impl Fn(&LiveLink) -> bool,
) -> Result<LinkDecision, LedgerError> {
    change_from(store, key, read, |stored| {
        let Some(current) = stored else {
            return Step::Keep(LinkDecision::NoSubscription);
        };
        match &current.live_link {
            Some(live) if live.url == candidate.url => {
                Step::Keep(LinkDecision::Ours { replaced: None })
            }
            Some(live) if good(live) => Step::Keep(LinkDecision::Theirs(live.clone())),
            replaced => {
                let decision = LinkDecision::Ours {
                    replaced: replaced.clone(),
                };
                Step::Write(
                    Box::new(current.with_live_link(candidate.clone(), now)),
                    decision,
                )
            }
        }
    })
    .await
}
