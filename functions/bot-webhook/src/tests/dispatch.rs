//! An update from request to outcome: the secret, bad bodies, a redelivered or crashed
//! update, the store down, and the sample events.

use super::*;

#[tokio::test]
async fn a_wrong_or_missing_secret_is_a_401_and_nothing_is_done() {
    let rig = rig().await;
    for secret in [None, Some("local-demo-webhook-secret-0123456788"), Some("")] {
        let (status, word) = call_raw(
            &rig,
            request(&message(40, BUYER, "/start").to_string(), secret),
        )
        .await;
        assert_eq!(
            (status, word.as_str()),
            (StatusCode::UNAUTHORIZED, "bad_secret")
        );
    }
    assert!(rig.telegram.calls().is_empty(), "no Bot API call");
    assert_eq!(
        rig.bot
            .store()
            .read_once(OnceKey::Update(40))
            .await
            .unwrap(),
        None,
        "no record"
    );
}

#[tokio::test]
async fn a_redelivered_update_does_nothing_and_a_crashed_one_runs_again() {
    let rig = rig().await;
    let help = message(50, BUYER, "/help");
    assert_eq!(call(&rig, &help).await.1, "handled");
    assert_eq!(call(&rig, &help).await.1, "already_handled");
    assert_eq!(texts_to(&rig, BUYER).len(), 1, "one answer");

    // A worker claimed update 51 and crashed before finishing: while its lease lives a
    // redelivery is told to come back (500), after it the update runs.
    let crashed = telepay_core::store::OnceClaim {
        token: "crashed-worker".into(),
        lease_until: rig.clock.now() + TimeDelta::seconds(60),
        keep_until: rig.clock.now() + TimeDelta::hours(48),
        now: rig.clock.now(),
    };
    rig.bot
        .store()
        .claim_once(OnceKey::Update(51), &crashed)
        .await
        .unwrap();
    let status = message(51, BUYER, "/status");
    assert_eq!(
        call(&rig, &status).await,
        (StatusCode::INTERNAL_SERVER_ERROR, "busy".into())
    );
    rig.clock.advance(TimeDelta::seconds(61));
    assert_eq!(call(&rig, &status).await.1, "handled");
    assert_eq!(texts_to(&rig, BUYER)[1], BotTexts::default().status_none);
}

#[tokio::test]
async fn bad_bodies_are_4xx_and_odd_updates_are_ignored_with_nothing_done() {
    let rig = rig().await;
    let get = http::Request::builder()
        .method("GET")
        .uri("/telegram-webhook")
        .body(Body::Empty)
        .unwrap();
    let response = handle(&rig.bot, get).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        call_raw(&rig, request("not json", Some(SECRET))).await,
        (StatusCode::BAD_REQUEST, "bad_request".into())
    );
    assert_eq!(
        call_raw(&rig, request("{\"message\":{}}", Some(SECRET)))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let huge = format!("{{\"update_id\":1,\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    assert_eq!(
        call_raw(&rig, request(&huge, Some(SECRET))).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    for odd in [
        json!({"update_id": 120, "edited_message": {"text": "x"}}),
        json!({"update_id": 121, "message": {"chat": {"id": -5, "type": "group"}, "from": {"id": 5}, "text": "/start"}}),
        json!({"update_id": 122, "callback_query": {"id": "q", "from": {"id": 5}}}),
        json!({"update_id": 123, "message": {"chat": {"id": 5, "type": "private"}, "from": {"id": 5}, "photo": []}}),
        json!({"update_id": 124, "chat_join_request": "not an object"}),
    ] {
        assert_eq!(
            call(&rig, &odd).await,
            (StatusCode::OK, "ignored".into()),
            "{odd}"
        );
    }
    assert!(rig.telegram.calls().is_empty());
    assert!(rig.nowpayments.invoice_requests().is_empty());
}

#[tokio::test]
async fn the_store_down_is_a_500_so_telegram_retries() {
    let rig = rig().await;
    rig.bot.store().set_unavailable(true);
    assert_eq!(
        call(&rig, &message(140, BUYER, "/help")).await,
        (StatusCode::INTERNAL_SERVER_ERROR, "unavailable".into())
    );
    assert!(rig.telegram.calls().is_empty());
    rig.bot.store().set_unavailable(false);
    assert_eq!(call(&rig, &message(140, BUYER, "/help")).await.1, "handled");
}

/// Every sample event in events/ for this function, through the handler.
#[tokio::test]
async fn the_sample_events_give_their_documented_outcomes() {
    let events = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");
    let cases = [
        ("bot-webhook-start.json", StatusCode::OK, "handled"),
        (
            "bot-webhook-bad-secret.json",
            StatusCode::UNAUTHORIZED,
            "bad_secret",
        ),
    ];
    for (file, status, outcome) in cases {
        let rig = rig().await;
        let json = std::fs::read_to_string(format!("{events}/{file}")).unwrap();
        let request = lambda_http::request::from_str(&json).unwrap();
        assert_eq!(
            call_raw(&rig, request).await,
            (status, outcome.into()),
            "{file}"
        );
    }
}
