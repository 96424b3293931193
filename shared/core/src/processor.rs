//! payment-processor: hand the payout to its queue, queue the invite, mark the stage done.
//!
//! Send-then-mark is deliberate: marking first would lose the payment if a send failed.
//! A redelivery after a send but before the mark sends again; both consumers dedupe on
//! payment_id, and the mark itself is conditional.

use tracing::{error, info, warn};

use crate::clock::{SharedClock, system_clock};
use crate::queue::{
    InviteRequest, MessageOutcome, MessageQueue, PROCESSOR_MESSAGE_VERSION, PayoutInstruction,
    ProcessorMessage, parse_message,
};
use crate::store::{ProcessedMark, ProcessorStore};

pub struct PaymentProcessor<S, P, I> {
    pub store: S,
    pub payout_queue: P,
    pub invite_queue: I,
    pub clock: SharedClock,
}

impl<S: ProcessorStore, P: MessageQueue, I: MessageQueue> PaymentProcessor<S, P, I> {
    pub fn new(store: S, payout_queue: P, invite_queue: I) -> Self {
        Self {
            store,
            payout_queue,
            invite_queue,
            clock: system_clock(),
        }
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
                return MessageOutcome::Retry;
            }
        };
        let payment_id = message.payment_id;
        tracing::Span::current().record("payment_id", payment_id.get());

        let payout = serde_json::to_string(&PayoutInstruction::from(&message))
            .expect("a payout instruction always serializes");
        if let Err(err) = self.payout_queue.send(payment_id, &payout).await {
            error!(error = %err, "could not queue the payout");
            return MessageOutcome::Retry;
        }
        let invite = InviteRequest::from(&message).to_json();
        if let Err(err) = self.invite_queue.send(payment_id, &invite).await {
            error!(error = %err, "could not queue the invite");
            return MessageOutcome::Retry;
        }
        match self
            .store
            .mark_processed(payment_id, self.clock.now())
            .await
        {
            Ok(ProcessedMark::Marked) => {
                info!("payment processed: payout and invite queued");
                MessageOutcome::Done
            }
            Ok(ProcessedMark::AlreadyProcessed) => {
                info!("payment was already processed; the repeated sends are deduped downstream");
                MessageOutcome::Done
            }
            Ok(ProcessedMark::NotAccepted(state)) => {
                warn!(
                    state = state.as_str(),
                    "payment is past processing; nothing to mark"
                );
                MessageOutcome::Done
            }
            Ok(ProcessedMark::NotFound) => {
                error!("no processed_payments record for this message");
                MessageOutcome::Retry
            }
            Err(err) => {
                error!(error = %err, "could not mark the payment processed");
                MessageOutcome::Retry
            }
        }
    }
}
