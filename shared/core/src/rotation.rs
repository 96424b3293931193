//! A secret that can be rotated under running functions: the IPN secret is read at cold
//! start, and read again when an IPN with a well-formed signature fails its check, since
//! NOWPayments signs with the new secret as soon as the owner rotates it. At most one
//! read per pause, so a flood of forged IPNs costs one Secrets Manager call a minute, not
//! one each; a read that fails keeps the secret held.
//!
//! Tests: below (the pause, a failed read), `tests/tests/secrets_manager.rs` (a rotation
//! in Secrets Manager on moto reaches a warm np-webhook without a restart).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::metrics::{self, signal};
use crate::signature::IpnSecret;

/// How long after one read of the secret the next may happen.
pub const REREAD_PAUSE: Duration = Duration::from_secs(60);

/// Where a secret is read again (Secrets Manager in Lambda).
pub trait SecretSource: Send + Sync {
    /// The secret's current value, or why it could not be read (never the value).
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>>;
}

/// The IPN secret as held, and where to read it again.
pub struct RotatingSecret {
    current: RwLock<IpnSecret>,
    source: Option<Arc<dyn SecretSource>>,
    last_read: Mutex<Option<Instant>>,
    pause: Duration,
}

impl RotatingSecret {
    /// A secret never read again (a local run, the tests).
    pub fn fixed(secret: IpnSecret) -> Self {
        Self {
            current: RwLock::new(secret),
            source: None,
            last_read: Mutex::new(None),
            pause: REREAD_PAUSE,
        }
    }

    /// Read again from `source` after a refused check, at most once per `pause`.
    pub fn with_source(mut self, source: Arc<dyn SecretSource>, pause: Duration) -> Self {
        self.source = Some(source);
        self.pause = pause;
        self
    }

    pub fn current(&self) -> IpnSecret {
        self.current.read().unwrap().clone()
    }

    /// After a signature that did not match: the secret read again, if its source says it
    /// changed (and the pause since the last read has passed); `None` otherwise.
    pub async fn renewed_after_refusal(&self) -> Option<IpnSecret> {
        let source = self.source.as_ref()?;
        {
            let mut last = self.last_read.lock().unwrap();
            let now = Instant::now();
            if last.is_some_and(|at| now.duration_since(at) < self.pause) {
                return None;
            }
            *last = Some(now);
        }
        let fresh = match source.fetch().await {
            Ok(value) => IpnSecret::new(value).ok()?,
            Err(why) => {
                warn!(%why, "could not read the IPN secret again; keeping the one held");
                return None;
            }
        };
        let changed = {
            let mut current = self.current.write().unwrap();
            let changed = !current.same_as(&fresh);
            if changed {
                *current = fresh.clone();
            }
            changed
        };
        if !changed {
            return None;
        }
        info!("the IPN secret changed in its store: the new one is used from now on");
        metrics::count(signal::IPN_SECRET_RENEWED);
        Some(fresh)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    struct Store {
        value: Mutex<Result<String, String>>,
        reads: AtomicU32,
    }

    impl SecretSource for Store {
        fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let value = self.value.lock().unwrap().clone();
            Box::pin(async move { value })
        }
    }

    fn store(value: Result<&str, &str>) -> Arc<Store> {
        Arc::new(Store {
            value: Mutex::new(value.map(str::to_owned).map_err(str::to_owned)),
            reads: AtomicU32::new(0),
        })
    }

    #[tokio::test]
    async fn a_rotated_secret_is_read_again_at_most_once_a_pause() {
        let source = store(Ok("new-secret"));
        let secret = RotatingSecret::fixed(IpnSecret::new("old-secret").unwrap())
            .with_source(source.clone(), Duration::from_secs(3600));
        let renewed = secret.renewed_after_refusal().await.unwrap();
        let new = IpnSecret::new("new-secret").unwrap();
        assert!(renewed.same_as(&new) && secret.current().same_as(&new));
        // A flood of refusals within the pause: no more reads.
        for _ in 0..50 {
            assert!(secret.renewed_after_refusal().await.is_none());
        }
        assert_eq!(source.reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_unchanged_or_unreadable_secret_keeps_the_one_held() {
        let same = RotatingSecret::fixed(IpnSecret::new("same").unwrap())
            .with_source(store(Ok("same")), Duration::ZERO);
        assert!(same.renewed_after_refusal().await.is_none());
        let failing = RotatingSecret::fixed(IpnSecret::new("held").unwrap())
            .with_source(store(Err("AccessDenied")), Duration::ZERO);
        assert!(failing.renewed_after_refusal().await.is_none());
        assert!(failing.current().same_as(&IpnSecret::new("held").unwrap()));
        let fixed = RotatingSecret::fixed(IpnSecret::new("held").unwrap());
        assert!(fixed.renewed_after_refusal().await.is_none());
    }
}
