//! One live invite link per subscription. A buyer's payments share the subscription's
//! link instead of each making its own: the invite path sends the live link while it is
//! good, and a new link becomes the live one only by one write over the version it was
//! decided on. Two payments racing to make a link therefore end with one live link: the
//! loser revokes its own and sends the winner's. A removal revokes the live link and
//! clears it in its completion, so a returning buyer gets a fresh one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ledger::{LedgerError, Step, change_from};
use super::model::{Subscription, SubscriptionKey, ms};
use crate::store::SubscriptionStore;

/// The subscription's invite link, as Telegram made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveLink {
    pub url: String,
    /// Its `expire_date`.
    pub expires_at: DateTime<Utc>,
    /// The payment whose invite made it.
    pub made_for: i64,
    pub made_at: DateTime<Utc>,
}

/// What settling a candidate link found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkDecision {
    /// The candidate is the live link now (or was already). `replaced`: the live link it
    /// took over from (expired or too short-lived), to revoke.
    Ours { replaced: Option<LiveLink> },
    /// Another good link is live (a racing payment of the same buyer made it): send that
    /// one, and revoke the candidate.
    Theirs(LiveLink),
    /// No subscription holds this buyer's time: the payment's own link stands.
    NoSubscription,
}

impl Subscription {
    /// The live link, if `good` says it may still be sent (its remaining lifetime).
    pub fn sendable_link(&self, good: impl Fn(&LiveLink) -> bool) -> Option<&LiveLink> {
        self.live_link.as_ref().filter(|link| good(link))
    }

    /// The next version with `link` as the live link.
    pub fn with_live_link(&self, link: LiveLink, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        next.live_link = Some(link);
        next.bump(ms(now))
    }
}

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
