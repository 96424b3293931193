//! Fixtures shared by tests, benchmarks and the sample events.

/// NOWPayments' sample IPN (compact, sorted: already in canonical form).
pub const SAMPLE_IPN: &str = r#"{"actually_paid":0,"actually_paid_at_fiat":0,"fee":{"currency":"eth","depositFee":0,"serviceFee":0,"withdrawalFee":0},"invoice_id":6070266182,"order_description":"DESCRIPTION | ItemName x1 (+1 more)","order_id":"PGP-6271402111|-1003111266231","outcome_amount":0.001408,"outcome_currency":"eth","parent_payment_id":null,"pay_address":"MEEim9nyiAWcDbMAqVZj6tE5xktqbSDrCJ","pay_amount":0.05716941,"pay_currency":"ltc","payin_extra_id":null,"payment_extra_ids":null,"payment_id":4492847470,"payment_status":"finished","price_amount":3.21,"price_currency":"usd","purchase_id":"6105448077","updated_at":1774390831880}"#;

/// The sample IPN with one field set to `value` (compact, keys sorted).
pub fn sample_ipn_with(field: &str, value: serde_json::Value) -> String {
    let mut ipn: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(SAMPLE_IPN).expect("the sample IPN is JSON");
    ipn.insert(field.into(), value);
    serde_json::to_string(&ipn).expect("a JSON map serializes")
}

/// The IPN secret the sample events in `events/` are signed with. Test use only.
pub const SAMPLE_IPN_SECRET: &str = "telepay-sample-ipn-secret";

/// A directory granting the sample IPN's channel at its price.
pub const SAMPLE_DIRECTORY: &str = include_str!("../../../events/demo-directory.json");

/// The buyer and channel of the sample IPN.
pub const SAMPLE_USER_ID: i64 = 6271402111;
pub const SAMPLE_CHANNEL_ID: i64 = -1003111266231;

/// An accepted record for the sample IPN's buyer and channel, as the webhook writes it.
pub fn sample_record(payment_id: i64) -> crate::payment::ProcessedPayment {
    use crate::ipn::PaymentId;
    use crate::order::{ChannelId, UserId};
    crate::payment::ProcessedPayment::accepted(
        PaymentId::new(payment_id).expect("a positive payment id"),
        UserId::new(SAMPLE_USER_ID).unwrap(),
        ChannelId::new(SAMPLE_CHANNEL_ID).unwrap(),
        "ab".repeat(32),
        crate::payment::Purchase {
            private_channel_id: SAMPLE_CHANNEL_ID,
            subscription_days: 30,
            duration_seconds: Some(30 * 86_400),
            price_amount: 3.21,
            price_currency: "usd".into(),
            outcome_amount: Some(0.001408),
            overpaid_by: None,
            prorated_from_seconds: None,
            recovered: false,
            star_charge_id: None,
            outcome_currency: Some("eth".into()),
        },
        chrono::Utc::now(),
    )
}
