//! Join requests: approved only for an active subscriber, a request racing its payment
//! waits for the grant, and the wait is bounded.

use super::*;

#[tokio::test]
async fn a_join_request_is_approved_only_for_an_active_subscriber() {
    let rig = rig().await;
    subscribe(&rig, BUYER, CLUB_PRIVATE, rig.clock.now(), 9003).await;
    let now = rig.clock.now();
    assert_eq!(
        call(&rig, &join_request(90, BUYER, CLUB_PRIVATE, now))
            .await
            .1,
        "handled"
    );
    assert_eq!(
        call(&rig, &join_request(91, STRANGER, CLUB_PRIVATE, now))
            .await
            .1,
        "handled"
    );
    let approved: Vec<i64> = rig
        .telegram
        .delivered("approveChatJoinRequest")
        .iter()
        .map(|c| c.params["user_id"].as_i64().unwrap())
        .collect();
    let declined: Vec<i64> = rig
        .telegram
        .delivered("declineChatJoinRequest")
        .iter()
        .map(|c| c.params["user_id"].as_i64().unwrap())
        .collect();
    // The fake had no pending requests (these updates were made up): it answers
    // HIDE_REQUESTER_MISSING, which the adapter takes as already handled.
    assert!(approved.is_empty() && declined.is_empty());
    let calls = rig.telegram.calls();
    let decisions: Vec<(&str, i64)> = calls
        .iter()
        .filter(|c| c.method.ends_with("ChatJoinRequest"))
        .map(|c| (c.method.as_str(), c.params["user_id"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        decisions,
        vec![
            ("approveChatJoinRequest", BUYER),
            ("declineChatJoinRequest", STRANGER)
        ]
    );
    // The stranger got the tiers first, in the chat the request opened.
    assert_eq!(
        rig.telegram.last_buttons(STRANGER),
        vec![("5 USDT · 7 days".to_owned(), format!("buy:{CLUB}:0"))]
    );
    let menu_at = calls
        .iter()
        .position(|c| c.method == "sendMessage" && c.chat_id() == Some(STRANGER))
        .unwrap();
    let decline_at = calls
        .iter()
        .position(|c| c.method == "declineChatJoinRequest")
        .unwrap();
    assert!(
        menu_at < decline_at,
        "the menu goes while the request is pending"
    );
}

#[tokio::test]
async fn an_expired_subscriber_is_declined_like_anyone_else() {
    let rig = rig().await;
    subscribe(
        &rig,
        BUYER,
        CLUB_PRIVATE,
        rig.clock.now() - TimeDelta::days(31),
        9004,
    )
    .await;
    call(
        &rig,
        &join_request(95, BUYER, CLUB_PRIVATE, rig.clock.now()),
    )
    .await;
    let calls = rig.telegram.calls();
    assert!(calls.iter().any(|c| c.method == "declineChatJoinRequest"));
    assert!(!calls.iter().any(|c| c.method == "approveChatJoinRequest"));
}

#[tokio::test]
async fn a_join_request_racing_its_payment_waits_for_the_grant_then_is_approved() {
    let rig = rig().await;
    // The buyer took an invoice for the club, paid, and clicked a join link before the
    // grant landed.
    call(&rig, &press(100, BUYER, &format!("buy:{CLUB}:0"))).await;
    let requested_at = rig.clock.now();
    call(&rig, &join_request(101, BUYER, CLUB_PRIVATE, requested_at)).await;
    let calls = rig.telegram.calls();
    assert!(
        !calls.iter().any(|c| c.method.ends_with("ChatJoinRequest")),
        "not decided yet"
    );
    let later = rig.bot.rechecks().take_later();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].1, telepay_core::bot::RECHECK_EVERY);

    // Still nothing granted 30 s on: it waits again.
    rig.clock.advance(TimeDelta::seconds(30));
    let admission = rig.bot.admission();
    assert_eq!(
        admission.recheck(&later[0].0, rig.clock.now()).await,
        telepay_core::queue::MessageOutcome::Done
    );
    let again = rig.bot.rechecks().take_later();
    assert_eq!(again.len(), 1, "re-checked later again");

    // The grant lands; the next re-check approves.
    subscribe(&rig, BUYER, CLUB_PRIVATE, rig.clock.now(), 9005).await;
    rig.clock.advance(TimeDelta::seconds(30));
    admission.recheck(&again[0].0, rig.clock.now()).await;
    let decided: Vec<String> = rig
        .telegram
        .calls()
        .iter()
        .filter(|c| c.method.ends_with("ChatJoinRequest"))
        .map(|c| c.method.clone())
        .collect();
    assert_eq!(decided, vec!["approveChatJoinRequest"]);
    assert!(rig.bot.rechecks().take_later().is_empty());
}

#[tokio::test]
async fn a_wait_that_runs_out_is_declined_and_never_unbounded() {
    let rig = rig().await;
    call(&rig, &press(110, BUYER, &format!("buy:{CLUB}:0"))).await;
    let requested_at = rig.clock.now();
    call(&rig, &join_request(111, BUYER, CLUB_PRIVATE, requested_at)).await;
    let mut body = rig.bot.rechecks().take_later().remove(0).0;
    let admission = rig.bot.admission();
    let mut rounds = 0;
    loop {
        rig.clock.advance(TimeDelta::seconds(30));
        admission.recheck(&body, rig.clock.now()).await;
        match rig.bot.rechecks().take_later().pop() {
            Some((next, _)) => body = next,
            None => break,
        }
        rounds += 1;
        assert!(rounds < 20, "the wait is bounded");
    }
    assert!(rig.clock.now() - requested_at >= telepay_core::bot::WAIT_FOR_GRANT);
    assert!(
        rig.clock.now() - requested_at
            <= telepay_core::bot::WAIT_FOR_GRANT + TimeDelta::seconds(30)
    );
    let calls = rig.telegram.calls();
    assert!(calls.iter().any(|c| c.method == "declineChatJoinRequest"));
    assert!(AdmissionRecheck::parse(&body).is_ok());
}

#[tokio::test]
async fn a_payer_through_a_second_entry_selling_the_same_channel_waits_for_the_grant() {
    // GIVEN two directory entries selling the club's private channel, the second with
    // its own public id and tiers
    const CLUB_AGAIN: i64 = -1004444444446;
    let two_entries = r#"{
      "channels": [
        { "channel_id": -1004444444444, "private_channel_id": -1005555555555, "title": "Club",
          "admission": "join_request",
          "tiers": [ { "price_amount": 5, "price_currency": "usdt", "duration": "7d" } ] },
        { "channel_id": -1004444444446, "private_channel_id": -1005555555555,
          "title": "Club (yearly)", "admission": "join_request",
          "tiers": [ { "price_amount": 50, "price_currency": "usdt", "duration": "365d" } ] }
      ]
    }"#;
    let rig = rig_with(two_entries).await;
    // WHEN the buyer takes an invoice from the second entry, pays, and asks to join
    // before the grant lands
    call(&rig, &press(100, BUYER, &format!("buy:{CLUB_AGAIN}:0"))).await;
    assert_eq!(rig.nowpayments.invoices().len(), 1);
    call(
        &rig,
        &join_request(101, BUYER, CLUB_PRIVATE, rig.clock.now()),
    )
    .await;
    // THEN the request waits for the payment: not declined at once, re-checked later
    let decided = rig
        .telegram
        .calls()
        .iter()
        .filter(|c| c.method.ends_with("ChatJoinRequest"))
        .count();
    assert_eq!(decided, 0, "not declined while the payment is on its way");
    assert_eq!(rig.bot.rechecks().take_later().len(), 1, "re-checked later");
}
