//! Telegram updates, as far as the bot reads them. Only what a decision needs is parsed;
//! every other field and every other kind of update is left alone, so a change on
//! Telegram's side never makes an update unreadable.
//!
//! Tests: below, `tests/tests/bot_bad_input.rs`, and `make fuzz` (`bot_update`).

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Telegram's updates are a few KiB; anything near this is not one.
pub const MAX_UPDATE_BYTES: usize = 256 * 1024;

/// One update: its id (the key it is handled once by) and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotUpdate {
    pub update_id: i64,
    pub event: BotEvent,
}

/// A user wrote to the bot in a private chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateMessage {
    pub chat_id: i64,
    pub user_id: i64,
    pub text: String,
}

/// A user pressed one of the bot's inline buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonPress {
    pub query_id: String,
    pub user_id: i64,
    /// The chat of the message the button is on (the private chat with the user).
    pub chat_id: i64,
    pub data: String,
}

/// A user asked to join a chat through a link that creates join requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub chat_id: i64,
    pub user_id: i64,
    /// The private chat the bot may write to while the request is pending (5 minutes).
    pub user_chat_id: i64,
    pub requested_at: DateTime<Utc>,
    pub invite_link: Option<String>,
}

/// The bot's own membership in a chat changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotMembership {
    pub chat_id: i64,
    /// Telegram's status word: "administrator", "member", "left", "kicked", ...
    pub status: String,
    /// As an administrator: whether it may invite users (create links, approve requests).
    pub can_invite_users: bool,
    /// As an administrator: whether it may remove members.
    pub can_restrict_members: bool,
}

impl BotMembership {
    /// Whether the bot can still do its job in the chat: invite and remove members.
    pub fn can_manage(&self) -> bool {
        self.status == "creator"
            || (self.status == "administrator"
                && self.can_invite_users
                && self.can_restrict_members)
    }
}

/// Someone came into a chat through an invite link (a `chat_member` update: Telegram
/// sends these only to an administrator bot that asked for them in `allowed_updates`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberJoined {
    pub chat_id: i64,
    pub user_id: i64,
    /// The link as the bot sees it (a link the bot made is shown whole).
    pub link: String,
    /// The name the link was made with: ours say whose it is (`payment N`, `buyer U`).
    pub link_name: Option<String>,
}

/// Telegram asks whether a Stars purchase may be charged (`pre_checkout_query`; the
/// answer is due within 10 seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreCheckout {
    pub query_id: String,
    pub user_id: i64,
    pub currency: String,
    pub total_amount: u64,
    pub invoice_payload: String,
}

/// A payment went through (`successful_payment`, in the buyer's private chat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentReceived {
    pub user_id: i64,
    pub currency: String,
    pub total_amount: u64,
    pub invoice_payload: String,
    pub charge_id: String,
    /// Part of a Stars subscription; `first_recurring` its first charge.
    pub recurring: bool,
    pub first_recurring: bool,
    pub subscription_expires_at: Option<DateTime<Utc>>,
}

/// Stars went back to the buyer (`refunded_payment`, in the buyer's private chat): a
/// refund this bot made, or one Telegram made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRefunded {
    pub user_id: i64,
    pub currency: String,
    pub total_amount: u64,
    pub invoice_payload: String,
    pub charge_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotEvent {
    Message(PrivateMessage),
    Button(ButtonPress),
    JoinRequest(JoinRequest),
    BotMembership(BotMembership),
    MemberJoined(MemberJoined),
    PreCheckout(PreCheckout),
    PaymentReceived(PaymentReceived),
    PaymentRefunded(PaymentRefunded),
    /// Anything else (another update kind, a group message, a message without text):
    /// answered 200 and left alone, with why.
    Ignored(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    #[error("update body exceeds {MAX_UPDATE_BYTES} bytes")]
    TooLarge,
    #[error("update body is not JSON with an integer update_id")]
    NotAnUpdate,
}

#[derive(Deserialize)]
struct RawUpdate {
    message: Option<RawMessage>,
    callback_query: Option<RawCallback>,
    chat_join_request: Option<RawJoinRequest>,
    my_chat_member: Option<RawMemberUpdate>,
    chat_member: Option<RawMemberUpdate>,
    pre_checkout_query: Option<RawPreCheckout>,
}

#[derive(Deserialize)]
struct RawPreCheckout {
    id: String,
    from: RawUser,
    currency: String,
    total_amount: u64,
    invoice_payload: String,
}

#[derive(Deserialize)]
struct RawRefundedPayment {
    currency: String,
    total_amount: u64,
    invoice_payload: String,
    telegram_payment_charge_id: String,
}

#[derive(Deserialize)]
struct RawSuccessfulPayment {
    currency: String,
    total_amount: u64,
    invoice_payload: String,
    telegram_payment_charge_id: String,
    #[serde(default)]
    is_recurring: bool,
    #[serde(default)]
    is_first_recurring: bool,
    #[serde(default)]
    subscription_expiration_date: Option<i64>,
}

#[derive(Deserialize)]
struct RawChat {
    id: i64,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct RawUser {
    id: i64,
    #[serde(default)]
    is_bot: bool,
}

#[derive(Deserialize)]
struct RawMessage {
    chat: RawChat,
    from: Option<RawUser>,
    text: Option<String>,
    #[serde(default)]
    successful_payment: Option<RawSuccessfulPayment>,
    #[serde(default)]
    refunded_payment: Option<RawRefundedPayment>,
}

#[derive(Deserialize)]
struct RawCallback {
    id: String,
    from: RawUser,
    message: Option<RawCallbackMessage>,
    data: Option<String>,
}

#[derive(Deserialize)]
struct RawCallbackMessage {
    chat: RawChat,
}

#[derive(Deserialize)]
struct RawInviteLink {
    invite_link: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawJoinRequest {
    chat: RawChat,
    from: RawUser,
    user_chat_id: i64,
    date: i64,
    invite_link: Option<RawInviteLink>,
}

#[derive(Deserialize)]
struct RawMember {
    #[serde(default)]
    user: Option<RawUser>,
    status: String,
    /// For "restricted": whether they are in the chat.
    #[serde(default)]
    is_member: bool,
    #[serde(default)]
    can_invite_users: bool,
    #[serde(default)]
    can_restrict_members: bool,
}

#[derive(Deserialize)]
struct RawMemberUpdate {
    chat: RawChat,
    #[serde(default)]
    old_chat_member: Option<RawMember>,
    new_chat_member: RawMember,
    #[serde(default)]
    invite_link: Option<RawInviteLink>,
}

impl RawMember {
    /// In the chat, by Telegram's statuses (`ChatMember`).
    fn is_in(&self) -> bool {
        match self.status.as_str() {
            "creator" | "administrator" | "member" => true,
            "restricted" => self.is_member,
            _ => false,
        }
    }
}

impl BotUpdate {
    /// Reads an update body. An update of a kind the bot does not handle, or missing a
    /// field the bot needs, is [`BotEvent::Ignored`]; only a body that is not an update
    /// at all is an error.
    pub fn parse(body: &[u8]) -> Result<Self, UpdateError> {
        if body.len() > MAX_UPDATE_BYTES {
            return Err(UpdateError::TooLarge);
        }
        // serde would read a struct from a JSON array too (`[22]`): an update is an object.
        if !body.trim_ascii_start().starts_with(b"{") {
            return Err(UpdateError::NotAnUpdate);
        }
        #[derive(Deserialize)]
        struct Id {
            update_id: i64,
        }
        let Id { update_id } =
            serde_json::from_slice(body).map_err(|_| UpdateError::NotAnUpdate)?;
        let event = match serde_json::from_slice::<RawUpdate>(body) {
            Ok(raw) => raw.event(),
            Err(_) => BotEvent::Ignored("a field the bot reads has an unexpected shape"),
        };
        Ok(Self { update_id, event })
    }
}

impl RawUpdate {
    fn event(self) -> BotEvent {
        if let Some(message) = self.message {
            let Some(from) = message.from.filter(|user| !user.is_bot) else {
                return BotEvent::Ignored("a message without a human sender");
            };
            if message.chat.kind != "private" {
                return BotEvent::Ignored("a message outside a private chat");
            }
            if let Some(paid) = message.successful_payment {
                return BotEvent::PaymentReceived(PaymentReceived {
                    user_id: from.id,
                    currency: paid.currency,
                    total_amount: paid.total_amount,
                    invoice_payload: paid.invoice_payload,
                    charge_id: paid.telegram_payment_charge_id,
                    recurring: paid.is_recurring,
                    first_recurring: paid.is_first_recurring,
                    subscription_expires_at: paid
                        .subscription_expiration_date
                        .and_then(|at| DateTime::from_timestamp(at, 0)),
                });
            }
            if let Some(refund) = message.refunded_payment {
                return BotEvent::PaymentRefunded(PaymentRefunded {
                    user_id: from.id,
                    currency: refund.currency,
                    total_amount: refund.total_amount,
                    invoice_payload: refund.invoice_payload,
                    charge_id: refund.telegram_payment_charge_id,
                });
            }

            let Some(text) = message.text else {
                return BotEvent::Ignored("a message without text");
            };
            return BotEvent::Message(PrivateMessage {
                chat_id: message.chat.id,
                user_id: from.id,
                text,
            });
        }
        if let Some(callback) = self.callback_query {
            let (Some(message), Some(data)) = (callback.message, callback.data) else {
                return BotEvent::Ignored("a button press without its message or data");
            };
            return BotEvent::Button(ButtonPress {
                query_id: callback.id,
                user_id: callback.from.id,
                chat_id: message.chat.id,
                data,
            });
        }
        if let Some(request) = self.chat_join_request {
            let Some(requested_at) = DateTime::from_timestamp(request.date, 0) else {
                return BotEvent::Ignored("a join request with an impossible date");
            };
            return BotEvent::JoinRequest(JoinRequest {
                chat_id: request.chat.id,
                user_id: request.from.id,
                user_chat_id: request.user_chat_id,
                requested_at,
                invite_link: request.invite_link.map(|link| link.invite_link),
            });
        }
        if let Some(member) = self.my_chat_member {
            return BotEvent::BotMembership(BotMembership {
                chat_id: member.chat.id,
                status: member.new_chat_member.status,
                can_invite_users: member.new_chat_member.can_invite_users,
                can_restrict_members: member.new_chat_member.can_restrict_members,
            });
        }
        if let Some(query) = self.pre_checkout_query {
            return BotEvent::PreCheckout(PreCheckout {
                query_id: query.id,
                user_id: query.from.id,
                currency: query.currency,
                total_amount: query.total_amount,
                invoice_payload: query.invoice_payload,
            });
        }
        if let Some(change) = self.chat_member {
            let was_in = change
                .old_chat_member
                .as_ref()
                .is_some_and(RawMember::is_in);
            if was_in || !change.new_chat_member.is_in() {
                return BotEvent::Ignored("a member change that is not a join");
            }
            let (Some(user), Some(link)) = (change.new_chat_member.user, change.invite_link) else {
                return BotEvent::Ignored("a join without an invite link");
            };
            return BotEvent::MemberJoined(MemberJoined {
                chat_id: change.chat.id,
                user_id: user.id,
                link: link.invite_link,
                link_name: link.name,
            });
        }
        BotEvent::Ignored("an update kind the bot does not handle")
    }
}

/// A command in a private message: `/start`, `/start <parameter>`, `/status`, `/help`
/// (also addressed as `/start@SomeBot`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Start(Option<String>),
    Status,
    Help,
    /// Pay the rest of a short payment ([`crate::topup`]).
    TopUp,
    /// Stop a Telegram Stars subscription's renewals (docs/stars.md).
    Cancel,
    /// Any other text.
    Other,
}

impl Command {
    pub fn parse(text: &str) -> Self {
        let mut words = text.split_whitespace();
        let Some(first) = words.next() else {
            return Self::Other;
        };
        let name = first.split('@').next().unwrap_or_default();
        match name.to_ascii_lowercase().as_str() {
            "/start" => Self::Start(words.next().map(str::to_owned)),
            "/status" => Self::Status,
            "/help" => Self::Help,
            "/topup" => Self::TopUp,
            "/cancel" => Self::Cancel,
            _ => Self::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_start_with_a_deep_link_parameter_is_read() {
        let body = br#"{"update_id":7,"message":{"message_id":1,"date":1,
            "chat":{"id":42,"type":"private"},"from":{"id":42,"is_bot":false,"first_name":"A"},
            "text":"/start -1003111266231"}}"#;
        let update = BotUpdate::parse(body).unwrap();
        assert_eq!(update.update_id, 7);
        let BotEvent::Message(message) = update.event else {
            panic!("a message")
        };
        assert_eq!(
            Command::parse(&message.text),
            Command::Start(Some("-1003111266231".into()))
        );
        assert_eq!(Command::parse("/status@TelePayBot"), Command::Status);
        assert_eq!(Command::parse("hello"), Command::Other);
    }

    #[test]
    fn unknown_kinds_and_missing_fields_are_ignored_not_errors() {
        for body in [
            r#"{"update_id":1,"edited_message":{"text":"x"}}"#,
            r#"{"update_id":2,"message":{"chat":{"id":5,"type":"group"},"from":{"id":5},"text":"/start"}}"#,
            r#"{"update_id":3,"message":{"chat":{"id":5,"type":"private"},"from":{"id":5}}}"#,
            r#"{"update_id":4,"callback_query":{"id":"q","from":{"id":5}}}"#,
            r#"{"update_id":5,"chat_join_request":{"chat":{"id":-100}}}"#,
        ] {
            let update = BotUpdate::parse(body.as_bytes()).unwrap();
            assert!(
                matches!(update.event, BotEvent::Ignored(_)),
                "{body} is ignored"
            );
        }
    }

    #[test]
    fn a_body_that_is_not_an_update_is_an_error() {
        assert_eq!(BotUpdate::parse(b"not json"), Err(UpdateError::NotAnUpdate));
        // Found by the fuzzer: serde reads a struct from an array.
        assert_eq!(BotUpdate::parse(b"[22]"), Err(UpdateError::NotAnUpdate));
        assert_eq!(
            BotUpdate::parse(b" [22, {}]"),
            Err(UpdateError::NotAnUpdate)
        );
        assert_eq!(
            BotUpdate::parse(br#"{"message":{}}"#),
            Err(UpdateError::NotAnUpdate)
        );
        let huge = vec![b' '; MAX_UPDATE_BYTES + 1];
        assert_eq!(BotUpdate::parse(&huge), Err(UpdateError::TooLarge));
    }

    #[test]
    fn a_join_request_carries_the_private_chat_to_write_to() {
        let body = br#"{"update_id":9,"chat_join_request":{"chat":{"id":-1002,"type":"channel"},
            "from":{"id":77,"is_bot":false},"user_chat_id":77,"date":1774390832,
            "invite_link":{"invite_link":"https://t.me/+abc","creates_join_request":true}}}"#;
        let BotEvent::JoinRequest(request) = BotUpdate::parse(body).unwrap().event else {
            panic!("a join request")
        };
        assert_eq!((request.chat_id, request.user_id), (-1002, 77));
        assert_eq!(request.invite_link.as_deref(), Some("https://t.me/+abc"));
    }

    #[test]
    fn a_join_through_a_link_is_read_with_the_links_name_and_other_changes_are_not() {
        let change = |old: &str, new: &str, link: &str| {
            format!(
                r#"{{"update_id":11,"chat_member":{{"chat":{{"id":-1002,"type":"channel"}},
                "from":{{"id":88,"is_bot":false}},"date":1774390832,
                "old_chat_member":{{"user":{{"id":88,"is_bot":false}},{old}}},
                "new_chat_member":{{"user":{{"id":88,"is_bot":false}},{new}}}{link}}}}}"#
            )
        };
        let link = r#","invite_link":{"invite_link":"https://t.me/+xyz","name":"payment 5",
            "creates_join_request":false,"is_primary":false,"is_revoked":false}"#;
        let joined = change(r#""status":"left""#, r#""status":"member""#, link);
        let BotEvent::MemberJoined(join) = BotUpdate::parse(joined.as_bytes()).unwrap().event
        else {
            panic!("a join")
        };
        assert_eq!((join.chat_id, join.user_id), (-1002, 88));
        assert_eq!(join.link, "https://t.me/+xyz");
        assert_eq!(join.link_name.as_deref(), Some("payment 5"));
        for (old, new, link) in [
            // Leaving, promoted while in, and a join not through a link (an admin added them).
            (r#""status":"member""#, r#""status":"left""#, link),
            (r#""status":"member""#, r#""status":"administrator""#, link),
            (r#""status":"left""#, r#""status":"member""#, ""),
            // Restricted but not in the chat is not a join.
            (
                r#""status":"left""#,
                r#""status":"restricted","is_member":false"#,
                link,
            ),
        ] {
            let body = change(old, new, link);
            assert!(
                matches!(
                    BotUpdate::parse(body.as_bytes()).unwrap().event,
                    BotEvent::Ignored(_)
                ),
                "{body} is not a join through a link"
            );
        }
    }
}
