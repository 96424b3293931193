//! What the invite sender is configured with: the link lifetime, the message, the Bot
//! API call timeout and lease grace, and the time one message needs at worst.
//!
//! Tests: `functions/invite-sender/src/tests/`, and the configuration's in `telepay-shared`.

use std::time::Duration;

/// The Bot API calls of the longest path through one message (ask whether a renewing
/// buyer is in, ask again before dropping a stored link, revoke it, create one, revoke
/// the link it replaces or lost to, send it, tell the owner). With the store writes around
/// them, this decides both whether an invocation has time for one more message and which
/// configurations are impossible.
pub const BOT_API_CALLS_PER_MESSAGE: u32 = 7;
/// The claim and the writes after the calls, with room to spare.
pub const STORE_TIME_PER_MESSAGE: Duration = Duration::from_secs(1);

pub const DEFAULT_LINK_TTL: Duration = Duration::from_secs(24 * 3600);
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_RENEWED_MESSAGE: &str =
    "Thank you! Your access to {channel} is renewed until {expires_at}.";
pub const DEFAULT_MESSAGE: &str = "Thank you for your payment! Here is your personal invite link to the private channel:\n{link}\n\nIt admits one person and expires in {hours} hours.";
/// The invite of a channel that admits through join requests: the link asks, and the
/// bot approves only the buyer.
pub const DEFAULT_JOIN_REQUEST_MESSAGE: &str = "Thank you for your payment! Here is your personal invite link to the private channel:\n{link}\n\nTap it and ask to join: the bot lets you in, and only you (it is no use to anyone you forward it to). It expires in {hours} hours.";

/// The invite message, with `{link}` (required) and optional `{hours}` and `{payment_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTemplate(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the invite message template must contain {{link}}")]
pub struct TemplateWithoutLink;

impl MessageTemplate {
    pub fn new(template: impl Into<String>) -> Result<Self, TemplateWithoutLink> {
        let template = template.into();
        if template.contains("{link}") {
            Ok(Self(template))
        } else {
            Err(TemplateWithoutLink)
        }
    }

    pub fn render(&self, link: &str, hours: u64, payment_id: i64) -> String {
        self.0
            .replace("{hours}", &hours.to_string())
            .replace("{payment_id}", &payment_id.to_string())
            .replace("{link}", link)
    }
}

impl Default for MessageTemplate {
    fn default() -> Self {
        Self(DEFAULT_MESSAGE.to_owned())
    }
}

impl MessageTemplate {
    /// The default invite of a join-request channel.
    pub fn join_request_default() -> Self {
        Self(DEFAULT_JOIN_REQUEST_MESSAGE.to_owned())
    }
}

#[derive(Debug, Clone)]
pub struct InviteSettings {
    /// Lifetime of a created link (`expire_date` = now + this).
    pub link_ttl: Duration,
    pub message: MessageTemplate,
    /// The message of a channel whose `admission` is `join_request`.
    pub join_request_message: MessageTemplate,
    /// Upper bound for one Bot API call; it also cuts teloxide's 10 s sleep on a 5xx.
    pub call_timeout: Duration,
    /// How long after the invocation's deadline the lease lapses (a crashed worker's
    /// payment becomes claimable again this soon after its deadline).
    pub lease_grace: Duration,
    /// What a renewing buyer who is already in the channel is told instead of a link,
    /// with `{channel}` and `{expires_at}`.
    pub renewed_message: String,
}

impl InviteSettings {
    pub fn render_renewed(
        &self,
        channel: &str,
        paid_until: chrono::DateTime<chrono::Utc>,
    ) -> String {
        self.renewed_message.replace("{channel}", channel).replace(
            "{expires_at}",
            &paid_until.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
    }

    /// The time one message needs at worst: every Bot API call of the longest path at its
    /// timeout, plus the store writes.
    pub fn time_per_message(&self) -> Duration {
        self.call_timeout * BOT_API_CALLS_PER_MESSAGE + STORE_TIME_PER_MESSAGE
    }
}

impl Default for InviteSettings {
    fn default() -> Self {
        Self {
            link_ttl: DEFAULT_LINK_TTL,
            message: MessageTemplate::default(),
            join_request_message: MessageTemplate::join_request_default(),
            call_timeout: DEFAULT_CALL_TIMEOUT,
            lease_grace: Duration::from_secs(5),
            renewed_message: DEFAULT_RENEWED_MESSAGE.to_owned(),
        }
    }
}
