//! An in-memory queue for the domain and handler tests.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{MessageQueue, QueueError, TaskQueue};
use crate::ipn::PaymentId;
use crate::subscription::SubscriptionKey;

#[derive(Debug, Default)]
pub struct MemoryQueue {
    messages: Mutex<Vec<(PaymentId, String)>>,
    tasks: Mutex<Vec<(SubscriptionKey, String)>>,
    delays: Mutex<Vec<(String, std::time::Duration)>>,
    later: Mutex<Vec<(String, std::time::Duration)>>,
    unavailable: AtomicBool,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Every body sent so far, oldest first.
    pub fn bodies(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| body.clone())
            .collect()
    }
}

impl MessageQueue for MemoryQueue {
    async fn send(&self, payment_id: PaymentId, body: &str) -> Result<(), QueueError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable(
                "in-memory queue set unavailable".into(),
            ));
        }
        self.messages
            .lock()
            .unwrap()
            .push((payment_id, body.to_owned()));
        Ok(())
    }
}

impl MemoryQueue {
    /// Every redelivery delay asked for, oldest first.
    pub fn delays(&self) -> Vec<(String, std::time::Duration)> {
        self.delays.lock().unwrap().clone()
    }
}

impl super::RetryDelay for MemoryQueue {
    async fn delay_redelivery(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        self.delays
            .lock()
            .unwrap()
            .push((receipt_handle.to_owned(), delay));
        Ok(())
    }
}

impl MemoryQueue {
    /// Every lifecycle task body sent so far, oldest first.
    pub fn task_bodies(&self) -> Vec<String> {
        let tasks = self.tasks.lock().unwrap();
        tasks.iter().map(|(_, body)| body.clone()).collect()
    }

    /// Takes every lifecycle task body sent so far (a test's consumer receiving them).
    pub fn take_tasks(&self) -> Vec<String> {
        let mut tasks = self.tasks.lock().unwrap();
        tasks.drain(..).map(|(_, body)| body).collect()
    }
}

impl TaskQueue for MemoryQueue {
    async fn send_task(&self, subscription: SubscriptionKey, body: &str) -> Result<(), QueueError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable(
                "in-memory queue set unavailable".into(),
            ));
        }
        self.tasks
            .lock()
            .unwrap()
            .push((subscription, body.to_owned()));
        Ok(())
    }
}

impl MemoryQueue {
    /// Takes every delayed body sent so far, with its delay (a test's consumer).
    pub fn take_later(&self) -> Vec<(String, std::time::Duration)> {
        self.later.lock().unwrap().drain(..).collect()
    }
}

impl super::DelayedQueue for MemoryQueue {
    async fn send_later(&self, body: &str, delay: std::time::Duration) -> Result<(), QueueError> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable(
                "in-memory queue set unavailable".into(),
            ));
        }
        self.later.lock().unwrap().push((body.to_owned(), delay));
        Ok(())
    }
}
