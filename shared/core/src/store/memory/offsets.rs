//! The update offset in memory: read, compare and write under one lock.
//!
//! Tests: `tests/tests/offset_conformance.rs` (the memory backend among the four).

use super::MemoryStore;
use crate::store::StoreError;
use crate::store::offsets::{OffsetAdvance, UpdateOffsetStore};

impl UpdateOffsetStore for MemoryStore {
    async fn update_offset(&self) -> Result<Option<i64>, StoreError> {
        self.check_available()?;
        Ok(*self.update_offset.lock().unwrap())
    }

    async fn advance_update_offset(
        &self,
        seen: Option<i64>,
        next: i64,
    ) -> Result<OffsetAdvance, StoreError> {
        self.check_available()?;
        let mut offset = self.update_offset.lock().unwrap();
        if *offset != seen || offset.is_some_and(|current| next <= current) {
            return Ok(OffsetAdvance::Moved);
        }
        *offset = Some(next);
        Ok(OffsetAdvance::Advanced)
    }
}
