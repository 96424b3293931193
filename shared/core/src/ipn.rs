//! The NOWPayments IPN (instant payment notification) body.
//!
//! Parsing is lenient where NOWPayments is loose (ids as numbers or strings, timestamps as
//! ISO strings or epoch milliseconds) and strict where money is decided (a positive
//! `payment_id`, a known `payment_status`). Unknown fields are kept, not dropped.
//!
//! Tests: below, `tests/tests/bad_input.rs`, and `make fuzz` (`ipn`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A NOWPayments payment id: the `processed_payments` primary key, a BIGINT > 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct PaymentId(i64);

impl PaymentId {
    pub fn new(id: i64) -> Result<Self, InvalidId> {
        if id > 0 {
            Ok(Self(id))
        } else {
            Err(InvalidId("payment_id", id))
        }
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for PaymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for PaymentId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = lenient_i64(d)?;
        PaymentId::new(id).map_err(de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} must be a positive integer, got {1}")]
pub struct InvalidId(pub &'static str, pub i64);

/// Every status NOWPayments sends. Only `Finished` can grant access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Waiting,
    Confirming,
    Confirmed,
    Sending,
    PartiallyPaid,
    Finished,
    Failed,
    Refunded,
    Expired,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 9] = [
        Self::Waiting,
        Self::Confirming,
        Self::Confirmed,
        Self::Sending,
        Self::PartiallyPaid,
        Self::Finished,
        Self::Failed,
        Self::Refunded,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Confirming => "confirming",
            Self::Confirmed => "confirmed",
            Self::Sending => "sending",
            Self::PartiallyPaid => "partially_paid",
            Self::Finished => "finished",
            Self::Failed => "failed",
            Self::Refunded => "refunded",
            Self::Expired => "expired",
        }
    }

    /// Only a finished payment has the merchant's money: nothing else grants access.
    pub fn grants_access(self) -> bool {
        self == Self::Finished
    }

    /// Money may be on its way: NOWPayments has more to say about this payment. Such a
    /// payment is watched until its outcome is known ([`crate::recovery`]).
    pub fn is_under_way(self) -> bool {
        matches!(
            self,
            Self::Waiting | Self::Confirming | Self::Confirmed | Self::Sending
        )
    }
}

impl FromStr for PaymentStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown payment_status {0:?}")]
pub struct UnknownStatus(pub String);

/// NOWPayments' fee breakdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Fee {
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default, rename = "depositFee", deserialize_with = "lenient_opt_f64")]
    pub deposit_fee: Option<f64>,
    #[serde(default, rename = "serviceFee", deserialize_with = "lenient_opt_f64")]
    pub service_fee: Option<f64>,
    #[serde(
        default,
        rename = "withdrawalFee",
        deserialize_with = "lenient_opt_f64"
    )]
    pub withdrawal_fee: Option<f64>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One IPN as NOWPayments posts it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Ipn {
    pub payment_id: PaymentId,
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub parent_payment_id: Option<i64>,
    #[serde(default, deserialize_with = "lenient_opt_i64")]
    pub invoice_id: Option<i64>,
    pub payment_status: PaymentStatus,
    #[serde(default)]
    pub pay_address: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub payin_extra_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_f64")]
    pub price_amount: Option<f64>,
    #[serde(default)]
    pub price_currency: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_f64")]
    pub pay_amount: Option<f64>,
    #[serde(default, deserialize_with = "lenient_opt_f64")]
    pub actually_paid: Option<f64>,
    #[serde(default, deserialize_with = "lenient_opt_f64")]
    pub actually_paid_at_fiat: Option<f64>,
    #[serde(default)]
    pub pay_currency: Option<String>,
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default)]
    pub order_description: Option<String>,
    /// A numeric string in NOWPayments' payloads; kept as text.
    #[serde(default, deserialize_with = "lenient_opt_string")]
    pub purchase_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_opt_f64")]
    pub outcome_amount: Option<f64>,
    #[serde(default)]
    pub outcome_currency: Option<String>,
    /// Null or an array of extra ids; kept as sent.
    #[serde(default)]
    pub payment_extra_ids: Option<Vec<Value>>,
    #[serde(default)]
    pub fee: Option<Fee>,
    #[serde(default, deserialize_with = "lenient_opt_timestamp")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "lenient_opt_timestamp")]
    pub updated_at: Option<DateTime<Utc>>,
    /// Fields this version does not know yet: kept, never an error.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
#[error("not a NOWPayments IPN: {0}")]
pub struct IpnParseError(#[from] serde_json::Error);

impl Ipn {
    pub fn parse(body: &[u8]) -> Result<Self, IpnParseError> {
        Ok(serde_json::from_slice(body)?)
    }

    /// What arrived, in the price's currency: the price scaled by the share of
    /// `pay_amount` that arrived (`actually_paid / pay_amount`, both in the paid crypto,
    /// so the result is in `price_currency` by construction); only when those are
    /// missing, `actually_paid_at_fiat` (often 0, and its currency is not documented).
    /// `None` when neither is known.
    pub fn paid_in_price_currency(&self) -> Option<f64> {
        let by_share = || {
            let asked = self.pay_amount.filter(|asked| *asked > 0.0)?;
            let arrived = self.actually_paid.filter(|arrived| *arrived > 0.0)?;
            Some(self.price_amount? * arrived / asked)
        };
        by_share().or_else(|| self.actually_paid_at_fiat.filter(|fiat| *fiat > 0.0))
    }

    /// Whether less arrived than asked, beyond `tolerance_percent`: by the crypto amounts
    /// (`actually_paid` against `pay_amount`), which NOWPayments states for every payment.
    /// Unknown amounts (0 or missing, as in many `finished` IPNs) are not short.
    pub fn arrived_short(&self, tolerance_percent: f64) -> bool {
        match (self.pay_amount, self.actually_paid) {
            (Some(asked), Some(arrived)) if asked > 0.0 && arrived > 0.0 => {
                arrived < asked * (1.0 - tolerance_percent / 100.0)
            }
            _ => false,
        }
    }
}

/// The payment id of a body that is JSON but not a valid IPN, for the error log.
pub fn readable_payment_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct JustTheId<'a> {
        #[serde(borrow)]
        payment_id: &'a serde_json::value::RawValue,
    }
    // The id as sent (a number too big for i64 stays readable), never anything long or
    // structured: this goes into a log line.
    let raw = serde_json::from_slice::<JustTheId>(body)
        .ok()?
        .payment_id
        .get();
    let numeric = |s: &str| {
        s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
    };
    if numeric(raw) {
        return Some(raw.to_owned());
    }
    match serde_json::from_str::<Value>(raw).ok()? {
        Value::String(s) if s.len() <= 32 => Some(s),
        _ => None,
    }
}

// ---- lenient field readers -------------------------------------------------------------

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Int(i64),
    Float(f64),
    Text(String),
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match NumberOrString::deserialize(d)? {
        NumberOrString::Int(i) => Ok(i),
        NumberOrString::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        NumberOrString::Float(f) => Err(de::Error::custom(format!("{f} is not an integer"))),
        NumberOrString::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| de::Error::custom(format!("{s:?} is not an integer"))),
    }
}

fn lenient_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<NumberOrString>::deserialize(d)? {
        None => Ok(None),
        Some(NumberOrString::Text(s)) if s.trim().is_empty() => Ok(None),
        Some(NumberOrString::Int(i)) => Ok(Some(i)),
        Some(other) => {
            let value = match other {
                NumberOrString::Float(f) => Value::from(f),
                NumberOrString::Text(s) => Value::from(s),
                NumberOrString::Int(i) => Value::from(i),
            };
            lenient_i64(value).map(Some).map_err(de::Error::custom)
        }
    }
}

fn lenient_opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<NumberOrString>::deserialize(d)? {
        None => Ok(None),
        Some(NumberOrString::Int(i)) => Ok(Some(i as f64)),
        Some(NumberOrString::Float(f)) => Ok(Some(f)),
        Some(NumberOrString::Text(s)) if s.trim().is_empty() => Ok(None),
        Some(NumberOrString::Text(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("{s:?} is not a number"))),
    }
}

fn lenient_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<NumberOrString>::deserialize(d)? {
        None => None,
        Some(NumberOrString::Int(i)) => Some(i.to_string()),
        Some(NumberOrString::Float(f)) => Some(f.to_string()),
        Some(NumberOrString::Text(s)) => Some(s),
    })
}

fn lenient_opt_timestamp<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    let parsed = match Option::<NumberOrString>::deserialize(d)? {
        None => return Ok(None),
        Some(NumberOrString::Int(ms)) => Utc.timestamp_millis_opt(ms).single(),
        Some(NumberOrString::Float(ms)) => Utc.timestamp_millis_opt(ms as i64).single(),
        Some(NumberOrString::Text(s)) if s.trim().is_empty() => return Ok(None),
        Some(NumberOrString::Text(s)) => parse_timestamp_text(s.trim()),
    };
    parsed
        .map(Some)
        .ok_or_else(|| de::Error::custom("unreadable timestamp"))
}

fn parse_timestamp_text(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(ms) = s.parse::<i64>() {
        return Utc.timestamp_millis_opt(ms).single();
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // NOWPayments also sends "2026-03-24T22:20:31.880Z"-like strings without a zone.
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(s, format).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::SAMPLE_IPN;

    #[test]
    fn the_sample_ipn_parses_with_every_field() {
        let ipn = Ipn::parse(SAMPLE_IPN.as_bytes()).unwrap();
        assert_eq!(ipn.payment_id.get(), 4492847470);
        assert_eq!(ipn.payment_status, PaymentStatus::Finished);
        assert_eq!(
            ipn.order_id.as_deref(),
            Some("PGP-6271402111|-1003111266231")
        );
        assert_eq!(ipn.price_amount, Some(3.21));
        assert_eq!(ipn.price_currency.as_deref(), Some("usd"));
        assert_eq!(ipn.outcome_amount, Some(0.001408));
        assert_eq!(ipn.invoice_id, Some(6070266182));
        assert_eq!(ipn.parent_payment_id, None);
        assert_eq!(ipn.payment_extra_ids, None);
        assert_eq!(ipn.purchase_id.as_deref(), Some("6105448077"));
        assert_eq!(ipn.fee.as_ref().unwrap().currency.as_deref(), Some("eth"));
        assert_eq!(
            ipn.updated_at.unwrap().to_rfc3339(),
            "2026-03-24T22:20:31.880+00:00"
        );
    }

    #[test]
    fn unknown_fields_are_kept() {
        let body = SAMPLE_IPN.replace("{", r#"{"new_field":{"x":1},"#);
        let ipn = Ipn::parse(body.as_bytes()).unwrap();
        assert_eq!(ipn.other["new_field"]["x"], 1);
    }

    #[test]
    fn ids_and_amounts_may_arrive_as_strings_and_timestamps_as_iso_text() {
        let body = r#"{"payment_id":"42","payment_status":"finished","price_amount":"3.50",
            "parent_payment_id":"7","payment_extra_ids":[1,"a"],
            "created_at":"2026-03-24T22:20:31.880Z","updated_at":"2026-03-24 22:20:31"}"#;
        let ipn = Ipn::parse(body.as_bytes()).unwrap();
        assert_eq!(ipn.payment_id.get(), 42);
        assert_eq!(ipn.parent_payment_id, Some(7));
        assert_eq!(ipn.price_amount, Some(3.5));
        assert_eq!(ipn.payment_extra_ids.as_ref().unwrap().len(), 2);
        assert_eq!(ipn.created_at.unwrap().timestamp_millis(), 1774390831880);
        assert!(ipn.updated_at.is_some());
    }

    #[test]
    fn a_zero_negative_or_missing_payment_id_is_not_an_ipn() {
        for body in [
            r#"{"payment_id":0,"payment_status":"finished"}"#,
            r#"{"payment_id":-5,"payment_status":"finished"}"#,
            r#"{"payment_id":"abc","payment_status":"finished"}"#,
            r#"{"payment_id":1.5,"payment_status":"finished"}"#,
            r#"{"payment_status":"finished"}"#,
        ] {
            assert!(Ipn::parse(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn every_documented_status_parses_and_only_finished_grants_access() {
        for status in PaymentStatus::ALL {
            let body = format!(
                r#"{{"payment_id":1,"payment_status":"{}"}}"#,
                status.as_str()
            );
            let ipn = Ipn::parse(body.as_bytes()).unwrap();
            assert_eq!(ipn.payment_status, status);
            assert_eq!(
                ipn.payment_status.grants_access(),
                status == PaymentStatus::Finished
            );
            assert_eq!(status.as_str().parse::<PaymentStatus>(), Ok(status));
        }
        assert!(Ipn::parse(br#"{"payment_id":1,"payment_status":"paid"}"#).is_err());
        assert!("FINISHED".parse::<PaymentStatus>().is_err());
    }

    #[test]
    fn the_payment_id_of_a_broken_ipn_is_still_readable_for_the_log() {
        let body = br#"{"payment_id":4492847470,"payment_status":"bogus"}"#;
        assert!(Ipn::parse(body).is_err());
        assert_eq!(readable_payment_id(body).as_deref(), Some("4492847470"));
        assert_eq!(readable_payment_id(b"[1,2]"), None);
    }
}

#[cfg(test)]
mod paid_tests {
    use super::*;
    use crate::fixtures::sample_ipn_with;

    fn ipn(fields: &[(&str, serde_json::Value)]) -> Ipn {
        let mut body: serde_json::Value =
            serde_json::from_str(&sample_ipn_with("payment_status", "partially_paid".into()))
                .unwrap();
        for (name, value) in fields {
            body[*name] = value.clone();
        }
        Ipn::parse(body.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn what_arrived_is_the_price_scaled_by_the_share_of_the_crypto_that_arrived() {
        // Asked 0.05 LTC for 3.21 USD; 0.04 arrived: 2.568 USD, whatever the fiat field.
        let short = ipn(&[
            ("pay_amount", 0.05.into()),
            ("actually_paid", 0.04.into()),
            ("actually_paid_at_fiat", 9.0.into()),
        ]);
        let paid = short.paid_in_price_currency().unwrap();
        assert!((paid - 2.568).abs() < 1e-9, "{paid}");
        assert!(short.arrived_short(1.0));
        // The fiat field only when the crypto amounts are unknown.
        let fiat_only = ipn(&[
            ("actually_paid", 0.into()),
            ("actually_paid_at_fiat", 2.5.into()),
        ]);
        assert_eq!(fiat_only.paid_in_price_currency(), Some(2.5));
        let unknown = ipn(&[
            ("actually_paid", 0.into()),
            ("actually_paid_at_fiat", 0.into()),
        ]);
        assert_eq!(unknown.paid_in_price_currency(), None);
        assert!(!unknown.arrived_short(1.0), "unknown amounts are not short");
        // Within the tolerance is not short.
        let fee = ipn(&[("pay_amount", 1.0.into()), ("actually_paid", 0.995.into())]);
        assert!(!fee.arrived_short(1.0));
        assert!(fee.arrived_short(0.1));
    }
}
