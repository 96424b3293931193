//! A secret that can be rotated under running functions: the IPN secret is read at cold
//! start, and read again when an IPN with a well-formed signature fails its check, since
//! NOWPayments signs with the new secret as soon as the owner rotates it; the bot's
//! webhook secret likewise when Telegram's header does not match (the owner rotated it
//! and ran `telepay bot set-webhook`); the bot token and the NOWPayments API key when the
//! Bot API or NOWPayments refuses them (the adapters' `with_*_source`). At most one read per pause, so a flood of forged
//! calls costs one Secrets Manager call a minute, not one each; a read that fails keeps
//! the secret held.
//!
//! Tests: below (the pause, a failed read), `tests/tests/secrets_manager.rs` (a rotation
//! in Secrets Manager on moto reaches a warm np-webhook without a restart).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::metrics::{self, signal};
use crate::signature::IpnSecret;

/// How long after one read of the secret the next may happen.
pub const REREAD_PAUSE: Duration = Duration::from_secs(60);
/// A secret held this long is read again at its next use, refused or not
/// (`TELEPAY_SECRET_MAX_AGE_MINUTES`), so a rotation reaches warm functions before any
/// work is refused.
pub const MAX_AGE: Duration = Duration::from_secs(3600);

/// Where a secret is read again (Secrets Manager in Lambda).
pub trait SecretSource: Send + Sync {
    /// The secret's current value, or why it could not be read (never the value).
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>>;
}

/// A kind of secret that can be read again: how its text becomes one, and what a renewal
/// is called in the logs and metrics.
pub trait Renewable: Clone + Send + Sync {
    /// What it is, for the logs (`the IPN secret`).
    const WHAT: &'static str;
    /// The metric counted when a warm function takes a new one.
    const RENEWED: &'static str;
    fn from_text(text: String) -> Option<Self>;
    fn same_as(&self, other: &Self) -> bool;
}

impl Renewable for IpnSecret {
    const WHAT: &'static str = "the IPN secret";
    const RENEWED: &'static str = signal::IPN_SECRET_RENEWED;
    fn from_text(text: String) -> Option<Self> {
        IpnSecret::new(text).ok()
    }
    fn same_as(&self, other: &Self) -> bool {
        IpnSecret::same_as(self, other)
    }
}

/// The IPN secret as held, and where to read it again.
pub type RotatingSecret = Rotating<IpnSecret>;

/// A secret as held, and where to read it again.
pub struct Rotating<T> {
    current: RwLock<T>,
    source: Option<Arc<dyn SecretSource>>,
    last_read: Mutex<Option<Instant>>,
    pause: Duration,
    /// Read again at its next use once held this long (`None`: only when refused).
    max_age: Option<Duration>,
    read_at: Mutex<Instant>,
    /// A refusal seen where the secret could not be read at once (a synchronous
    /// classification): read again at the next use.
    requested: AtomicBool,
}

impl<T: Renewable> Rotating<T> {
    /// A secret never read again (a local run, the tests).
    pub fn fixed(secret: T) -> Self {
        Self {
            current: RwLock::new(secret),
            source: None,
            last_read: Mutex::new(None),
            pause: REREAD_PAUSE,
            max_age: None,
            read_at: Mutex::new(Instant::now()),
            requested: AtomicBool::new(false),
        }
    }

    /// Read again from `source` after a refusal (at most once per `pause`) and at its next
    /// use once held `max_age`.
    pub fn renewing(
        self,
        source: Arc<dyn SecretSource>,
        pause: Duration,
        max_age: Duration,
    ) -> Self {
        self.with_source(source, pause).with_max_age(max_age)
    }

    /// Read again at its next use once held `age`, refused or not.
    pub fn with_max_age(mut self, age: Duration) -> Self {
        self.max_age = Some(age);
        self
    }

    /// Before a use: read the secret again if it has been held past its maximum age, or
    /// if a refusal asked for it ([`Rotating::request_renewal`]).
    pub async fn refresh_if_due(&self) {
        let aged = self
            .max_age
            .is_some_and(|age| self.read_at.lock().unwrap().elapsed() >= age);
        if self.requested.swap(false, Ordering::SeqCst) || aged {
            let _ = self.read_again().await;
        }
    }

    /// After a refusal seen where nothing can be awaited: whether the secret may be read
    /// again (it has a source, and the pause since its last read has passed); then it is
    /// read at the next [`Rotating::refresh_if_due`]. `false`: read again within the
    /// pause and still refused, so simply wrong.
    pub fn request_renewal(&self) -> bool {
        if self.source.is_none() {
            return false;
        }
        let last = *self.last_read.lock().unwrap();
        if last.is_some_and(|at| at.elapsed() < self.pause) {
            return false;
        }
        self.requested.store(true, Ordering::SeqCst);
        true
    }

    /// Read again from `source` after a refused check, at most once per `pause`.
    pub fn with_source(mut self, source: Arc<dyn SecretSource>, pause: Duration) -> Self {
        self.source = Some(source);
        self.pause = pause;
        self
    }

    pub fn current(&self) -> T {
        self.current.read().unwrap().clone()
    }

    /// After a refused check: the secret read again, if its source says it changed (and
    /// the pause since the last read has passed); `None` otherwise.
    pub async fn renewed_after_refusal(&self) -> Option<T> {
        self.read_again().await
    }

    /// Reads the secret from its source if the pause since the last read has passed; the
    /// new secret when it changed.
    async fn read_again(&self) -> Option<T> {
        let source = self.source.as_ref()?;
        {
            let mut last = self.last_read.lock().unwrap();
            let now = Instant::now();
            if last.is_some_and(|at| now.duration_since(at) < self.pause) {
                return None;
            }
            *last = Some(now);
        }
        *self.read_at.lock().unwrap() = Instant::now();
        let fresh = match source.fetch().await {
            Ok(value) => T::from_text(value)?,
            Err(why) => {
                warn!(%why, what = T::WHAT, "could not read the secret again; keeping the one held");
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
        info!(
            what = T::WHAT,
            "the secret changed in its store: the new one is used from now on"
        );
        metrics::count(T::RENEWED);
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
    async fn a_secret_held_past_its_age_is_read_again_before_anything_is_refused() {
        let source = store(Ok("new-secret"));
        let secret = RotatingSecret::fixed(IpnSecret::new("old-secret").unwrap())
            .with_source(source.clone(), Duration::ZERO)
            .with_max_age(Duration::ZERO);
        secret.refresh_if_due().await;
        assert!(
            secret
                .current()
                .same_as(&IpnSecret::new("new-secret").unwrap())
        );
        // Younger than its age: nothing read.
        let young = RotatingSecret::fixed(IpnSecret::new("old-secret").unwrap())
            .with_source(source.clone(), Duration::ZERO)
            .with_max_age(Duration::from_secs(3600));
        young.refresh_if_due().await;
        assert!(
            young
                .current()
                .same_as(&IpnSecret::new("old-secret").unwrap())
        );
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
