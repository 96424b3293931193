//! The buyer's commands and buttons: /start and its deep link, /help, a stale or forged
//! button.

use super::*;

#[tokio::test]
async fn start_shows_the_channels_and_a_deep_link_goes_straight_to_its_tiers() {
    let rig = rig().await;
    assert_eq!(
        call(&rig, &message(1, BUYER, "/start")).await,
        (StatusCode::OK, "handled".into())
    );
    let buttons = rig.telegram.last_buttons(BUYER);
    assert_eq!(
        buttons,
        vec![
            ("Signals".to_owned(), format!("channel:{SIGNALS}")),
            ("Club".to_owned(), format!("channel:{CLUB}")),
        ]
    );
    call(&rig, &message(2, BUYER, &format!("/start {SIGNALS}"))).await;
    let tiers = rig.telegram.last_buttons(BUYER);
    assert_eq!(
        tiers,
        vec![
            ("3.21 USD · 30 days".to_owned(), format!("buy:{SIGNALS}:0")),
            ("8 USD · 90 days".to_owned(), format!("buy:{SIGNALS}:1")),
        ]
    );
    // The private channel's id names it too (the lifecycle's renewal links use it).
    call(
        &rig,
        &message(3, BUYER, &format!("/start@telepay_fake_bot {CLUB_PRIVATE}")),
    )
    .await;
    assert_eq!(
        rig.telegram.last_buttons(BUYER),
        vec![("5 USDT · 7 days".to_owned(), format!("buy:{CLUB}:0"))]
    );
}

#[tokio::test]
async fn help_and_anything_else_get_a_clear_answer() {
    let rig = rig().await;
    call(&rig, &message(60, BUYER, "/help")).await;
    call(&rig, &message(61, BUYER, "hello?")).await;
    assert_eq!(
        texts_to(&rig, BUYER),
        vec![BotTexts::default().help, BotTexts::default().unknown]
    );
}

#[tokio::test]
async fn a_stale_or_forged_button_is_answered_and_changes_nothing() {
    let rig = rig().await;
    let forged: [String; 3] = [
        format!("buy:{SIGNALS}:7"),
        "buy:-1:0".into(),
        "something".into(),
    ];
    for (update_id, data) in (130..).zip(forged) {
        assert_eq!(
            call(&rig, &press(update_id, BUYER, &data)).await.1,
            "handled"
        );
    }
    assert!(rig.nowpayments.invoice_requests().is_empty());
    let answers = rig.telegram.delivered("answerCallbackQuery");
    assert_eq!(answers.len(), 3);
    let stale = BotTexts::default().stale_button;
    assert!(answers.iter().all(|a| a.params["text"] == stale.as_str()));
}
