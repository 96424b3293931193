//! np-webhook requests as API Gateway hands them to the function, and their answers.

use lambda_http::{Body, Request, http};
use telepay_core::fixtures::SAMPLE_IPN_SECRET;
use telepay_core::signature::IpnSecret;

pub fn sign(body: &str) -> String {
    IpnSecret::new(SAMPLE_IPN_SECRET)
        .unwrap()
        .sign(body.as_bytes())
}

/// A POST to np-webhook as API Gateway hands it to the function, with the given
/// `x-nowpayments-sig` and content-type headers, if any.
pub fn ipn_request(
    body: impl Into<Vec<u8>>,
    signature: Option<&str>,
    content_type: Option<&str>,
) -> Request {
    let mut builder = http::Request::builder().method("POST").uri("/np-webhook");
    if let Some(signature) = signature {
        builder = builder.header(np_webhook::SIGNATURE_HEADER, signature);
    }
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.body(Body::from(body.into())).unwrap()
}

/// A signed POST as API Gateway hands it to the function.
pub fn signed_ipn(body: &str) -> Request {
    ipn_request(body, Some(&sign(body)), Some("application/json"))
}

pub use telepay_core::fixtures::sample_ipn_with as sample_with;

/// (status, outcome word) of a handler response.
pub fn outcome(response: &http::Response<Body>) -> (u16, String) {
    let body: serde_json::Value = serde_json::from_slice(response.body().as_ref()).unwrap();
    (
        response.status().as_u16(),
        body["outcome"].as_str().unwrap_or_default().to_owned(),
    )
}
