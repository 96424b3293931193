//! The bot's once-records in memory: each operation checks its condition and writes
//! under one lock.
//!
//! Tests: `tests/tests/bot_conformance.rs` (the memory backend among the four).

use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::store::bot::{BotStore, OnceClaim, OnceFound, OnceKey, OnceRecord};
use crate::store::{Fenced, StoreError};

impl MemoryStore {
    fn holding(
        &self,
        key: OnceKey,
        token: &str,
        write: impl FnOnce(&mut OnceRecord) -> bool,
    ) -> Result<Fenced, StoreError> {
        self.check_available()?;
        let mut once = self.once.lock().unwrap();
        match once.get_mut(&key.storage_key()) {
            Some((held, record)) if held.as_deref() == Some(token) && !record.done => {
                if !write(record) {
                    *held = None;
                }
                Ok(Fenced::Done)
            }
            _ => Ok(Fenced::LeaseLost),
        }
    }
}

impl BotStore for MemoryStore {
    async fn claim_once(&self, key: OnceKey, claim: &OnceClaim) -> Result<OnceFound, StoreError> {
        self.check_available()?;
        let mut once = self.once.lock().unwrap();
        let storage_key = key.storage_key();
        if let Some((_, record)) = once.get(&storage_key) {
            let found = record.found_at(claim.now);
            if found != OnceFound::Claimed {
                return Ok(found);
            }
        }
        let record = OnceRecord {
            done: false,
            result: None,
            lease_until: claim.lease_until,
            keep_until: claim.keep_until,
        };
        once.insert(storage_key, (Some(claim.token.clone()), record));
        Ok(OnceFound::Claimed)
    }

    async fn finish_once(
        &self,
        key: OnceKey,
        token: &str,
        result: Option<&str>,
        _now: DateTime<Utc>,
    ) -> Result<Fenced, StoreError> {
        self.holding(key, token, |record| {
            record.done = true;
            record.result = result.map(str::to_owned);
            false
        })
    }

    async fn release_once(&self, key: OnceKey, token: &str) -> Result<Fenced, StoreError> {
        self.holding(key, token, |record| {
            record.lease_until = DateTime::<Utc>::MIN_UTC;
            false
        })
    }

    async fn read_once(&self, key: OnceKey) -> Result<Option<OnceRecord>, StoreError> {
        self.check_available()?;
        let once = self.once.lock().unwrap();
        Ok(once
            .get(&key.storage_key())
            .map(|(_, record)| record.clone()))
    }

    async fn forget_expired(&self, now: DateTime<Utc>, limit: usize) -> Result<u64, StoreError> {
        self.check_available()?;
        let mut once = self.once.lock().unwrap();
        let expired: Vec<String> = once
            .iter()
            .filter(|(_, (_, record))| record.keep_until <= now)
            .map(|(key, _)| key.clone())
            .take(limit)
            .collect();
        for key in &expired {
            once.remove(key);
        }
        Ok(expired.len() as u64)
    }
}
