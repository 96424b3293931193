//! A tier to an invoice: once a window, NOWPayments down or refusing, a tap just after a
//! window's turn.

use super::*;

#[tokio::test]
async fn a_tier_gives_one_invoice_with_the_order_id_and_a_second_tap_the_same_one() {
    let rig = rig().await;
    assert_eq!(
        call(&rig, &press(10, BUYER, &format!("buy:{SIGNALS}:1")))
            .await
            .1,
        "handled"
    );
    let invoices = rig.nowpayments.invoices();
    assert_eq!(invoices.len(), 1);
    let request = &invoices[0].request;
    // The order names the tier chosen (its length in seconds: 90 days), so the payment
    // grants that tier whatever the other tiers cost.
    assert_eq!(
        request["order_id"],
        format!("PGP-{BUYER}|{SIGNALS}|{}", 90 * 86_400)
    );
    assert_eq!(request["price_amount"], 8.0);
    assert_eq!(request["price_currency"], "usd");
    assert_eq!(
        request["ipn_callback_url"],
        "https://example.com/np-webhook"
    );
    assert_eq!(request["success_url"], "https://t.me/telepay_fake_bot");
    assert_eq!(
        rig.nowpayments.invoice_requests()[0].0.as_deref(),
        Some(API_KEY)
    );
    let pay = rig.telegram.last_buttons(BUYER);
    assert_eq!(
        pay,
        vec![("Pay".to_owned(), invoices[0].invoice_url.clone())]
    );
    assert_eq!(
        rig.telegram.delivered("answerCallbackQuery").len(),
        1,
        "the tap is answered"
    );

    // A second tap (a new update) a few minutes later shows the same invoice.
    rig.clock.advance(TimeDelta::minutes(3));
    assert_eq!(
        call(&rig, &press(11, BUYER, &format!("buy:{SIGNALS}:1")))
            .await
            .1,
        "handled"
    );
    assert_eq!(rig.nowpayments.invoices().len(), 1, "no second invoice");
    assert_eq!(rig.telegram.last_buttons(BUYER), pay);
    // Another tier is another invoice.
    call(&rig, &press(12, BUYER, &format!("buy:{SIGNALS}:0"))).await;
    assert_eq!(rig.nowpayments.invoices().len(), 2);
}

#[tokio::test]
async fn nowpayments_down_is_a_500_and_telegrams_redelivery_makes_the_one_invoice() {
    let rig = rig().await;
    rig.nowpayments.fail_next_invoices(1);
    let tap = press(20, BUYER, &format!("buy:{CLUB}:0"));
    assert_eq!(
        call(&rig, &tap).await,
        (StatusCode::INTERNAL_SERVER_ERROR, "unavailable".into())
    );
    assert!(rig.nowpayments.invoices().is_empty());
    assert!(
        rig.telegram.last_buttons(BUYER).is_empty(),
        "nothing shown yet"
    );
    // Telegram redelivers the same update: the released claims let it run again.
    assert_eq!(call(&rig, &tap).await.1, "handled");
    assert_eq!(rig.nowpayments.invoices().len(), 1);
    assert_eq!(call(&rig, &tap).await.1, "already_handled");
    assert_eq!(rig.nowpayments.invoices().len(), 1);
}

#[tokio::test]
async fn a_refused_invoice_is_answered_on_the_button_not_retried() {
    let rig = rig().await;
    let bot_with_wrong_key = BotFrontDoor::new(
        setup("https://example.com/np"),
        MemoryStore::new(),
        TelegramBotApi::new(BotToken::new(TOKEN).unwrap(), Some(&rig.telegram.url())).unwrap(),
        NowPaymentsInvoices::new(
            NowPaymentsApiKey::new("wrong-key").unwrap(),
            Some(&rig.nowpayments.url()),
        )
        .unwrap(),
        MemoryQueue::new(),
        MemoryQueue::new(),
    );
    let response = handle(
        &bot_with_wrong_key,
        request(
            &press(30, BUYER, &format!("buy:{SIGNALS}:0")).to_string(),
            Some(SECRET),
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a retry cannot fix a refused key"
    );
    let answers = rig.telegram.delivered("answerCallbackQuery");
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].params["text"], BotTexts::default().invoice_later);
    assert_eq!(
        rig.nowpayments.invoice_requests()[0],
        (Some("wrong-key".into()), 403)
    );
}

#[tokio::test]
async fn a_tap_just_after_a_windows_turn_shows_the_invoice_made_just_before_it() {
    let rig = rig().await;
    // 30 s before a 10-minute window turns.
    let into_window = rig.clock.now().timestamp().rem_euclid(600);
    rig.clock
        .advance(TimeDelta::seconds(600 - into_window - 30));
    call(&rig, &press(150, BUYER, &format!("buy:{CLUB}:0"))).await;
    rig.clock.advance(TimeDelta::minutes(2));
    call(&rig, &press(151, BUYER, &format!("buy:{CLUB}:0"))).await;
    assert_eq!(
        rig.nowpayments.invoices().len(),
        1,
        "the same invoice across the turn"
    );
    // Ten minutes after it was made, a tap makes a new one.
    rig.clock.advance(TimeDelta::minutes(9));
    call(&rig, &press(152, BUYER, &format!("buy:{CLUB}:0"))).await;
    assert_eq!(rig.nowpayments.invoices().len(), 2);
}

#[tokio::test]
async fn a_second_tap_across_a_windows_turn_while_the_first_invoice_is_in_flight_makes_no_second() {
    use telepay_core::bot::invoice::invoice_keys;
    use telepay_core::store::OnceClaim;
    // GIVEN a tap a second before a window turns, its invoice still being made (a slow
    // NOWPayments: the window's record claimed, not finished)
    let rig = rig().await;
    let into_window = rig.clock.now().timestamp().rem_euclid(600);
    rig.clock.advance(TimeDelta::seconds(600 - into_window - 1));
    let now = rig.clock.now();
    let in_flight = OnceClaim {
        token: "worker-waiting-on-nowpayments".into(),
        lease_until: now + TimeDelta::seconds(60),
        keep_until: now + TimeDelta::hours(48),
        now,
    };
    let [before_the_turn, _] = invoice_keys(BUYER, CLUB, 0, 0, now);
    rig.bot
        .store()
        .claim_once(before_the_turn, &in_flight)
        .await
        .unwrap();
    // WHEN the second tap lands two seconds later, in the next window
    rig.clock.advance(TimeDelta::seconds(2));
    let (status, _) = call(&rig, &press(160, BUYER, &format!("buy:{CLUB}:0"))).await;
    // THEN it is told to come back (Telegram redelivers it), and no second invoice exists
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        rig.nowpayments.invoices().is_empty(),
        "no second invoice while the first is being made"
    );
    // AND once the first worker has made its invoice, the redelivery shows that one
    let first = json!({"id": "first", "invoice_url": "https://nowpayments.io/payment/?iid=first",
        "created_at": now});
    let finished = rig
        .bot
        .store()
        .finish_once(
            before_the_turn,
            &in_flight.token,
            Some(&first.to_string()),
            now,
        )
        .await
        .unwrap();
    assert_eq!(finished, telepay_core::store::Fenced::Done);
    let (status, _) = call(&rig, &press(160, BUYER, &format!("buy:{CLUB}:0"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        rig.telegram.last_buttons(BUYER),
        vec![(
            "Pay".to_owned(),
            first["invoice_url"].as_str().unwrap().to_owned()
        )]
    );
    assert!(rig.nowpayments.invoices().is_empty(), "still one invoice");
}

#[tokio::test]
async fn an_invoice_names_the_catalog_version_it_was_priced_from_and_a_new_price_reaches_the_bot() {
    use telepay_core::catalog::{LiveCatalog, apply};
    let catalogs = Arc::new(MemoryStore::new());
    let priced = |price: f64| {
        let mut catalog: Value = serde_json::from_str(DIRECTORY).unwrap();
        catalog["channels"][0]["tiers"][1] =
            json!({"price_amount": price, "price_currency": "usd", "duration": "90 days"});
        catalog["channels"][1]["tiers"][0]["duration"] = json!("7 days");
        catalog.to_string()
    };
    apply(&*catalogs, &priced(8.0), "", Utc::now())
        .await
        .unwrap();
    let live = LiveCatalog::load(catalogs.clone(), std::time::Duration::ZERO, None)
        .await
        .unwrap();
    let rig = rig_on(live).await;
    call(&rig, &press(10, BUYER, &format!("buy:{SIGNALS}:1"))).await;
    let first = rig.nowpayments.invoices()[0].request.clone();
    assert_eq!(first["price_amount"], 8.0);
    assert_eq!(
        first["order_id"],
        format!("PGP-{BUYER}|{SIGNALS}|{}@1", 90 * 86_400),
        "the order names version 1: its payment is matched at 8 USD"
    );

    // The owner applies a new price; the running bot sells at it, naming version 2, and
    // the buyer who tapped before gets a new invoice at it within the same window.
    apply(&*catalogs, &priced(9.5), "", Utc::now())
        .await
        .unwrap();
    call(&rig, &press(11, BUYER, &format!("buy:{SIGNALS}:1"))).await;
    let again = rig.nowpayments.invoices()[1].request.clone();
    assert_eq!(again["price_amount"], 9.5);
    assert_eq!(
        again["order_id"],
        format!("PGP-{BUYER}|{SIGNALS}|{}@2", 90 * 86_400)
    );
    call(&rig, &press(12, STRANGER, &format!("buy:{SIGNALS}:1"))).await;
    let second = rig.nowpayments.invoices()[2].request.clone();
    assert_eq!(second["price_amount"], 9.5);
    assert_eq!(
        second["order_id"],
        format!("PGP-{STRANGER}|{SIGNALS}|{}@2", 90 * 86_400)
    );
}
