//! NOWPayments IPN signatures: hex HMAC-SHA512 of the body, keyed with the IPN secret.
//!
//! NOWPayments signs `JSON.stringify(sortObject(JSON.parse(body)))`, which is usually the
//! body as sent but not always (pretty-printed or re-ordered by a proxy). So we verify over
//! the raw bytes first (cheap, no parse) and only then over the canonical form, rebuilt
//! here byte for byte as Node.js prints it.
//!
//! Tests: below, `shared/core/tests/node_canonical.rs` (against Node.js itself), and
//! `make fuzz` (`ipn`).

use std::cmp::Ordering;
use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha512;

type HmacSha512 = Hmac<Sha512>;

/// The IPN secret from the NOWPayments dashboard. Never printed: `Debug` is redacted.
#[derive(Clone)]
pub struct IpnSecret(String);

impl IpnSecret {
    pub fn new(secret: impl Into<String>) -> Result<Self, EmptySecret> {
        let secret = secret.into();
        if secret.trim().is_empty() {
            return Err(EmptySecret);
        }
        Ok(Self(secret))
    }

    /// Whether `other` is the same secret (a rotation's check; never printed).
    pub fn same_as(&self, other: &Self) -> bool {
        self.0 == other.0
    }

    fn mac(&self) -> HmacSha512 {
        // HMAC accepts keys of any length; this cannot fail.
        HmacSha512::new_from_slice(self.0.as_bytes()).expect("HMAC takes any key length")
    }

    /// Hex HMAC-SHA512 of `message`: what NOWPayments puts in `x-nowpayments-sig`.
    pub fn sign(&self, message: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of `signature` (raw HMAC bytes) over `message`.
    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        let mut mac = self.mac();
        mac.update(message);
        mac.verify_slice(signature).is_ok()
    }
}

impl fmt::Debug for IpnSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IpnSecret(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the IPN secret is empty")]
pub struct EmptySecret;

/// Which bytes the signature matched: kept for logs and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifiedOver {
    RawBody,
    CanonicalForm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the x-nowpayments-sig header is missing")]
    Missing,
    #[error("the x-nowpayments-sig header is not 128 lowercase hex digits (an HMAC-SHA512)")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Verifies `header` (the `x-nowpayments-sig` value, if any) over `body`.
pub fn verify(
    secret: &IpnSecret,
    body: &[u8],
    header: Option<&str>,
) -> Result<VerifiedOver, SignatureError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty());
    let header = header.ok_or(SignatureError::Missing)?;
    // NOWPayments sends Node's `digest('hex')`: always lowercase. Anything else was not
    // produced by them, so it is refused before any HMAC work.
    if header.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(SignatureError::Malformed);
    }
    let mut signature = [0u8; 64];
    hex::decode_to_slice(header, &mut signature).map_err(|_| SignatureError::Malformed)?;
    if secret.verifies(body, &signature) {
        return Ok(VerifiedOver::RawBody);
    }
    match canonical_form(body) {
        Some(canonical) if secret.verifies(canonical.as_bytes(), &signature) => {
            Ok(VerifiedOver::CanonicalForm)
        }
        _ => Err(SignatureError::Mismatch),
    }
}

/// `JSON.stringify(sortObject(JSON.parse(body)))` exactly as Node.js prints it, with
/// NOWPayments' documented `sortObject`. `None` when the body is not JSON.
pub fn canonical_form(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let mut out = String::with_capacity(body.len());
    write_value(&value, &mut out);
    Some(out)
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        // sortObject turns arrays into objects keyed "0", "1", ...
        Value::Array(items) => {
            out.push('{');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push('"');
                out.push_str(&index.to_string());
                out.push_str("\":");
                write_value(item, out);
            }
            out.push('}');
        }
        Value::Object(map) => {
            // `result["__proto__"] = v` in sortObject sets the prototype instead of a key,
            // so Node drops that key from the output; so do we.
            let mut keys: Vec<&String> = map.keys().filter(|k| *k != "__proto__").collect();
            keys.sort_by(|a, b| js_property_order(a, b));
            out.push('{');
            for (index, key) in keys.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(&map[key.as_str()], out);
            }
            out.push('}');
        }
    }
}

/// The order in which a JS object lists its own keys: array-index keys first in numeric
/// order, then the rest in insertion order, which `sort()` made UTF-16 code-unit order.
fn js_property_order(a: &str, b: &str) -> Ordering {
    match (array_index(a), array_index(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.encode_utf16().cmp(b.encode_utf16()),
    }
}

/// A canonical array index: "0" or no leading zero, at most 2^32 - 2.
fn array_index(key: &str) -> Option<u32> {
    let bytes = key.as_bytes();
    if bytes.is_empty() || bytes.len() > 10 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    let value: u64 = key.parse().ok()?;
    (value < u64::from(u32::MAX)).then_some(value as u32)
}

/// Numbers go through f64 as in JS, then print as `Number.prototype.toString` does.
fn write_number(n: &serde_json::Number, out: &mut String) {
    let float = if let Some(i) = n.as_i64() {
        i as f64
    } else if let Some(u) = n.as_u64() {
        u as f64
    } else {
        n.as_f64().unwrap_or(f64::NAN)
    };
    if !float.is_finite() {
        // JSON.stringify prints non-finite numbers as null.
        out.push_str("null");
    } else if float == 0.0 {
        // Covers -0, which JS prints as "0".
        out.push('0');
    } else {
        let mut buffer = ryu_js::Buffer::new();
        out.push_str(buffer.format_finite(float));
    }
}

/// JSON.stringify's string escaping: only `"`, `\` and control characters.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> IpnSecret {
        IpnSecret::new("test-ipn-secret").unwrap()
    }

    fn canonical(body: &str) -> String {
        canonical_form(body.as_bytes()).expect("valid JSON")
    }

    #[test]
    fn a_body_signed_as_sent_verifies_over_the_raw_bytes() {
        let body = crate::fixtures::SAMPLE_IPN;
        let sig = secret().sign(body.as_bytes());
        assert_eq!(
            verify(&secret(), body.as_bytes(), Some(&sig)),
            Ok(VerifiedOver::RawBody)
        );
    }

    #[test]
    fn the_sample_ipn_is_already_in_canonical_form() {
        assert_eq!(
            canonical(crate::fixtures::SAMPLE_IPN),
            crate::fixtures::SAMPLE_IPN
        );
    }

    #[test]
    fn a_pretty_printed_shuffled_body_verifies_over_its_canonical_form() {
        let sorted = crate::fixtures::SAMPLE_IPN;
        let value: serde_json::Map<String, Value> = serde_json::from_str(sorted).unwrap();
        let mut entries: Vec<_> = value.into_iter().collect();
        entries.reverse();
        let mut pretty = String::from("{\n");
        for (index, (key, value)) in entries.iter().enumerate() {
            let sep = if index + 1 < entries.len() { "," } else { "" };
            pretty.push_str(&format!("    \"{key}\" : {}{sep}\n", value));
        }
        pretty.push('}');
        assert_ne!(pretty, sorted);
        let sig = secret().sign(sorted.as_bytes());
        assert_eq!(
            verify(&secret(), pretty.as_bytes(), Some(&sig)),
            Ok(VerifiedOver::CanonicalForm)
        );
    }

    #[test]
    fn surrounding_space_is_accepted_but_uppercase_hex_is_not_what_nowpayments_sends() {
        let body = crate::fixtures::SAMPLE_IPN.as_bytes();
        let sig = format!("  {}  ", secret().sign(body));
        assert!(verify(&secret(), body, Some(&sig)).is_ok());
        let upper = secret().sign(body).to_uppercase();
        assert_eq!(
            verify(&secret(), body, Some(&upper)),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn missing_malformed_and_wrong_signatures_are_refused() {
        let body = crate::fixtures::SAMPLE_IPN.as_bytes();
        assert_eq!(verify(&secret(), body, None), Err(SignatureError::Missing));
        assert_eq!(
            verify(&secret(), body, Some("  ")),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(&secret(), body, Some("zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&secret(), body, Some(&"ab".repeat(32))),
            Err(SignatureError::Malformed),
            "a SHA-256-sized signature is not an HMAC-SHA512"
        );
        let other = IpnSecret::new("another-secret").unwrap();
        assert_eq!(
            verify(&secret(), body, Some(&other.sign(body))),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_signature_over_a_changed_amount_is_refused() {
        let body = crate::fixtures::SAMPLE_IPN;
        let sig = secret().sign(body.as_bytes());
        let tampered = body.replace("\"price_amount\":3.21", "\"price_amount\":321");
        assert_eq!(
            verify(&secret(), tampered.as_bytes(), Some(&sig)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn numbers_print_as_javascript_prints_them() {
        assert_eq!(canonical(r#"{"a":1.50}"#), r#"{"a":1.5}"#);
        assert_eq!(canonical(r#"{"a":0.0000001}"#), r#"{"a":1e-7}"#);
        assert_eq!(canonical(r#"{"a":1e21}"#), r#"{"a":1e+21}"#);
        assert_eq!(canonical(r#"{"a":1e20}"#), r#"{"a":100000000000000000000}"#);
        assert_eq!(canonical(r#"{"a":-0.0}"#), r#"{"a":0}"#);
        assert_eq!(canonical(r#"{"a":0.000001}"#), r#"{"a":0.000001}"#);
        assert_eq!(
            canonical(r#"{"a":12345678901234567890}"#),
            r#"{"a":12345678901234567000}"#
        );
        assert_eq!(canonical(r#"{"a":2.0E-3}"#), r#"{"a":0.002}"#);
    }

    #[test]
    fn strings_keep_slash_and_unicode_raw_and_escape_controls() {
        assert_eq!(
            canonical(r#"{"d":"a/b ünï \u00e9 😀 \"q\" \\ \u0001 \n"}"#),
            "{\"d\":\"a/b ünï é 😀 \\\"q\\\" \\\\ \\u0001 \\n\"}"
        );
    }

    #[test]
    fn arrays_become_objects_and_integer_keys_come_first() {
        assert_eq!(
            canonical(r#"{"b":[3,{"z":1,"y":[true,null]}],"a":null,"10":1,"2":2,"01":3}"#),
            r#"{"2":2,"10":1,"01":3,"a":null,"b":{"0":3,"1":{"y":{"0":true,"1":null},"z":1}}}"#
        );
    }

    #[test]
    fn keys_sort_by_utf16_code_units_not_code_points() {
        // U+FF21 sorts after U+1F600 in UTF-16 (0xFF21 > 0xD83D) though before it in UTF-8.
        assert_eq!(canonical(r#"{"Ａ":1,"😀":2}"#), r#"{"😀":2,"Ａ":1}"#);
    }

    #[test]
    fn a_body_that_is_not_json_has_no_canonical_form() {
        assert_eq!(canonical_form(b"payment_id=1"), None);
    }

    #[test]
    fn the_secret_never_prints() {
        assert_eq!(format!("{:?}", secret()), "IpnSecret(<redacted>)");
        assert_eq!(IpnSecret::new(" ").unwrap_err(), EmptySecret);
    }
}
