//! The IPN parser and signature verifier on arbitrary input.
//!
//! Properties: nothing panics; `verify` says "verified" exactly when an HMAC computed
//! here, independently, matches the raw body or its canonical form; a body signed with
//! the secret always verifies over the raw bytes; the canonical form is a fixed point.
#![no_main]

use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha512;
use telepay_core::ipn::{Ipn, readable_payment_id};
use telepay_core::signature::{IpnSecret, VerifiedOver, canonical_form, verify};

const SECRET: &str = "fuzz-ipn-secret";

fn hmac_hex(message: &[u8]) -> String {
    let mut mac = Hmac::<Sha512>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(message);
    hex::encode(mac.finalize().into_bytes())
}

fuzz_target!(|data: &[u8]| {
    let secret = IpnSecret::new(SECRET).unwrap();
    // The first byte picks the header: the body's real signature, the signature of its
    // canonical form, or the next bytes taken as the header text.
    let (mode, rest) = data.split_first().map_or((0, data), |(m, r)| (*m, r));
    let canonical = canonical_form(rest);
    let (header, body): (Option<String>, &[u8]) = match mode % 4 {
        0 => (Some(hmac_hex(rest)), rest),
        1 => (canonical.as_deref().map(|c| hmac_hex(c.as_bytes())), rest),
        2 => {
            let split = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let text = String::from_utf8_lossy(&rest[..split]).into_owned();
            (Some(text), rest.get(split + 1..).unwrap_or_default())
        }
        _ => (None, rest),
    };
    let canonical = canonical_form(body);
    let verdict = verify(&secret, body, header.as_deref());

    // Only what NOWPayments sends counts: lowercase hex (surrounding space ignored).
    let header_bytes = header
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.bytes().any(|b| b.is_ascii_uppercase()))
        .and_then(|h| hex::decode(h).ok());
    let matches = |message: &[u8]| {
        header_bytes
            .as_deref()
            .is_some_and(|sig| hex::decode(hmac_hex(message)).unwrap() == sig)
    };
    let expected = if matches(body) {
        Some(VerifiedOver::RawBody)
    } else if canonical.as_deref().is_some_and(|c| matches(c.as_bytes())) {
        Some(VerifiedOver::CanonicalForm)
    } else {
        None
    };
    assert_eq!(verdict.ok(), expected, "verify disagrees with the HMAC");
    if mode % 4 == 0 {
        assert_eq!(
            verdict,
            Ok(VerifiedOver::RawBody),
            "a signed body must verify"
        );
    }

    if let Some(canonical) = &canonical {
        assert_eq!(
            canonical_form(canonical.as_bytes()).as_deref(),
            Some(canonical.as_str()),
            "the canonical form must be a fixed point"
        );
    }
    if let Ok(ipn) = Ipn::parse(body) {
        assert!(
            ipn.payment_id.get() > 0,
            "a parsed IPN has a positive payment_id"
        );
    }
    let _ = readable_payment_id(body);
});
