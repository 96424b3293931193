//! The Bot API adapter against the fake Bot API: calls land as Telegram expects them, and
//! failures come back classified, never carrying the bot token.

use chrono::{TimeDelta, Utc};
use fake_bot_api::{FakeBotApi, Fault, FaultKind};
use telepay_core::directory::Admission;
use telepay_core::telegram::{TelegramError, TelegramInviter};
use telepay_shared::telegram::{BotToken, TelegramBotApi};

const TOKEN: &str = "987654:super-secret-token";

fn bot(url: &str, token: &str) -> TelegramBotApi {
    TelegramBotApi::new(BotToken::new(token).unwrap(), Some(url)).unwrap()
}

#[tokio::test]
async fn an_invite_link_is_created_for_one_member_with_its_expiry_and_revoked_on_request() {
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = bot(&fake.url(), TOKEN);
    let expires = Utc::now() + TimeDelta::hours(24);
    let link = bot
        .create_invite_link(-100123, "payment 42", expires, Admission::OneTimeLink)
        .await
        .unwrap();
    assert_eq!(link.expires_at.timestamp(), expires.timestamp());
    bot.revoke_invite_link(-100123, &link.url).await.unwrap();

    let calls = fake.calls();
    assert_eq!(calls[0].method, "createChatInviteLink");
    assert_eq!(calls[0].params["member_limit"], 1);
    assert_eq!(calls[0].params["name"], "payment 42");
    assert_eq!(calls[1].method, "revokeChatInviteLink");
    assert_eq!(calls[1].params["invite_link"], link.url.as_str());
}

#[tokio::test]
async fn the_same_description_means_the_user_for_send_and_the_setup_for_create() {
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = bot(&fake.url(), TOKEN);
    let not_found = FaultKind::BadRequest("Bad Request: chat not found".into());
    fake.inject(Fault::new("sendMessage", not_found.clone()));
    fake.inject(Fault::new("createChatInviteLink", not_found));
    assert!(matches!(
        bot.send_message(5, "hi").await,
        Err(TelegramError::UserUnreachable(_))
    ));
    assert!(matches!(
        bot.create_invite_link(-100, "p", Utc::now(), Admission::OneTimeLink)
            .await,
        Err(TelegramError::Misconfigured(_))
    ));
}

#[tokio::test]
async fn a_429_carries_its_retry_after() {
    let fake = FakeBotApi::start(TOKEN).await;
    fake.inject(Fault::new("sendMessage", FaultKind::RetryAfter(9)));
    let result = bot(&fake.url(), TOKEN).send_message(5, "hi").await;
    assert_eq!(
        result,
        Err(TelegramError::RetryAfter(std::time::Duration::from_secs(9)))
    );
}

#[tokio::test]
async fn a_rejected_token_is_a_configuration_error() {
    let fake = FakeBotApi::start(TOKEN).await;
    let result = bot(&fake.url(), "111:wrong").send_message(5, "hi").await;
    assert!(
        matches!(result, Err(TelegramError::Misconfigured(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_network_failure_is_transient_and_its_text_never_carries_the_token() {
    // Port 9 (discard) is closed on loopback: the connection is refused.
    let result = bot("http://127.0.0.1:9", TOKEN).send_message(5, "hi").await;
    let Err(TelegramError::Transient(text)) = result else {
        panic!("expected a transient error, got {result:?}");
    };
    assert!(!text.contains("super-secret-token"), "token leaked: {text}");
    assert!(!format!("{:?}", bot("http://127.0.0.1:9", TOKEN)).contains("secret"));
}

#[tokio::test]
async fn membership_comes_from_telegram_and_any_400_means_not_a_member() {
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = bot(&fake.url(), TOKEN);
    let link = bot
        .create_invite_link(
            -100123,
            "payment 42",
            Utc::now() + TimeDelta::hours(1),
            Admission::OneTimeLink,
        )
        .await
        .unwrap();
    assert_eq!(bot.is_member(-100123, 7).await, Ok(false), "not joined yet");
    assert_eq!(
        fake.join(&link.url, 7, Utc::now().timestamp()),
        fake_bot_api::JoinOutcome::Joined
    );
    assert_eq!(bot.is_member(-100123, 7).await, Ok(true));
    assert_eq!(
        fake.join(&link.url, 8, Utc::now().timestamp()),
        fake_bot_api::JoinOutcome::UsedUp,
        "member_limit = 1: a forwarded link admits nobody else"
    );

    // Telegram hides users it will not disclose behind a 400: not a member.
    let hidden = FaultKind::BadRequest("Bad Request: user not found".into());
    fake.inject(Fault::new("getChatMember", hidden));
    assert_eq!(bot.is_member(-100123, 7).await, Ok(false));
    // 5xx and 429 are not answers: retried.
    fake.inject(Fault::new("getChatMember", FaultKind::ServerError));
    assert!(matches!(
        bot.is_member(-100123, 7).await,
        Err(TelegramError::Transient(_))
    ));
    fake.inject(Fault::new("getChatMember", FaultKind::RetryAfter(3)));
    assert!(matches!(
        bot.is_member(-100123, 7).await,
        Err(TelegramError::RetryAfter(_))
    ));
}

#[tokio::test]
async fn a_removal_takes_a_member_out_without_a_ban_and_refuses_an_admin_for_good() {
    use telepay_core::telegram::MemberRemover;
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = bot(&fake.url(), TOKEN);
    fake.add_member(-100123, 42);
    bot.remove_member(-100123, 42).await.unwrap();
    assert!(!fake.is_member(-100123, 42), "removed");
    let call = fake.delivered("unbanChatMember").remove(0);
    assert_eq!(call.params["user_id"], 42);
    assert!(
        call.params.get("only_if_banned").is_none(),
        "sent without only_if_banned: the member is removed, not banned"
    );
    // A user already gone is no error.
    bot.remove_member(-100123, 42).await.unwrap();
    // The owner or an admin cannot be removed: a refusal for good, not a retry.
    fake.add_admin(-100123, 7);
    assert!(matches!(
        bot.remove_member(-100123, 7).await,
        Err(TelegramError::Misconfigured(text)) if text.contains("administrator")
    ));
    assert!(fake.is_member(-100123, 7));
}

#[tokio::test]
async fn messages_beyond_telegrams_pace_get_429_with_retry_after() {
    let fake = FakeBotApi::start(TOKEN).await;
    fake.enforce_pace();
    let bot = bot(&fake.url(), TOKEN);
    bot.send_message(5, "first").await.unwrap();
    // A second message to the same chat within a second is refused with retry_after.
    assert_eq!(
        bot.send_message(5, "second").await,
        Err(TelegramError::RetryAfter(std::time::Duration::from_secs(1)))
    );
    // Other chats are fine until 30 messages in a second.
    let mut refused = 0;
    let started = std::time::Instant::now();
    for user in 100..140 {
        if bot.send_message(user, "hi").await.is_err() {
            refused += 1;
        }
    }
    if started.elapsed() < std::time::Duration::from_millis(900) {
        // 40 within a second: at least 10 (with the first message, 11) were too many.
        assert!(
            refused >= 10,
            "at most 30 per second overall; {refused} refused"
        );
    }
    assert_eq!(fake.paced_refusals(), 1 + refused);
}
