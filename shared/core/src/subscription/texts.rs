//! What the lifecycle tells a buyer: a reminder before the end, a note when it ended, a
//! fresh invite for a paid buyer found outside. Configurable, with `{channel}`,
//! `{expires_at}`, `{renewal_url}` (and `{link}` in the invite); English defaults.
//!
//! Tests: below.

use chrono::{DateTime, Utc};

pub const DEFAULT_REMINDER: &str =
    "Your access to {channel} ends on {expires_at}. Renew to keep it: {renewal_url}";
pub const DEFAULT_ENDED: &str =
    "Your access to {channel} ended on {expires_at}. You are welcome back any time: {renewal_url}";
pub const DEFAULT_INVITE_AGAIN: &str =
    "You have access to {channel} until {expires_at}. Your invite link: {link}";
/// What `{renewal_url}` says when no renewal URL is configured.
const NO_RENEWAL_URL: &str = "pay again as before";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleTexts {
    pub reminder: String,
    pub ended: String,
    /// A paid buyer found outside the channel: with `{link}`.
    pub invite_again: String,
    /// The renewal link, with `{channel_id}` for the private channel (e.g. a bot deep
    /// link `https://t.me/YourBot?start={channel_id}`); empty: none.
    pub renewal_url: String,
}

impl Default for LifecycleTexts {
    fn default() -> Self {
        Self {
            reminder: DEFAULT_REMINDER.into(),
            ended: DEFAULT_ENDED.into(),
            invite_again: DEFAULT_INVITE_AGAIN.into(),
            renewal_url: String::new(),
        }
    }
}

impl LifecycleTexts {
    pub fn reminder(&self, channel: &str, channel_id: i64, expires_at: DateTime<Utc>) -> String {
        self.render(&self.reminder, channel, channel_id, expires_at)
    }

    pub fn ended(&self, channel: &str, channel_id: i64, expires_at: DateTime<Utc>) -> String {
        self.render(&self.ended, channel, channel_id, expires_at)
    }

    pub fn invite_again(
        &self,
        channel: &str,
        channel_id: i64,
        expires_at: DateTime<Utc>,
        link: &str,
    ) -> String {
        // The link last: a `{...}` inside a template value is never read as a placeholder.
        self.render(&self.invite_again, channel, channel_id, expires_at)
            .replace("{link}", link)
    }

    fn render(
        &self,
        template: &str,
        channel: &str,
        channel_id: i64,
        expires_at: DateTime<Utc>,
    ) -> String {
        let url = if self.renewal_url.trim().is_empty() {
            NO_RENEWAL_URL.to_owned()
        } else {
            self.renewal_url
                .replace("{channel_id}", &channel_id.to_string())
        };
        template
            .replace("{channel}", channel)
            .replace(
                "{expires_at}",
                &expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            )
            .replace("{renewal_url}", &url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reminder_names_the_channel_the_end_and_where_to_renew() {
        let texts = LifecycleTexts {
            renewal_url: "https://t.me/PayBot?start={channel_id}".into(),
            ..LifecycleTexts::default()
        };
        let at = DateTime::parse_from_rfc3339("2026-12-01T12:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            texts.reminder("Premium signals", -100222, at),
            "Your access to Premium signals ends on 2026-12-01 12:30 UTC. Renew to keep it: https://t.me/PayBot?start=-100222"
        );
        assert!(
            LifecycleTexts::default()
                .ended("Premium", -1, at)
                .ends_with("pay again as before")
        );
    }
}
