//! Each verdict, from the facts Telegram, NOWPayments and the endpoint answer.

use super::*;

fn facts(url: &str) -> WebhookFacts {
    WebhookFacts {
        url: url.into(),
        allowed_updates: Some(ALLOWED_UPDATES.iter().map(|k| (*k).to_owned()).collect()),
        last_error: None,
        pending: 0,
    }
}

#[test]
fn a_polling_server_needs_no_webhook_and_is_told_to_remove_one() {
    let none = polled(&facts(""));
    assert_eq!(none.verdict, Verdict::Ok, "{}", none.line());
    let set = polled(&facts("https://x.example/telegram-webhook"));
    assert_eq!(set.verdict, Verdict::Fix);
    assert!(set.detail.contains("refuses getUpdates"), "{}", set.line());
}

#[test]
fn the_webhook_must_point_at_our_url_ask_for_our_updates_and_not_fail() {
    let ours = "https://x.example/telegram-webhook";
    assert_eq!(webhook(Some(ours), &facts(ours)).verdict, Verdict::Ok);
    let unset = webhook(Some(ours), &facts(""));
    assert!(
        unset.detail.contains("no webhook is set"),
        "{}",
        unset.line()
    );
    let elsewhere = webhook(Some(ours), &facts("https://old.example/hook"));
    assert!(
        elsewhere.detail.contains("not https://x.example"),
        "{}",
        elsewhere.line()
    );
    let mut default_kinds = facts(ours);
    default_kinds.allowed_updates = None;
    let detail = webhook(Some(ours), &default_kinds).detail;
    assert!(
        detail.contains("chat_member") && !detail.contains("chat_join_request"),
        "Telegram's default has every kind but chat_member: {detail}"
    );
    // A webhook set before joins were watched is told to be set again.
    let mut before = facts(ours);
    before.allowed_updates = Some(
        ALLOWED_UPDATES[..4]
            .iter()
            .map(|k| (*k).to_owned())
            .collect(),
    );
    let line = webhook(Some(ours), &before).line();
    assert!(
        line.starts_with("FIX") && line.contains("chat_member"),
        "{line}"
    );
    let mut refused = facts(ours);
    refused.last_error = Some("Wrong response from the webhook: 401 Unauthorized".into());
    let line = webhook(Some(ours), &refused).line();
    assert!(
        line.starts_with("FIX") && line.contains("secret token"),
        "{line}"
    );
}

#[test]
fn the_bot_must_be_an_administrator_that_may_invite_and_ban() {
    let check = || "channel Club (-1001)".to_owned();
    let ok = rights(
        check(),
        "bot",
        BotStanding::Admin {
            invite: true,
            restrict: true,
        },
    );
    assert_eq!(ok.verdict, Verdict::Ok);
    assert_eq!(
        rights(check(), "bot", BotStanding::Creator).verdict,
        Verdict::Ok
    );
    let no_ban = rights(
        check(),
        "bot",
        BotStanding::Admin {
            invite: true,
            restrict: false,
        },
    );
    assert!(no_ban.detail.contains("Ban users"), "{}", no_ban.line());
    let no_invite = rights(
        check(),
        "bot",
        BotStanding::Admin {
            invite: false,
            restrict: true,
        },
    );
    assert!(
        no_invite.detail.contains("Invite users"),
        "{}",
        no_invite.line()
    );
    for standing in [BotStanding::Member, BotStanding::Out, BotStanding::Unknown] {
        let finding = rights(check(), "bot", standing);
        assert_eq!(finding.verdict, Verdict::Fix);
        assert!(
            finding.detail.contains("add @bot as an administrator"),
            "{}",
            finding.line()
        );
    }
}

#[test]
fn the_ipn_endpoint_must_take_our_signed_probe_and_refuse_an_unsigned_one() {
    let answer = |status, outcome: &str| {
        Ok(ProbeAnswer {
            status,
            outcome: outcome.into(),
        })
    };
    let url = "https://x.example/np-webhook";
    assert_eq!(
        ipn_verdict(url, answer(200, "ignored"), answer(401, "bad_signature")).verdict,
        Verdict::Ok
    );
    let other_secret = ipn_verdict(
        url,
        answer(401, "bad_signature"),
        answer(401, "bad_signature"),
    );
    assert!(
        other_secret.detail.contains("IPN secret differs"),
        "{}",
        other_secret.line()
    );
    let unreachable = ipn_verdict(url, Err("connection refused".into()), Err("x".into()));
    assert!(
        unreachable.detail.contains("does not answer"),
        "{}",
        unreachable.line()
    );
    let not_ours = ipn_verdict(url, answer(404, ""), answer(404, ""));
    assert!(
        not_ours.detail.contains("not TelePay"),
        "{}",
        not_ours.line()
    );
    let open = ipn_verdict(url, answer(200, "ignored"), answer(200, "ignored"));
    assert!(open.detail.contains("must refuse"), "{}", open.line());
}

#[test]
fn the_probe_ipn_is_expired_so_it_can_never_grant() {
    let secret = IpnSecret::new("probe-secret").unwrap();
    let (body, signature) = probe_ipn(&secret);
    let ipn = crate::ipn::Ipn::parse(body.as_bytes()).unwrap();
    assert_eq!(ipn.payment_status, crate::ipn::PaymentStatus::Expired);
    assert!(!ipn.payment_status.grants_access() && !ipn.payment_status.is_under_way());
    assert!(crate::signature::verify(&secret, body.as_bytes(), Some(&signature)).is_ok());
}

#[test]
fn the_key_and_the_dead_letters_say_what_to_do() {
    assert_eq!(key(Ok(vec!["btc".into()])).verdict, Verdict::Ok);
    assert!(key(Ok(vec![])).detail.contains("accepts no coin"));
    assert!(
        key(Err(StatusError::Refused("Invalid api key".into())))
            .detail
            .contains("refuses TELEPAY_NOWPAYMENTS_API_KEY")
    );
    assert_eq!(dead_letters("invite", 0).verdict, Verdict::Ok);
    assert!(
        dead_letters("invite", 3)
            .detail
            .contains("telepay dlq list invite")
    );
}

fn subscriber(endpoint: &str, confirmed: bool) -> AlarmSubscriber {
    AlarmSubscriber {
        protocol: "email".into(),
        endpoint: endpoint.into(),
        confirmed,
    }
}

#[test]
fn alarms_reach_someone_only_through_a_confirmed_subscription() {
    assert_eq!(alarm_subscribers(&[]).verdict, Verdict::Fix);
    let pending = alarm_subscribers(&[subscriber("owner@example.com", false)]);
    assert_eq!(pending.verdict, Verdict::Fix);
    assert!(
        pending
            .detail
            .contains("owner@example.com has not confirmed")
    );
    let told = alarm_subscribers(&[
        subscriber("owner@example.com", true),
        subscriber("ops@example.com", false),
    ]);
    assert_eq!(told.verdict, Verdict::Ok);
    assert_eq!(
        told.detail,
        "told: email owner@example.com; not confirmed yet: ops@example.com"
    );
}
