//! An SQS standard queue as the chaos run needs it: at-least-once delivery (a send may
//! be delivered twice), a visibility timeout, receive counts, a redrive to a dead-letter
//! queue after `max_receives`, ChangeMessageVisibility, and deletes by receipt handle.
//! In process, so 10,000 payments with short timeouts run in minutes; the real SQS client
//! is tested against moto in `chain_moto`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};
use telepay_core::queue::{QueueError, RetryDelay};
use telepay_shared::batch::succeeded;
use telepay_shared::sqs_event::sqs_message;
use tokio::time::Instant;

use super::dice::{Dice, tag};

#[derive(Debug, Clone)]
struct Stored {
    id: u64,
    body: String,
    receives: u32,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    next_receipt: u64,
    ready: VecDeque<Stored>,
    /// Received (in flight) or delayed, by when they become visible again.
    hidden: BTreeMap<(Instant, u64), Stored>,
    /// Receipt handle → the key of the message it was issued for.
    receipts: HashMap<String, (Instant, u64)>,
    dead: Vec<Stored>,
    sent: u64,
    duplicated: u64,
    /// Receives of a message received before (its visibility timeout expired).
    redelivered: u64,
    /// Every payment_id ever sent, one entry per send.
    sent_payment_ids: Vec<i64>,
}

pub struct SimQueue {
    pub name: &'static str,
    visibility: Duration,
    max_receives: u32,
    duplicate_rate: f64,
    dice: Dice,
    state: Mutex<State>,
}

/// What a queue saw, for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueFigures {
    pub sent: u64,
    pub duplicated: u64,
    pub redelivered: u64,
    pub dead_lettered: u64,
}

impl SimQueue {
    pub fn new(
        name: &'static str,
        visibility: Duration,
        max_receives: u32,
        duplicate_rate: f64,
        dice: Dice,
    ) -> Self {
        Self {
            name,
            visibility,
            max_receives,
            duplicate_rate,
            dice,
            state: Mutex::new(State::default()),
        }
    }

    /// SendMessage. With `duplicate_rate`, the message is stored twice: SQS standard
    /// queues deliver at least once.
    pub fn send(&self, payment_id: i64, body: &str) {
        let mut state = self.state.lock().unwrap();
        state.sent += 1;
        state.sent_payment_ids.push(payment_id);
        let send_number = state.sent;
        let copies = if self.dice.chance(
            self.duplicate_rate,
            &[
                tag("sqs duplicate"),
                tag(self.name),
                payment_id as u64,
                send_number,
            ],
        ) {
            state.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            state.next_id += 1;
            let id = state.next_id;
            state.ready.push_back(Stored {
                id,
                body: body.to_owned(),
                receives: 0,
            });
        }
    }

    /// ReceiveMessage: up to `max` visible messages, hidden for the visibility timeout.
    /// A message received more than `max_receives` times goes to the dead-letter queue.
    pub fn receive(&self, max: usize) -> Vec<SqsMessage> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap();
        while let Some(entry) = state.hidden.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let message = entry.remove();
            state.ready.push_back(message);
        }
        let mut batch = Vec::new();
        while batch.len() < max {
            let Some(mut message) = state.ready.pop_front() else {
                break;
            };
            if message.receives >= self.max_receives {
                state.dead.push(message);
                continue;
            }
            message.receives += 1;
            if message.receives > 1 {
                state.redelivered += 1;
            }
            state.next_receipt += 1;
            let receipt = format!("{}-{}-{}", self.name, message.id, state.next_receipt);
            let key = (now + self.visibility, message.id);
            state.receipts.insert(receipt.clone(), key);
            batch.push(sqs_message(
                format!("{}-{}", self.name, message.id),
                receipt,
                message.body.clone(),
                message.receives,
            ));
            state.hidden.insert(key, message);
        }
        batch
    }

    /// Deletes the messages the handler did not report failed, as the event source
    /// mapping does after an invocation returns.
    pub fn settle(&self, batch: &[SqsMessage], response: &SqsBatchResponse) {
        for message in succeeded(batch, response) {
            self.delete(message.receipt_handle.as_deref().unwrap_or_default());
        }
    }

    /// DeleteMessage. A receipt from an earlier receive no longer deletes anything.
    pub fn delete(&self, receipt: &str) {
        let mut state = self.state.lock().unwrap();
        if let Some(key) = state.receipts.remove(receipt) {
            state.hidden.remove(&key);
        }
    }

    /// Messages not deleted yet and not dead-lettered (visible, hidden or in flight).
    pub fn outstanding(&self) -> usize {
        let state = self.state.lock().unwrap();
        state.ready.len() + state.hidden.len()
    }

    pub fn figures(&self) -> QueueFigures {
        let state = self.state.lock().unwrap();
        QueueFigures {
            sent: state.sent,
            duplicated: state.duplicated,
            redelivered: state.redelivered,
            dead_lettered: state.dead.len() as u64,
        }
    }

    pub fn sent_payment_ids(&self) -> Vec<i64> {
        self.state.lock().unwrap().sent_payment_ids.clone()
    }
}

impl RetryDelay for SimQueue {
    /// ChangeMessageVisibility.
    async fn delay_redelivery(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        let mut state = self.state.lock().unwrap();
        let key =
            state.receipts.get(receipt).copied().ok_or_else(|| {
                QueueError::Unavailable("receipt handle is no longer valid".into())
            })?;
        let message = state
            .hidden
            .remove(&key)
            .ok_or_else(|| QueueError::Unavailable("message is no longer in flight".into()))?;
        let new_key = (Instant::now() + delay, key.1);
        state.hidden.insert(new_key, message);
        state.receipts.insert(receipt.to_owned(), new_key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unacknowledged_messages_come_back_and_dead_letter_after_max_receives() {
        let queue = SimQueue::new("q", Duration::from_millis(20), 2, 0.0, Dice::new(1));
        queue.send(1, "{}");
        assert_eq!(queue.receive(10).len(), 1);
        assert!(queue.receive(10).is_empty(), "hidden while in flight");
        tokio::time::sleep(Duration::from_millis(30)).await;
        let again = queue.receive(10);
        assert_eq!(again[0].attributes["ApproximateReceiveCount"], "2");
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(queue.receive(10).is_empty());
        assert_eq!(queue.figures().dead_lettered, 1);
        assert_eq!(queue.outstanding(), 0);
    }

    #[tokio::test]
    async fn a_deleted_message_is_gone_and_a_stale_receipt_deletes_nothing() {
        let queue = SimQueue::new("q", Duration::from_millis(10), 5, 0.0, Dice::new(1));
        queue.send(1, "{}");
        let first = queue.receive(1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = queue.receive(1);
        queue.delete(first[0].receipt_handle.as_deref().unwrap());
        assert_eq!(queue.outstanding(), 1, "the stale receipt deleted nothing");
        queue.delete(second[0].receipt_handle.as_deref().unwrap());
        assert_eq!(queue.outstanding(), 0);
    }
}
