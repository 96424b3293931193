//! /topup: the invoice for the rest of a short payment, once a window, naming its
//! purchase; nothing for a buyer with no purchase waiting.

use telepay_core::ipn::PaymentId;
use telepay_core::payment::{HoldReason, PaymentReview};
use telepay_core::store::{IngressStore, OpenPurchase, PurchasePartsStore};

use super::*;

const SHORT: i64 = 5077000001;
const MONTH: i64 = 30 * 86_400;

/// A short payment of BUYER's for a month of Signals, held, its purchase open: 2.00 of
/// 3.21 USD arrived.
async fn short_payment(rig: &Rig) {
    let ipn = telepay_core::fixtures::SAMPLE_IPN
        .replace("4492847470", &SHORT.to_string())
        .replace(
            "PGP-6271402111|-1003111266231",
            &format!("PGP-{BUYER}|{SIGNALS}|{MONTH}"),
        );
    let review = PaymentReview {
        payment_id: PaymentId::new(SHORT).unwrap(),
        reason: HoldReason::Underpaid,
        ipn,
        received_at: rig.clock.now(),
        decision: None,
        decided_at: None,
    };
    rig.bot.store().hold_for_review(&review).await.unwrap();
    let open = OpenPurchase {
        purchase_id: PaymentId::new(SHORT).unwrap(),
        user_id: BUYER,
        channel_id: SIGNALS,
        price_amount: 3.21,
        price_currency: "usd".into(),
        first_paid: 2.0,
        first_outcome: None,
        opened_at: rig.clock.now(),
    };
    rig.bot.store().open_purchase(&open).await.unwrap();
}

#[tokio::test]
async fn topup_makes_one_invoice_for_the_missing_amount_naming_the_purchase() {
    let rig = rig().await;
    short_payment(&rig).await;
    assert_eq!(call(&rig, &message(40, BUYER, "/topup")).await.1, "handled");
    let invoices = rig.nowpayments.invoices();
    assert_eq!(invoices.len(), 1);
    let request = &invoices[0].request;
    assert_eq!(
        request["price_amount"], 1.21,
        "what is missing, to the cent"
    );
    assert_eq!(request["price_currency"], "usd");
    assert_eq!(
        request["order_id"],
        format!("PGP-{BUYER}|{SIGNALS}|{MONTH}|{SHORT}"),
        "its payment is counted in the purchase"
    );
    let text = texts_to(&rig, BUYER).pop().unwrap();
    assert!(
        text.contains("2.00 USD of 3.21 USD arrived; 1.21 USD is missing"),
        "{text}"
    );
    let pay = rig.telegram.last_buttons(BUYER);
    assert_eq!(
        pay,
        vec![("Pay".to_owned(), invoices[0].invoice_url.clone())]
    );

    // Asked again within the window: the same invoice, never a second.
    rig.clock.advance(TimeDelta::minutes(3));
    call(&rig, &message(41, BUYER, "/topup")).await;
    assert_eq!(rig.nowpayments.invoices().len(), 1);
    assert_eq!(rig.telegram.last_buttons(BUYER), pay);
}

#[tokio::test]
async fn topup_with_no_purchase_waiting_says_so_and_makes_no_invoice() {
    let rig = rig().await;
    short_payment(&rig).await;
    call(&rig, &message(50, STRANGER, "/topup")).await;
    assert_eq!(
        texts_to(&rig, STRANGER),
        vec![BotTexts::default().topup_none]
    );
    // Once the purchase is settled, BUYER has nothing waiting either.
    rig.bot
        .store()
        .settle_purchase(
            PaymentId::new(SHORT).unwrap(),
            PaymentId::new(SHORT + 1).unwrap(),
            rig.clock.now(),
        )
        .await
        .unwrap();
    call(&rig, &message(51, BUYER, "/topup")).await;
    assert_eq!(texts_to(&rig, BUYER), vec![BotTexts::default().topup_none]);
    assert!(rig.nowpayments.invoices().is_empty());
}

#[tokio::test]
async fn topup_while_nowpayments_is_down_is_retried_into_the_one_invoice() {
    let rig = rig().await;
    short_payment(&rig).await;
    rig.nowpayments.fail_next_invoices(1);
    let ask = message(60, BUYER, "/topup");
    assert_eq!(
        call(&rig, &ask).await,
        (StatusCode::INTERNAL_SERVER_ERROR, "unavailable".into())
    );
    assert!(rig.nowpayments.invoices().is_empty());
    // Telegram redelivers the update: the released claims let it make the one invoice.
    assert_eq!(call(&rig, &ask).await.1, "handled");
    assert_eq!(call(&rig, &ask).await.1, "already_handled");
    assert_eq!(rig.nowpayments.invoices().len(), 1);
}
