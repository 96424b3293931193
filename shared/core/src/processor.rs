//! payment-processor: grant the paid time to the buyer's subscription, hand the payout
//! to its queue, queue the invite, mark the stage done.
//!
//! Send-then-mark is deliberate: marking first would lose the payment if a send failed.
//! A redelivery after a send but before the mark sends again; both consumers dedupe on
//! payment_id, and the mark itself is conditional. The grant counts a payment once
//! (its id is in the subscription's fold), and comes before the invite request so that
//! the invite sender finds the time it admits for. A payment refunded before its grant
//! (the grant's versioned write finds the refund) is neither granted nor paid out.
//!
//! A Telegram Stars payment comes from the bot with no record behind it
//! ([`ProcessorMessage::stars_paid`]): Telegram signs nothing, so the processor asks the
//! bot's own Stars ledger (`crate::stars::find_charge`) and writes the charge's record,
//! the same conditional put keyed by the charge, only if the ledger lists that charge
//! as paid by the message's buyer for its invoice and amount, and not refunded. The
//! record's facts are the ledger's and the payload's; only the private channel is the
//! message's.
//!
//! A message np-webhook sent without its record (the store refused the write) is
//! recorded here first, with the same conditional put, but only once the signed IPN it
//! carries verifies with the IPN secret and names the message's payment, buyer and
//! channel ([`crate::queue::Unrecorded::vouched_for`]); the record's payload hash is the verified
//! IPN's. A handover NOWPayments did not vouch for writes nothing and is counted like an
//! unmatched message.
//!
//! The processor trusts its store, not its queue: its first write on a payment
//! ([`ProcessorStore::begin_processing`], conditional on an accepted, unprocessed record)
//! returns the record as stored, and the buyer, channel and purchase granted and paid
//! out are the record's. A message no accepted record stands for (anyone able to send to
//! the queue could write one) grants nothing and queues nothing: counted
//! (`ProcessorMessageUnmatched`), logged, and retried into the dead-letter queue, where
//! the owner sees it (nothing is dropped unseen).
//!
//! Tests: `functions/payment-processor/src/tests.rs` (the handler on the in-memory store).

use tracing::{error, info, warn};

use crate::access::{Granted, LedgerError, grant_time};
use crate::clock::{SharedClock, system_clock};
use crate::metrics::{self, signal, stage};
use crate::queue::{
    GrantFacts, InviteRequest, MessageOutcome, MessageQueue, PROCESSOR_MESSAGE_VERSION,
    PayoutInstruction, ProcessorMessage, Unvouched, parse_message,
};
use crate::signature::IpnSecret;
use crate::stars::{LedgerMemory, StarsUnvouched, find_charge};
use crate::store::{
    IngressStore, ProcessedMark, ProcessingStart, ProcessorStore, Recorded, StoreError,
    SubscriptionStore,
};
use crate::subscription::{GrantSource, LifecycleSettings, SubscriptionKey, TimeGrant};
use crate::telegram::{NoStarsLedger, StarsLedger, TelegramError};

/// A 429 on the Stars ledger asking for at most this long is waited out in the message,
/// once (a batch of ten still fits the function's 30 s); longer, the queue redelivers.
const LEDGER_PAUSE_WAITED: std::time::Duration = std::time::Duration::from_secs(1);

/// Why a handover's record was not written.
enum RecordFirst {
    Store(StoreError),
    Unvouched(Unvouched),
    /// The Stars ledger does not vouch for the charge.
    StarsUnvouched(StarsUnvouched),
    /// The Stars ledger could not be read now.
    Ledger(TelegramError),
}

impl From<StoreError> for RecordFirst {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

pub struct PaymentProcessor<S, P, I, L = NoStarsLedger> {
    pub store: S,
    pub payout_queue: P,
    pub invite_queue: I,
    pub lifecycle: LifecycleSettings,
    pub clock: SharedClock,
    /// What an `unrecorded` handover's IPN must be signed with; without it none is
    /// written.
    pub ipn_secret: Option<IpnSecret>,
    /// The bot's Stars ledger, which vouches for a Stars payment; none, none recorded.
    pub stars_ledger: L,
    /// What this warm processor read of the ledger: the next search starts there.
    ledger_memory: LedgerMemory,
}

impl<S, P, I> PaymentProcessor<S, P, I>
where
    S: ProcessorStore + SubscriptionStore + IngressStore,
    P: MessageQueue,
    I: MessageQueue,
{
    pub fn new(store: S, payout_queue: P, invite_queue: I) -> Self {
        Self {
            store,
            payout_queue,
            invite_queue,
            lifecycle: LifecycleSettings::default(),
            clock: system_clock(),
            ipn_secret: None,
            stars_ledger: NoStarsLedger,
            ledger_memory: LedgerMemory::default(),
        }
    }
}

impl<S, P, I, L> PaymentProcessor<S, P, I, L>
where
    S: ProcessorStore + SubscriptionStore + IngressStore,
    P: MessageQueue,
    I: MessageQueue,
    L: StarsLedger,
{
    /// Records Stars payments the bot hands over once `ledger` (the bot's) lists them.
    pub fn with_stars_ledger<M: StarsLedger>(self, ledger: M) -> PaymentProcessor<S, P, I, M> {
        PaymentProcessor {
            store: self.store,
            payout_queue: self.payout_queue,
            invite_queue: self.invite_queue,
            lifecycle: self.lifecycle,
            clock: self.clock,
            ipn_secret: self.ipn_secret,
            stars_ledger: ledger,
            ledger_memory: self.ledger_memory,
        }
    }

    /// Verifies the signed IPNs of `unrecorded` handovers with `secret` (np-webhook's).
    pub fn with_ipn_secret(mut self, secret: IpnSecret) -> Self {
        self.ipn_secret = Some(secret);
        self
    }

    pub fn with_lifecycle(mut self, lifecycle: LifecycleSettings) -> Self {
        self.lifecycle = lifecycle;
        self
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Handles one processor message body.
    pub async fn process(&self, body: &str) -> MessageOutcome {
        let message: ProcessorMessage = match parse_message(body, PROCESSOR_MESSAGE_VERSION) {
            Ok(message) => message,
            Err(reason) => {
                // Retried, then dead-lettered: a human must see it.
                error!(%reason, "malformed processor message");
                metrics::outcome(stage::PROCESSOR, "malformed");
                return MessageOutcome::Retry;
            }
        };
        let payment_id = message.payment_id;
        tracing::Span::current().record("payment_id", payment_id.get());
        let message = match self.record_first(message).await {
            Ok(message) => message,
            Err(RecordFirst::Store(err)) => {
                error!(error = %err, "could not write the record np-webhook could not");
                metrics::outcome(stage::PROCESSOR, "record_failed");
                return MessageOutcome::Retry;
            }
            Err(RecordFirst::Ledger(err)) => {
                error!(error = %err, "could not read the bot's Stars ledger");
                metrics::outcome(stage::PROCESSOR, "ledger_unreadable");
                return MessageOutcome::Retry;
            }
            Err(RecordFirst::StarsUnvouched(StarsUnvouched::Refunded)) => {
                info!("a Stars charge refunded before it was recorded: nothing to grant");
                metrics::outcome(stage::PROCESSOR, "refunded");
                return MessageOutcome::Done;
            }
            Err(RecordFirst::StarsUnvouched(why)) => {
                error!(
                    %why,
                    "a Stars payment the bot's ledger does not vouch for: nothing written or granted (who can send to the processor queue?)"
                );
                metrics::count(signal::PROCESSOR_MESSAGE_UNMATCHED);
                metrics::outcome(stage::PROCESSOR, "unvouched");
                return MessageOutcome::Retry;
            }
            Err(RecordFirst::Unvouched(why)) => {
                error!(
                    %why,
                    "an unrecorded handover NOWPayments did not vouch for: nothing written, granted or paid out (who can send to the processor queue?)"
                );
                metrics::count(signal::PROCESSOR_MESSAGE_UNMATCHED);
                metrics::outcome(stage::PROCESSOR, "unvouched");
                return MessageOutcome::Retry;
            }
        };
        let message = match self.stored_for(&message).await {
            Ok(stored) => stored,
            Err(outcome) => return outcome,
        };

        let granted = match self.grant(&message).await {
            Ok(granted) => granted,
            Err(err) => {
                error!(error = %err, "could not grant the paid time");
                metrics::outcome(stage::PROCESSOR, "grant_failed");
                return MessageOutcome::Retry;
            }
        };
        // The grant's write decides against a refund: one recorded first makes the grant
        // count nothing, and then nothing is paid out. The invite request still goes: the
        // invite sender ends it without a link (`refunded`), where operators look.
        let refunded = granted.is_some_and(Granted::refunded);
        if refunded {
            warn!("payment refunded before its grant: no time, no payout, no invite");
        } else if message.purchase.star_charge_id.is_some() {
            // Paid in Telegram Stars: they stay in the bot's balance, nothing to pay out.
            info!("a Stars payment: no payout instruction");
        } else {
            let payout = serde_json::to_string(&PayoutInstruction::from(&message))
                .expect("a payout instruction always serializes");
            if let Err(err) = self.payout_queue.send(payment_id, &payout).await {
                error!(error = %err, "could not queue the payout");
                metrics::outcome(stage::PROCESSOR, "payout_not_queued");
                return MessageOutcome::Retry;
            }
        }
        let mut invite = InviteRequest::from(&message);
        if let Some(granted) = granted.filter(|_| !refunded) {
            invite = invite.with_grant(GrantFacts {
                renewal: granted.renewal(),
                paid_until: granted.expires_at() + self.lifecycle.grace,
                crossed_removal: granted.crossed_removal(),
            });
        }
        let invite = invite.to_json();
        if let Err(err) = self.invite_queue.send(payment_id, &invite).await {
            error!(error = %err, "could not queue the invite");
            metrics::outcome(stage::PROCESSOR, "invite_not_queued");
            return MessageOutcome::Retry;
        }
        match self
            .store
            .mark_processed(payment_id, self.clock.now())
            .await
        {
            Ok(ProcessedMark::Marked) if refunded => {
                metrics::outcome(stage::PROCESSOR, "refunded");
                MessageOutcome::Done
            }
            Ok(ProcessedMark::Marked) => {
                info!("payment processed: payout and invite queued");
                metrics::outcome(stage::PROCESSOR, "processed");
                MessageOutcome::Done
            }
            Ok(ProcessedMark::AlreadyProcessed) => {
                info!("payment was already processed; the repeated sends are deduped downstream");
                metrics::outcome(stage::PROCESSOR, "already_processed");
                MessageOutcome::Done
            }
            Ok(ProcessedMark::NotAccepted(state)) => {
                warn!(
                    state = state.as_str(),
                    "payment is past processing; nothing to mark"
                );
                metrics::outcome(stage::PROCESSOR, "past_processing");
                MessageOutcome::Done
            }
            Ok(ProcessedMark::NotFound) => {
                error!("no processed_payments record for this message");
                metrics::outcome(stage::PROCESSOR, "not_found");
                MessageOutcome::Retry
            }
            Err(err) => {
                error!(error = %err, "could not mark the payment processed");
                metrics::outcome(stage::PROCESSOR, "mark_failed");
                MessageOutcome::Retry
            }
        }
    }

    /// A message for a record np-webhook could not write: writes it (the same
    /// conditional put); a record that exists by now stands, and the message is rebuilt
    /// from it.
    async fn record_first(
        &self,
        message: ProcessorMessage,
    ) -> Result<ProcessorMessage, RecordFirst> {
        if let Some(paid) = &message.stars_paid {
            return self.record_stars(&message, paid).await;
        }
        let Some(unrecorded) = &message.unrecorded else {
            return Ok(message);
        };
        let Some(secret) = &self.ipn_secret else {
            return Err(RecordFirst::Unvouched(Unvouched::Signature));
        };
        let payload_hash = unrecorded
            .vouched_for(&message, secret)
            .map_err(RecordFirst::Unvouched)?;
        let record = message.record(&payload_hash, self.clock.now());
        match self.store.record_accepted(&record).await? {
            Recorded::New => {
                info!("payment recorded by the processor (np-webhook met a store outage)");
                Ok(message)
            }
            Recorded::Existing(stored) => {
                Ok(ProcessorMessage::from_record(&stored, &message.purchase))
            }
        }
    }

    /// A Stars payment the bot handed over: its record written once the ledger vouches
    /// for it; a record that exists by now stands.
    async fn record_stars(
        &self,
        message: &ProcessorMessage,
        paid: &crate::stars::StarsPaid,
    ) -> Result<ProcessorMessage, RecordFirst> {
        let ledger = &self.stars_ledger;
        let mut attempt = 0;
        let listed = loop {
            // The bot's receipt of the payment: within seconds of the charge.
            let paid_about = message.accepted_at.unwrap_or_else(|| self.clock.now());
            let search = find_charge(
                &paid.charge_id,
                paid_about,
                &self.ledger_memory,
                |offset, limit| ledger.star_transactions(offset, limit),
            );
            match search.await {
                Ok(listed) => break listed,
                // A short 429 is waited out here, not left to the queue's redelivery.
                Err(TelegramError::RetryAfter(pause))
                    if attempt < 1 && pause <= LEDGER_PAUSE_WAITED =>
                {
                    attempt += 1;
                    tokio::time::sleep(pause).await;
                }
                Err(err) => return Err(RecordFirst::Ledger(err)),
            }
        };
        let charge = paid
            .vouched(message.user_id, &listed)
            .map_err(RecordFirst::StarsUnvouched)?;
        let record = charge
            .record(message.purchase.private_channel_id)
            .filter(|record| record.payment_id == message.payment_id)
            .ok_or(RecordFirst::StarsUnvouched(StarsUnvouched::OtherFacts))?;
        let purchase = &message.purchase;
        match self.store.record_accepted(&record).await? {
            Recorded::New => {
                info!(
                    charge_id = paid.charge_id,
                    "Stars payment recorded: the bot's ledger lists the charge"
                );
                Ok(ProcessorMessage::from_record(&record, purchase))
            }
            Recorded::Existing(stored) => Ok(ProcessorMessage::from_record(&stored, purchase)),
        }
    }

    /// The message as its stored record says it (the first write on the payment), or what
    /// to answer when there is nothing to process.
    async fn stored_for(
        &self,
        message: &ProcessorMessage,
    ) -> Result<ProcessorMessage, MessageOutcome> {
        let payment_id = message.payment_id;
        let stored = match self
            .store
            .begin_processing(payment_id, self.clock.now())
            .await
        {
            Ok(ProcessingStart::Stored(stored)) => stored,
            Ok(ProcessingStart::Refused(ProcessedMark::AlreadyProcessed)) => {
                info!("payment was already processed; nothing sent again");
                metrics::outcome(stage::PROCESSOR, "already_processed");
                return Err(MessageOutcome::Done);
            }
            Ok(ProcessingStart::Refused(ProcessedMark::NotAccepted(state))) => {
                warn!(
                    state = state.as_str(),
                    "payment is past processing; nothing to do"
                );
                metrics::outcome(stage::PROCESSOR, "past_processing");
                return Err(MessageOutcome::Done);
            }
            Ok(ProcessingStart::Refused(ProcessedMark::NotFound | ProcessedMark::Marked)) => {
                error!(
                    user_id = message.user_id.get(),
                    channel_id = message.channel_id.get(),
                    "no accepted payment stands for this processor message: nothing granted, nothing paid out (who can send to the processor queue?)"
                );
                metrics::count(signal::PROCESSOR_MESSAGE_UNMATCHED);
                metrics::outcome(stage::PROCESSOR, "unmatched");
                return Err(MessageOutcome::Retry);
            }
            Err(err) => {
                error!(error = %err, "could not begin processing");
                metrics::outcome(stage::PROCESSOR, "begin_failed");
                return Err(MessageOutcome::Retry);
            }
        };
        let Some(purchase) = stored.purchase.clone() else {
            // A seed row: `telepay payments resolve` stores its purchase and queues it.
            warn!(
                "the stored payment has no purchase: needs an operator (telepay payments pending)"
            );
            metrics::outcome(stage::PROCESSOR, "needs_operator");
            return Err(MessageOutcome::Done);
        };
        let acted_on = ProcessorMessage::from_record(&stored, &purchase);
        if acted_on.user_id != message.user_id
            || acted_on.channel_id != message.channel_id
            || acted_on.purchase != message.purchase
        {
            warn!(
                "the message's buyer, channel or purchase differ from the stored record's; the record's are used"
            );
            metrics::count(signal::PROCESSOR_MESSAGE_UNMATCHED);
        }
        Ok(acted_on)
    }

    /// Adds the payment's time to the buyer's subscription, once; what the grant found.
    async fn grant(&self, message: &ProcessorMessage) -> Result<Option<Granted>, LedgerError> {
        let Some(access) = message.purchase.access() else {
            // Never written by this project (a tier always has a length): admit, as
            // before subscriptions, and let an operator see it.
            error!("the purchase has no length; no paid time granted");
            metrics::count(signal::SUBSCRIPTION_GRANT_SKIPPED);
            return Ok(None);
        };
        let now = self.clock.now();
        let accepted_at = message.accepted_at.unwrap_or_else(|| {
            warn!("message from before subscriptions: its paid time starts now");
            now
        });
        let key = SubscriptionKey::new(message.user_id, message.purchase.private_channel_id);
        let grant = TimeGrant::new(
            GrantSource::Payment(message.payment_id.get()),
            accepted_at,
            access,
        );
        // Boxed: the versioned-write loop is a large future, kept off the worker's stack.
        let granted = Box::pin(grant_time(&self.store, key, &grant, now, &self.lifecycle)).await?;
        match granted {
            Granted::Now {
                expires_at,
                renewal,
                crossed_removal,
            } => {
                info!(%expires_at, renewal, crossed_removal, "paid time granted");
                metrics::count(if renewal {
                    signal::SUBSCRIPTION_RENEWED
                } else {
                    signal::SUBSCRIPTION_GRANTED
                });
            }
            Granted::Already { refunded: true, .. } => {
                info!("the payment was refunded before its grant; it counts nothing");
            }
            Granted::Already { expires_at, .. } => {
                info!(%expires_at, "paid time was granted before; counted once");
            }
        }
        Ok(Some(granted))
    }
}
