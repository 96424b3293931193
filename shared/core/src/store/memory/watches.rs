//! The payment watches in memory: each operation checks its condition and writes under
//! one lock.
//!
//! Tests: `tests/tests/conformance.rs` (the memory backend among the four).

use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::ipn::PaymentId;
use crate::store::watches::{
    NewWatch, PaymentWatch, PaymentWatchStore, Settlement, WatchClaim, WatchFound, Watched,
    longest_due, newest_under_way,
};
use crate::store::{Fenced, StoreError};

impl MemoryStore {
    fn holding_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        write: impl FnOnce(&mut PaymentWatch),
    ) -> Result<Fenced, StoreError> {
        self.check_available()?;
        let mut watches = self.watches.lock().unwrap();
        match watches.get_mut(&payment_id.get()) {
            Some((holder, watch)) if holder.as_deref() == Some(token) => {
                write(watch);
                *holder = None;
                watch.lease_until = None;
                Ok(Fenced::Done)
            }
            _ => Ok(Fenced::LeaseLost),
        }
    }
}

impl PaymentWatchStore for MemoryStore {
    async fn watch_payment(&self, watch: &NewWatch) -> Result<Watched, StoreError> {
        self.check_available()?;
        let mut watches = self.watches.lock().unwrap();
        if watches.contains_key(&watch.payment_id.get()) {
            return Ok(Watched::Already);
        }
        watches.insert(
            watch.payment_id.get(),
            (None, PaymentWatch::from_new(watch)),
        );
        Ok(Watched::New)
    }

    async fn due_watches(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<PaymentWatch>, StoreError> {
        self.check_available()?;
        let watches = self.watches.lock().unwrap();
        Ok(longest_due(
            watches.values().map(|(_, watch)| watch.clone()),
            now,
            limit,
        ))
    }

    async fn claim_watch(&self, claim: &WatchClaim) -> Result<WatchFound, StoreError> {
        self.check_available()?;
        let mut watches = self.watches.lock().unwrap();
        let Some((holder, watch)) = watches.get_mut(&claim.payment_id.get()) else {
            return Ok(WatchFound::NotFound);
        };
        if let Some(refused) = watch.refusal(claim.now) {
            return Ok(refused);
        }
        let before = watch.clone();
        *holder = Some(claim.token.clone());
        watch.lease_until = Some(claim.lease_until);
        Ok(WatchFound::Claimed(Box::new(before)))
    }

    async fn postpone_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        last_status: &str,
        next_check_at: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.holding_watch(payment_id, token, |watch| {
            watch.last_status = last_status.to_owned();
            watch.checks += 1;
            watch.next_check_at = next_check_at;
        })
    }

    async fn settle_watch(
        &self,
        payment_id: PaymentId,
        token: &str,
        settlement: Settlement,
        last_status: &str,
        now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.holding_watch(payment_id, token, |watch| {
            watch.last_status = last_status.to_owned();
            watch.checks += 1;
            watch.settled = Some(settlement);
            watch.settled_at = Some(now);
        })
    }

    async fn watch_of(&self, payment_id: PaymentId) -> Result<Option<PaymentWatch>, StoreError> {
        self.check_available()?;
        let watches = self.watches.lock().unwrap();
        Ok(watches
            .get(&payment_id.get())
            .map(|(_, watch)| watch.clone()))
    }

    async fn under_way_of(
        &self,
        user_id: i64,
        limit: usize,
    ) -> Result<Vec<PaymentWatch>, StoreError> {
        self.check_available()?;
        let watches = self.watches.lock().unwrap();
        Ok(newest_under_way(
            watches.values().map(|(_, watch)| watch.clone()),
            user_id,
            limit,
        ))
    }
}
