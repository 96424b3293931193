//! The Bot API adapter against the fake Bot API: calls land as Telegram expects them, and
//! failures come back classified, never carrying the bot token.

use chrono::{TimeDelta, Utc};
use fake_bot_api::{FakeBotApi, Fault, FaultKind};
use telepay_core::telegram::{TelegramError, TelegramInviter};
use telepay_shared::telegram::{BotApiInviter, BotToken};

const TOKEN: &str = "987654:super-secret-token";

fn bot(url: &str, token: &str) -> BotApiInviter {
    BotApiInviter::new(BotToken::new(token).unwrap(), Some(url)).unwrap()
}

#[tokio::test]
async fn an_invite_link_is_created_for_one_member_with_its_expiry_and_revoked_on_request() {
    let fake = FakeBotApi::start(TOKEN).await;
    let bot = bot(&fake.url(), TOKEN);
    let expires = Utc::now() + TimeDelta::hours(24);
    let link = bot
        .create_invite_link(-100123, "payment 42", expires)
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
        bot.create_invite_link(-100, "p", Utc::now()).await,
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
