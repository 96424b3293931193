//! The bot's budgets (`telepay_core::bot::budget`): a user past their replies hears
//! nothing until the window turns, everyone's new invoices stop at the minute's budget,
//! and a menu meeting Telegram's pace gives way instead of coming back.

use fake_bot_api::{Fault, FaultKind};
use telepay_core::bot::BotBudgets;
use telepay_core::bot::budget::{REPLIES_PER_WINDOW, REPLY_WINDOW, window_at};

use super::*;

/// The clock a minute into a fresh window of `length`, so the test cannot straddle one.
fn into_a_fresh_window(rig: &Rig, length: TimeDelta) {
    let next = window_at(rig.clock.now(), length).start + length;
    rig.clock.set(next + TimeDelta::seconds(1));
}

#[tokio::test]
async fn a_spammer_past_their_replies_hears_nothing_until_the_window_turns() {
    let rig = rig().await;
    into_a_fresh_window(&rig, REPLY_WINDOW);
    let budget = REPLIES_PER_WINDOW as i64;
    for n in 0..budget + 8 {
        assert_eq!(
            call(&rig, &message(2_000 + n, STRANGER, "/help")).await,
            (StatusCode::OK, "handled".to_owned()),
            "handled, answered or not: Telegram must not redeliver it"
        );
    }
    assert_eq!(
        texts_to(&rig, STRANGER).len(),
        REPLIES_PER_WINDOW as usize,
        "only the budget is answered"
    );
    // Taps cost the same budget: no menu, no invoice, no answer.
    call(&rig, &press(2_100, STRANGER, &format!("buy:{SIGNALS}:0"))).await;
    assert!(rig.nowpayments.invoices().is_empty());
    assert!(rig.telegram.delivered("answerCallbackQuery").is_empty());
    // Another user is answered meanwhile.
    call(&rig, &message(2_200, BUYER, "/help")).await;
    assert_eq!(texts_to(&rig, BUYER).len(), 1);
    // The next window answers the spammer again.
    rig.clock.advance(REPLY_WINDOW);
    call(&rig, &message(2_300, STRANGER, "/help")).await;
    assert_eq!(
        texts_to(&rig, STRANGER).len(),
        REPLIES_PER_WINDOW as usize + 1
    );
}

#[tokio::test]
async fn a_join_request_past_the_budget_is_still_declined_without_the_menu() {
    let rig = rig().await;
    into_a_fresh_window(&rig, REPLY_WINDOW);
    for n in 0..REPLIES_PER_WINDOW as i64 {
        call(&rig, &message(2_400 + n, STRANGER, "/help")).await;
    }
    let told = texts_to(&rig, STRANGER).len();
    call(
        &rig,
        &join_request(2_500, STRANGER, CLUB_PRIVATE, rig.clock.now()),
    )
    .await;
    assert!(
        rig.telegram
            .calls()
            .iter()
            .any(|c| c.method == "declineChatJoinRequest"),
        "the rule is applied whatever the budget"
    );
    assert_eq!(texts_to(&rig, STRANGER).len(), told, "no courtesy menu");
}

#[tokio::test]
async fn new_invoices_stop_at_the_minutes_budget_and_the_buyer_is_asked_to_tap_again() {
    let rig = rig_budgets(BotBudgets {
        invoices_per_minute: 2,
        ..BotBudgets::default()
    })
    .await;
    into_a_fresh_window(&rig, TimeDelta::minutes(1));
    for (n, user) in [BUYER, STRANGER, STRANGER + 1].into_iter().enumerate() {
        call(
            &rig,
            &press(2_600 + n as i64, user, &format!("buy:{SIGNALS}:0")),
        )
        .await;
    }
    assert_eq!(
        rig.nowpayments.invoices().len(),
        2,
        "NOWPayments is asked for the budget only"
    );
    let answers = rig.telegram.delivered("answerCallbackQuery");
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[2].params["text"], BotTexts::default().invoice_later);
    // A shown invoice is shown again without spending the budget.
    call(&rig, &press(2_650, BUYER, &format!("buy:{SIGNALS}:0"))).await;
    assert_eq!(rig.telegram.delivered("answerCallbackQuery").len(), 4);
    assert_eq!(rig.nowpayments.invoices().len(), 2);
    // The next minute the third buyer's tap makes their invoice.
    rig.clock.advance(TimeDelta::minutes(1));
    call(
        &rig,
        &press(2_700, STRANGER + 1, &format!("buy:{SIGNALS}:0")),
    )
    .await;
    assert_eq!(rig.nowpayments.invoices().len(), 3);
}

#[tokio::test]
async fn a_menu_at_telegrams_pace_gives_way_instead_of_coming_back() {
    let rig = rig().await;
    rig.telegram
        .inject(Fault::new("sendMessage", FaultKind::RetryAfter(20)).for_chat(BUYER));
    assert_eq!(
        call(&rig, &message(2_800, BUYER, "/start")).await,
        (StatusCode::OK, "handled".to_owned()),
        "a redelivery would only meet the same 429s the invites are waiting out"
    );
    assert!(texts_to(&rig, BUYER).is_empty());
    // Asked again once the bot has room, it is answered.
    call(&rig, &message(2_801, BUYER, "/start")).await;
    assert_eq!(texts_to(&rig, BUYER).len(), 1);
}
