//! Verify + parse of one IPN: the webhook's CPU cost per request.
//! Target: <= 10 µs on the raw-bytes path. `make bench` runs it.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use telepay_core::fixtures::{SAMPLE_IPN, SAMPLE_IPN_SECRET};
use telepay_core::ipn::Ipn;
use telepay_core::signature::{IpnSecret, VerifiedOver, verify};

fn verify_and_parse(secret: &IpnSecret, body: &[u8], signature: &str) -> Ipn {
    verify(secret, body, Some(signature)).expect("signed");
    Ipn::parse(body).expect("an IPN")
}

fn bench(c: &mut Criterion) {
    let secret = IpnSecret::new(SAMPLE_IPN_SECRET).unwrap();
    let signature = secret.sign(SAMPLE_IPN.as_bytes());

    // The same IPN with its keys in another order: only the canonical form verifies.
    let value: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(SAMPLE_IPN).unwrap();
    let mut fields: Vec<String> = value.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    fields.reverse();
    let unsorted = format!("{{{}}}", fields.join(","));
    assert_eq!(
        verify(&secret, unsorted.as_bytes(), Some(&signature)),
        Ok(VerifiedOver::CanonicalForm)
    );

    c.bench_function("verify+parse sample IPN (raw bytes)", |b| {
        b.iter(|| verify_and_parse(&secret, black_box(SAMPLE_IPN.as_bytes()), &signature))
    });
    c.bench_function("verify+parse unsorted IPN (canonical fallback)", |b| {
        b.iter(|| verify_and_parse(&secret, black_box(unsorted.as_bytes()), &signature))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
