//! The update offset's port: where `telepay serve` polling Telegram (`getUpdates`) keeps
//! the next update it asks for, so a restart carries on from there instead of from
//! Telegram's oldest unconfirmed update. One value, moved only forward and only by the
//! poller that read it: an advance is one conditional write ("it is still what I read,
//! and this is further"), so two pollers (two servers started by mistake) never move it
//! back, and the loser is told. The offset is a saving, not the guarantee: an update
//! handled again after a lost advance meets its once-record (`crate::bot`) and changes
//! nothing.
//!
//! Tests: every backend in `tests/tests/offset_conformance.rs`.

use std::future::Future;

use super::StoreError;

/// What an advance did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetAdvance {
    /// The offset is now the one given.
    Advanced,
    /// It was no longer the one read (another poller moved it), or the one given is not
    /// further: nothing was written.
    Moved,
}

pub trait UpdateOffsetStore: Send + Sync {
    /// The next update id to ask Telegram for; `None` before the first advance.
    fn update_offset(&self) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    /// Sets the offset to `next` only if it is still `seen` and `next` is further.
    fn advance_update_offset(
        &self,
        seen: Option<i64>,
        next: i64,
    ) -> impl Future<Output = Result<OffsetAdvance, StoreError>> + Send;
}

impl<S: UpdateOffsetStore> UpdateOffsetStore for std::sync::Arc<S> {
    async fn update_offset(&self) -> Result<Option<i64>, StoreError> {
        (**self).update_offset().await
    }
    async fn advance_update_offset(
        &self,
        seen: Option<i64>,
        next: i64,
    ) -> Result<OffsetAdvance, StoreError> {
        (**self).advance_update_offset(seen, next).await
    }
}
