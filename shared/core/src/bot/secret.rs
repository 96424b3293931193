//! The webhook secret Telegram sends back in `X-Telegram-Bot-Api-Secret-Token`: at least
//! 32 characters of `A-Za-z0-9_-` (Telegram allows 1–256 of them; fewer than 32 is
//! refused at cold start), compared in constant time, never printed.
//!
//! Tests: below, and `tests/tests/bot_bad_input.rs` through the handler.

use std::fmt;

use subtle::ConstantTimeEq;

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
pub const MIN_SECRET_LEN: usize = 32;
pub const MAX_SECRET_LEN: usize = 256;

#[derive(Clone)]
pub struct WebhookSecret(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the bot webhook secret must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} characters of A-Z, a-z, 0-9, _ and -"
)]
pub struct BadWebhookSecret;

impl WebhookSecret {
    pub fn new(secret: impl Into<String>) -> Result<Self, BadWebhookSecret> {
        let secret = secret.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&secret.len()) && secret.chars().all(allowed)
        {
            Ok(Self(secret))
        } else {
            Err(BadWebhookSecret)
        }
    }

    /// Whether the header carries this secret. Constant time in the header's content
    /// (`subtle`): every byte is compared whatever the first difference; only a length
    /// that differs answers at once, and the length says nothing of the secret's bytes.
    pub fn matches(&self, header: Option<&[u8]>) -> bool {
        header.is_some_and(|header| bool::from(self.0.as_bytes().ct_eq(header)))
    }

    /// For `setWebhook` only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// Read again from its store when Telegram's header does not match (`crate::rotation`).
impl crate::rotation::Renewable for WebhookSecret {
    const WHAT: &'static str = "the bot's webhook secret";
    const RENEWED: &'static str = crate::metrics::signal::BOT_WEBHOOK_SECRET_RENEWED;
    fn from_text(text: String) -> Option<Self> {
        Self::new(text).ok()
    }
    fn same_as(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t_s3cr3t-s3cr3t_s3cr3t-s3cr3t";

    #[test]
    fn only_the_exact_secret_matches() {
        let secret = WebhookSecret::new(SECRET).unwrap();
        assert!(secret.matches(Some(SECRET.as_bytes())));
        assert!(!secret.matches(None));
        assert!(!secret.matches(Some(b"")));
        assert!(!secret.matches(Some(&SECRET.as_bytes()[..SECRET.len() - 1])));
        let mut longer = SECRET.to_owned();
        longer.push('x');
        assert!(!secret.matches(Some(longer.as_bytes())));
        let mut flipped = SECRET.as_bytes().to_vec();
        flipped[0] ^= 1;
        assert!(!secret.matches(Some(&flipped)));
    }

    #[test]
    fn a_short_or_oddly_spelt_secret_is_refused_and_never_printed() {
        assert_eq!(WebhookSecret::new("short").unwrap_err(), BadWebhookSecret);
        assert!(WebhookSecret::new(format!("{}!", &SECRET[..33])).is_err());
        let secret = WebhookSecret::new(SECRET).unwrap();
        assert!(!format!("{secret:?}").contains(SECRET));
    }
}
