//! Held means told: every payment held for review is told to its buyer (what happened,
//! that a person will look, no jargon) and to its channel's owner (why, and the exact
//! `telepay` commands that settle it).
//!
//! np-webhook queues a [`HoldNoticeRequest`] on the invite queue after the hold's write
//! (and again on every repeated IPN of a held payment, so a crash between the two is
//! healed by NOWPayments' retry); the reconciler queues it again for a hold still untold
//! after its quiet period. The invite sender tells under a lease on the review
//! ([`HeldNoticeStore`]): claim, send, record what reached whom. A crash after a send and
//! before the record lets a later claim send again: at least once, never silently none.
//! A hold an operator decided before it was told is recorded told with nothing sent (the
//! buyer hears of the decision's outcome instead).
//!
//! Tests: `functions/invite-sender/src/tests/held.rs`, the conformance suite (`held_*`
//! on every backend), and the chaos run's held leg.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{error, info, warn};

use crate::bot::BotTexts;
use crate::clock::SharedClock;
use crate::directory::ChannelDirectory;
use crate::ipn::{Ipn, PaymentId};
use crate::metrics::{self, stage};
use crate::order::OrderRef;
use crate::owner::OwnerNotice;
use crate::payment::{HoldReason, PaymentReview};
use crate::queue::MessageOutcome;
use crate::store::{Fenced, HeldNoticeStore, NoticeClaim, NoticeFound, PurchasePartsStore};
use crate::telegram::{TelegramError, TelegramInviter};

pub const HOLD_NOTICE_VERSION: u32 = 1;

/// "Tell the buyer and owner of this held payment": a message on the invite queue. Its
/// key field (`hold_notice`, not `payment_id`) keeps it apart from an invite request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HoldNoticeRequest {
    pub v: u32,
    pub hold_notice: PaymentId,
}

impl HoldNoticeRequest {
    pub fn new(payment_id: PaymentId) -> Self {
        Self {
            v: HOLD_NOTICE_VERSION,
            hold_notice: payment_id,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a hold notice request always serializes")
    }

    /// The request, if `body` is one (any other body is left to the invite sender).
    pub fn recognise(body: &str) -> Option<Self> {
        serde_json::from_str::<Self>(body)
            .ok()
            .filter(|request| request.v == HOLD_NOTICE_VERSION)
    }
}

/// Who a hold is about, read from its stored IPN.
struct HeldParty {
    /// The buyer, when the order names one.
    buyer: Option<i64>,
    /// The private channel, when the order names a channel in the directory.
    private_channel_id: Option<i64>,
    /// What the IPN says was asked, e.g. `3.21 USD`.
    price: String,
    /// What arrived, in the price's currency, and what is missing, when known
    /// ([`Ipn::paid_in_price_currency`]).
    paid: Option<(String, String)>,
    /// Its channel offers a top-up for the rest (`/topup`, [`crate::topup`]).
    offers_topup: bool,
    /// The purchase its order tops up, when it is a top-up itself.
    topup_part_of: Option<i64>,
}

impl HeldParty {
    /// What this hold's buyer is told, naming `channel`.
    fn buyer_text(&self, texts: &BotTexts, review: &PaymentReview, channel: &str) -> String {
        let reason = match self.topup_of(review) {
            Some(_) => HeldText::UnderpaidTopUp,
            None => HeldText::Held(review.reason),
        };
        buyer_text(
            texts,
            reason,
            review.payment_id,
            channel,
            &self.price,
            self.paid.as_ref(),
        )
    }

    /// The purchase an underpaid hold's buyer was offered to complete: the hold's own,
    /// or, for a short top-up, the purchase it is part of.
    fn topup_of(&self, review: &PaymentReview) -> Option<i64> {
        (review.reason == HoldReason::Underpaid && self.offers_topup && self.paid.is_some())
            .then(|| self.topup_part_of.unwrap_or(review.payment_id.get()))
    }

    /// The channel's name for a buyer, or "the channel" when the order names none we sell.
    fn channel(&self, directory: &ChannelDirectory) -> String {
        self.private_channel_id.map_or_else(
            || "the channel".to_owned(),
            |id| directory.private_channel_name(id),
        )
    }

    fn of(review: &PaymentReview, directory: &ChannelDirectory) -> Self {
        let ipn = Ipn::parse(review.ipn.as_bytes()).ok();
        let order = ipn
            .as_ref()
            .and_then(|ipn| OrderRef::parse(ipn.order_id.as_deref()).ok());
        let price = ipn
            .as_ref()
            .and_then(|ipn| {
                Some(format!(
                    "{} {}",
                    ipn.price_amount?,
                    ipn.price_currency.as_deref()?.to_uppercase()
                ))
            })
            .unwrap_or_else(|| "an unknown amount".into());
        let paid = ipn.as_ref().and_then(|ipn| {
            let asked = ipn.price_amount?;
            let currency = ipn.price_currency.as_deref()?.to_uppercase();
            let paid = ipn.paid_in_price_currency()?;
            Some((
                format!("{paid:.2} {currency}"),
                format!("{:.2} {currency}", (asked - paid).max(0.0)),
            ))
        });
        Self {
            offers_topup: ipn
                .as_ref()
                .is_some_and(|ipn| crate::topup::offers_topup(ipn, directory)),
            topup_part_of: order.and_then(|order| order.topup_of).map(PaymentId::get),
            buyer: order.map(|order| order.user_id.get()),
            private_channel_id: order
                .and_then(|order| directory.channel(order.channel_id))
                .map(|entry| entry.private_channel_id),
            price,
            paid,
        }
    }
}

/// Which of the bot's texts tells a hold's buyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldText {
    Held(HoldReason),
    /// Short, in a channel that offers the rest by `/topup`.
    UnderpaidTopUp,
}

/// The buyer's text for a hold, from the bot's configurable texts. `paid`: what arrived
/// and what is missing, when known.
pub fn buyer_text(
    texts: &BotTexts,
    reason: HeldText,
    payment_id: PaymentId,
    channel: &str,
    price: &str,
    paid: Option<&(String, String)>,
) -> String {
    let template = match reason {
        HeldText::Held(HoldReason::PriceMismatch) => &texts.held_price,
        HeldText::Held(HoldReason::RepeatDeposit) => &texts.held_repeat_deposit,
        HeldText::Held(HoldReason::UnknownChannel | HoldReason::UnparseableOrderId) => {
            &texts.held_unknown
        }
        HeldText::Held(HoldReason::Underpaid) => &texts.held_underpaid,
        HeldText::UnderpaidTopUp => &texts.held_underpaid_topup,
    };
    let (arrived, missing) = paid.map_or(("part of it", "the rest"), |(paid, missing)| {
        (paid.as_str(), missing.as_str())
    });
    template
        .replace("{channel}", channel)
        .replace("{payment_id}", &payment_id.to_string())
        .replace("{price}", price)
        .replace("{paid}", arrived)
        .replace("{missing}", missing)
}

/// What a held payment's buyer is told (and shown again by /status), in the channel's
/// words.
pub fn buyer_message(
    texts: &BotTexts,
    directory: &ChannelDirectory,
    review: &PaymentReview,
) -> String {
    let party = HeldParty::of(review, directory);
    party.buyer_text(texts, review, &party.channel(directory))
}

/// What became of one recipient's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    Sent,
    /// Blocked the bot, never started it, or no such chat.
    Unreachable,
    /// Nobody to tell (no buyer in the order, no owner in the directory).
    Nobody,
}

impl Reach {
    fn word(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Unreachable => "unreachable",
            Self::Nobody => "none",
        }
    }
}

/// A stop that hands the message back to the queue.
pub(crate) enum Again {
    Now,
    After(Duration),
}

impl Again {
    pub(crate) fn outcome(self) -> MessageOutcome {
        match self {
            Self::Now => MessageOutcome::Retry,
            Self::After(wait) => MessageOutcome::RetryAfter(wait),
        }
    }
}

/// One notice to `chat` within `timeout`: sent, or a chat it cannot reach (blocked, never
/// started, misconfigured: telling again cannot help), or handed back to the queue (a
/// 429, a transient failure, a timeout). `about` names the notice in the logs. The one
/// rule for the held and the never-completed notices.
pub(crate) async fn notify<T: TelegramInviter>(
    telegram: &T,
    chat: i64,
    text: &str,
    timeout: Duration,
    about: &str,
) -> Result<Reach, Again> {
    match tokio::time::timeout(timeout, telegram.send_message(chat, text)).await {
        Ok(Ok(())) => Ok(Reach::Sent),
        Ok(Err(TelegramError::UserUnreachable(why) | TelegramError::Misconfigured(why))) => {
            warn!(chat, %why, about, "a notice cannot reach this chat");
            Ok(Reach::Unreachable)
        }
        Ok(Err(TelegramError::RetryAfter(wait))) => {
            warn!(?wait, about, "rate limited sending a notice");
            Err(Again::After(wait))
        }
        Ok(Err(TelegramError::Transient(why))) => {
            warn!(%why, about, "could not send a notice now; retrying");
            Err(Again::Now)
        }
        Err(_) => {
            warn!(about, "sending a notice timed out; retrying");
            Err(Again::Now)
        }
    }
}

/// Tells held payments, borrowing the invite sender's parts.
pub struct HoldTeller<'a, S, T> {
    pub store: &'a S,
    pub telegram: &'a T,
    pub directory: &'a ChannelDirectory,
    pub texts: &'a BotTexts,
    /// One Bot API call's cap.
    pub call_timeout: Duration,
    /// How long a claim holds the review (past the invocation's deadline).
    pub lease_until: DateTime<Utc>,
    pub clock: &'a SharedClock,
}

impl<S: HeldNoticeStore + PurchasePartsStore, T: TelegramInviter> HoldTeller<'_, S, T> {
    pub async fn tell(&self, request: HoldNoticeRequest) -> MessageOutcome {
        let payment_id = request.hold_notice;
        tracing::Span::current().record("payment_id", payment_id.get());
        let claim = NoticeClaim {
            payment_id,
            token: uuid::Uuid::new_v4().to_string(),
            lease_until: self.lease_until,
            now: self.clock.now(),
        };
        let review = match self.store.claim_notice(&claim).await {
            Ok(NoticeFound::Claimed(review)) => review,
            Ok(NoticeFound::Told { at }) => {
                info!(%at, "held payment told before; duplicate notice acknowledged");
                metrics::outcome(stage::HELD_NOTICE, "duplicate");
                return MessageOutcome::Done;
            }
            Ok(NoticeFound::Leased { until }) => {
                info!(%until, "another worker is telling this held payment; retry later");
                metrics::outcome(stage::HELD_NOTICE, "retry");
                return MessageOutcome::Retry;
            }
            Ok(NoticeFound::NotFound) => {
                // The hold is written before its notice is queued: retried, then
                // dead-lettered where an operator sees it.
                error!("no payment_reviews entry for this hold notice");
                metrics::outcome(stage::HELD_NOTICE, "not_found");
                return MessageOutcome::Retry;
            }
            Err(err) => {
                error!(error = %err, "could not claim the hold notice");
                metrics::outcome(stage::HELD_NOTICE, "retry");
                return MessageOutcome::Retry;
            }
        };
        let told = if review.decision.is_some() {
            info!("held payment decided before it was told: nothing sent");
            "decided_first".to_owned()
        } else {
            let opened = self.open_purchase(&review).await;
            let sent = match opened {
                Ok(()) => self.send(&review).await,
                Err(()) => Err(Again::Now),
            };
            match sent {
                Ok(told) => told,
                Err(again) => {
                    if let Err(err) = self.store.release_notice(payment_id, &claim.token).await {
                        // The lease lapses on its own; the retry then claims it.
                        warn!(error = %err, "could not release the hold notice lease");
                    }
                    metrics::outcome(stage::HELD_NOTICE, "retry");
                    return again.outcome();
                }
            }
        };
        match self
            .store
            .finish_notice(payment_id, &claim.token, &told, self.clock.now())
            .await
        {
            Ok(Fenced::Done) => {
                info!(told, reason = review.reason.as_str(), "held payment told");
                metrics::outcome(stage::HELD_NOTICE, "told");
                MessageOutcome::Done
            }
            Ok(Fenced::LeaseLost) => {
                warn!("the hold notice lease was taken over; the other worker records it");
                metrics::outcome(stage::HELD_NOTICE, "lease_lost");
                MessageOutcome::Done
            }
            Err(err) => {
                // Told but not recorded: the retry tells again (at least once).
                error!(error = %err, "could not record the hold told");
                metrics::outcome(stage::HELD_NOTICE, "retry");
                MessageOutcome::Retry
            }
        }
    }

    /// Opens the purchase of a short payment whose buyer is offered the rest, if np-webhook
    /// could not (its store write failed and NOWPayments gave up): a buyer told to send
    /// /topup always has a purchase to top up. Idempotent.
    async fn open_purchase(&self, review: &PaymentReview) -> Result<(), ()> {
        if review.reason != HoldReason::Underpaid {
            return Ok(());
        }
        let Some(open) = Ipn::parse(review.ipn.as_bytes())
            .ok()
            .and_then(|ipn| crate::topup::opening(&ipn, self.directory, review.received_at))
        else {
            return Ok(());
        };
        self.store
            .open_purchase(&open)
            .await
            .map(drop)
            .map_err(|err| {
                warn!(error = %err, "could not open the short payment's purchase; retrying");
            })
    }

    /// Sends the buyer's and the owner's messages; what reached whom, e.g.
    /// `buyer:sent owner:sent`.
    async fn send(&self, review: &PaymentReview) -> Result<String, Again> {
        let party = HeldParty::of(review, self.directory);
        let channel = party.channel(self.directory);
        let buyer = match party.buyer {
            None => Reach::Nobody,
            Some(user_id) => {
                let text = party.buyer_text(self.texts, review, &channel);
                self.message(user_id, &text).await?
            }
        };
        let notice = OwnerNotice::PaymentHeld {
            payment_id: review.payment_id.get(),
            user_id: party.buyer,
            price: party.price.clone(),
            paid: party.paid.as_ref().map(|(paid, _)| paid.clone()),
            reason: review.reason,
            buyer_told: buyer == Reach::Sent,
            topup_of: party.topup_of(review),
        };
        let text = notice.text(&channel);
        let mut owner = Reach::Nobody;
        for chat in self.owners(party.private_channel_id) {
            let reached = self.message(chat, &text).await?;
            if owner != Reach::Sent {
                owner = reached;
            }
        }
        if owner == Reach::Nobody {
            warn!(
                "no owner_chat_id in the channel directory: the owner learns of this hold from the PaymentHeld alarm only"
            );
        }
        Ok(format!("buyer:{} owner:{}", buyer.word(), owner.word()))
    }

    /// The owner of the held payment's channel; every owner in the directory when the
    /// order names no channel it sells (the payment came to this account all the same).
    fn owners(&self, private_channel_id: Option<i64>) -> Vec<i64> {
        let mut owners: Vec<i64> = match private_channel_id {
            Some(id) => self
                .directory
                .selling(id)
                .and_then(|entry| entry.owner_chat_id)
                .into_iter()
                .collect(),
            None => self
                .directory
                .channels()
                .into_iter()
                .filter_map(|entry| entry.owner_chat_id)
                .collect(),
        };
        owners.sort_unstable();
        owners.dedup();
        owners
    }

    async fn message(&self, chat: i64, text: &str) -> Result<Reach, Again> {
        notify(self.telegram, chat, text, self.call_timeout, "held payment").await
    }
}

impl<S: HeldNoticeStore + PurchasePartsStore, T: TelegramInviter>
    crate::invite::InviteSender<S, T>
{
    /// Tells a held payment's buyer and owner within an invocation ending at `deadline`
    /// (the invite queue carries these requests beside invite requests).
    pub async fn tell_held(
        &self,
        request: HoldNoticeRequest,
        deadline: DateTime<Utc>,
    ) -> MessageOutcome {
        let catalog = self.catalog.current().await;
        HoldTeller {
            store: &self.store,
            telegram: &self.telegram,
            directory: &catalog.directory,
            texts: &catalog.texts,
            call_timeout: self.settings.call_timeout,
            lease_until: deadline + self.settings.lease_grace,
            clock: &self.clock,
        }
        .tell(request)
        .await
    }
}
