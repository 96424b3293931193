//! /status: the buyer's subscriptions, the live link again, and one re-issued invite.

use super::*;

#[tokio::test]
async fn status_lists_subscriptions_and_resends_the_live_link_to_a_buyer_not_in() {
    let rig = rig().await;
    subscribe(&rig, BUYER, SIGNALS_PRIVATE, rig.clock.now(), 9001).await;
    // The invite sender made and shared the subscription's live link.
    let in_20_hours = rig.clock.now() + TimeDelta::hours(20);
    share_live_link(
        &rig,
        (BUYER, SIGNALS_PRIVATE),
        "https://t.me/+live",
        9001,
        |_| in_20_hours,
    )
    .await;

    call(&rig, &message(70, BUYER, "/status")).await;
    let texts = texts_to(&rig, BUYER);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[0].starts_with("Signals: active until "),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].contains("https://t.me/+live"),
        "the live link, never a new one"
    );
    assert!(rig.telegram.delivered("createChatInviteLink").is_empty());

    // Once in the channel, /status only lists.
    rig.telegram.add_member(SIGNALS_PRIVATE, BUYER);
    call(&rig, &message(71, BUYER, "/status")).await;
    assert_eq!(texts_to(&rig, BUYER).len(), 3);
}

#[tokio::test]
async fn status_without_a_usable_link_reissues_the_invite_once() {
    let rig = rig().await;
    let paid_at = rig.clock.now();
    subscribe(&rig, BUYER, SIGNALS_PRIVATE, paid_at, 9002).await;
    // The payment's invite was sent long ago; its link has lapsed.
    let mut record = telepay_core::fixtures::sample_record(9002);
    record.telegram_invite_sent = true;
    record.telegram_invite_link = Some("https://t.me/+old".into());
    record.purchase.as_mut().unwrap().private_channel_id = SIGNALS_PRIVATE;
    rig.bot.store().put_payment(record);

    call(&rig, &message(80, BUYER, "/status")).await;
    assert_eq!(
        texts_to(&rig, BUYER)[1],
        "You are not in Signals yet; a new invite is on its way."
    );
    let queued = rig.bot.invites().bodies();
    assert_eq!(queued.len(), 1, "one invite re-issued");
    assert!(queued[0].contains("\"payment_id\":9002"));
    let revoked = rig.telegram.delivered("revokeChatInviteLink");
    assert_eq!(revoked[0].invite_link(), Some("https://t.me/+old"));
    // Asking again in the same minutes does not re-issue again.
    call(&rig, &message(81, BUYER, "/status")).await;
    assert_eq!(rig.bot.invites().bodies().len(), 1);
}

/// A buyer who passes each one-time link on to a friend and asks /status again gets at
/// most three new invites in a paid period; the fourth ask gets the limit, no invite, and
/// is counted. A renewal opens a new period.
#[tokio::test]
async fn status_gives_at_most_three_new_invites_a_paid_period() {
    let rig = rig().await;
    subscribe(&rig, BUYER, SIGNALS_PRIVATE, rig.clock.now(), 9003).await;
    let mut record = telepay_core::fixtures::sample_record(9003);
    record.telegram_invite_sent = true;
    record.telegram_invite_link = Some("https://t.me/+forwarded".into());
    record.purchase.as_mut().unwrap().private_channel_id = SIGNALS_PRIVATE;
    rig.bot.store().put_payment(record);

    for round in 0..4 {
        call(&rig, &message(90 + round, BUYER, "/status")).await;
        // Past the 10-minute window of one re-issue.
        rig.clock.advance(TimeDelta::minutes(11));
    }
    assert_eq!(rig.bot.invites().bodies().len(), 3, "three new invites");
    let texts = texts_to(&rig, BUYER);
    assert_eq!(
        texts.last().map(String::as_str),
        Some(
            "You have had every new invite to Signals this period allows. If you still \
             cannot get in, please write to the channel's owner."
        )
    );

    // A renewal opens a new period: a new invite again.
    let key = SubscriptionKey::new(UserId::new(BUYER).unwrap(), SIGNALS_PRIVATE);
    let renewal = TimeGrant::new(
        GrantSource::Payment(9004),
        rig.clock.now(),
        AccessDuration::from_days(30).unwrap(),
    );
    telepay_core::access::grant_time(
        rig.bot.store(),
        key,
        &renewal,
        rig.clock.now(),
        &LifecycleSettings::default(),
    )
    .await
    .unwrap();
    let mut second = telepay_core::fixtures::sample_record(9004);
    second.telegram_invite_sent = true;
    second.telegram_invite_link = Some("https://t.me/+second".into());
    second.purchase.as_mut().unwrap().private_channel_id = SIGNALS_PRIVATE;
    rig.bot.store().put_payment(second);
    call(&rig, &message(99, BUYER, "/status")).await;
    assert_eq!(rig.bot.invites().bodies().len(), 4);
}

#[tokio::test]
async fn status_never_sends_a_live_link_that_admits_past_the_paid_time() {
    // GIVEN a buyer paid 30 days whose live link admits for a day past that (made before
    // a refund moved the end back)
    let rig = rig().await;
    subscribe(
        &rig,
        BUYER,
        SIGNALS_PRIVATE,
        rig.clock.now() - TimeDelta::days(29),
        9003,
    )
    .await;
    share_live_link(
        &rig,
        (BUYER, SIGNALS_PRIVATE),
        "https://t.me/+outlives-the-paid-time",
        9003,
        |stored| stored.expires_at + TimeDelta::days(1),
    )
    .await;
    let mut record = telepay_core::fixtures::sample_record(9003);
    record.telegram_invite_sent = true;
    record.purchase.as_mut().unwrap().private_channel_id = SIGNALS_PRIVATE;
    rig.bot.store().put_payment(record);
    // WHEN they ask /status, not being in the channel
    call(&rig, &message(90, BUYER, "/status")).await;
    // THEN that link is not sent: the invite is re-issued (the sender caps its link)
    let texts = texts_to(&rig, BUYER);
    assert!(
        texts
            .iter()
            .all(|text| !text.contains("outlives-the-paid-time")),
        "{texts:?}"
    );
    assert_eq!(
        texts[1],
        "You are not in Signals yet; a new invite is on its way."
    );
}

#[tokio::test]
async fn status_for_time_given_by_an_operator_only_marks_the_buyer_for_an_invite() {
    use telepay_core::operator::Operator;
    // GIVEN a buyer whose only time is an operator's grant (no payment to re-issue), not
    // in the channel
    let rig = rig().await;
    let key = SubscriptionKey::new(UserId::new(BUYER).unwrap(), SIGNALS_PRIVATE);
    let operator = Operator::new(rig.bot.store(), rig.clock.clone());
    let extended = operator
        .extend(key, 7, "a comp", &LifecycleSettings::default())
        .await
        .unwrap();
    // (invited once already, and left the channel since)
    let mut invited = extended.clone();
    invited.needs_invite = false;
    invited.version += 1;
    assert_eq!(
        rig.bot.store().write_subscription(&invited).await.unwrap(),
        telepay_core::store::Versioned::Written
    );
    // WHEN they ask /status
    call(&rig, &message(91, BUYER, "/status")).await;
    // THEN they are told a link is coming, and it is: the subscription is marked for the
    // lifecycle to invite them
    assert_eq!(
        texts_to(&rig, BUYER)[1],
        "You are not in Signals yet; a new invite is on its way."
    );
    let stored = rig
        .bot
        .store()
        .get_subscription(key)
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored.needs_invite,
        "nothing would ever send the promised link"
    );
}

#[tokio::test]
async fn status_shows_a_buyer_their_payments_held_for_a_person_and_why() {
    use telepay_core::ipn::PaymentId;
    use telepay_core::payment::{HoldReason, PaymentReview, ReviewDecision};
    use telepay_core::store::{IngressStore, OperatorStore};
    let rig = rig().await;
    // A short payment of this buyer, held; and another buyer's, and one already decided.
    let ipn = |payment_id: i64, buyer: i64| {
        telepay_core::fixtures::SAMPLE_IPN
            .replace("4492847470", &payment_id.to_string())
            .replace("6271402111", &buyer.to_string())
            .replace("\"actually_paid\":0,", "\"actually_paid\":0.04,")
    };
    for (payment_id, buyer) in [(701, BUYER), (702, BUYER + 1), (703, BUYER)] {
        let review = PaymentReview {
            payment_id: PaymentId::new(payment_id).unwrap(),
            reason: HoldReason::Underpaid,
            ipn: ipn(payment_id, buyer),
            received_at: rig.clock.now(),
            decision: None,
            decided_at: None,
        };
        rig.bot.store().hold_for_review(&review).await.unwrap();
    }
    let decided = rig.bot.store().decide_review(
        PaymentId::new(703).unwrap(),
        ReviewDecision::Rejected,
        rig.clock.now(),
    );
    decided.await.unwrap();

    call(&rig, &message(90, BUYER, "/status")).await;

    // No subscription: only the held payment, as its notice said it.
    let texts = texts_to(&rig, BUYER);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(texts[0].contains("Your payment 701"), "{}", texts[0]);
    assert!(
        texts[0].contains("arrived short: 2.25 USD of 3.21 USD"),
        "{}",
        texts[0]
    );
}

#[tokio::test]
async fn status_shows_a_buyer_their_payments_still_under_way_at_nowpayments() {
    use telepay_core::ipn::PaymentId;
    use telepay_core::store::{NewWatch, PaymentWatchStore, Settlement, WatchClaim, WatchFound};
    let rig = rig().await;
    let now = rig.clock.now();
    let watch = |payment_id: i64, user_id: i64, status: &str| NewWatch {
        payment_id: PaymentId::new(payment_id).unwrap(),
        user_id,
        channel_id: SIGNALS,
        status: status.into(),
        seen_at: now,
        first_check_at: now,
    };
    // This buyer's payment being confirmed; another buyer's; and one of theirs settled.
    let store = rig.bot.store();
    for (payment_id, user_id) in [(801, BUYER), (802, STRANGER), (803, BUYER)] {
        store
            .watch_payment(&watch(payment_id, user_id, "confirming"))
            .await
            .unwrap();
    }
    let claim = WatchClaim {
        payment_id: PaymentId::new(803).unwrap(),
        token: "pass".into(),
        lease_until: now + TimeDelta::minutes(2),
        now,
    };
    assert!(matches!(
        store.claim_watch(&claim).await.unwrap(),
        WatchFound::Claimed(_)
    ));
    let settled = store.settle_watch(claim.payment_id, "pass", Settlement::Unpaid, "expired", now);
    assert_eq!(settled.await.unwrap(), telepay_core::store::Fenced::Done);

    call(&rig, &message(95, BUYER, "/status")).await;

    let texts = texts_to(&rig, BUYER);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].contains("Your payment 801 for Signals is on its way (confirming)"),
        "{}",
        texts[0]
    );
}
