//! np-webhook: the NOWPayments IPN endpoint behind API Gateway.
//!
//! A thin adapter: it takes what the decision needs from the HTTP request, hands it to
//! [`PaymentWebhook::receive`], and turns the outcome into the response. Generic over
//! the store and queue, so tests and the local runner call exactly what Lambda calls.

use std::convert::Infallible;
use std::time::Duration;

use lambda_http::http::{Response, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use telepay_core::queue::MessageQueue;
use telepay_core::store::{
    IngressStore, OperatorStore, PaymentWatchStore, PurchasePartsStore, SubscriptionStore,
};
use telepay_core::webhook::{PaymentWebhook, WebhookOutcome, WebhookRequest};
use tracing::{Instrument, error, info_span};

pub const SIGNATURE_HEADER: &str = "x-nowpayments-sig";

/// NOWPayments waits 3 s; past this we answer `unavailable` so that it retries, rather
/// than letting it time out with the outcome unknown.
pub const ANSWER_WITHIN: Duration = Duration::from_millis(2500);

pub async fn handle<
    S: IngressStore + OperatorStore + SubscriptionStore + PaymentWatchStore + PurchasePartsStore,
    Q: MessageQueue,
>(
    webhook: &PaymentWebhook<S, Q>,
    request: Request,
) -> Result<Response<Body>, Infallible> {
    // The invocation's id in Lambda; API Gateway's request id where there is no Lambda
    // context (the local run).
    let request_id = request
        .lambda_context_ref()
        .map(|context| context.request_id.clone())
        .filter(|id| !id.is_empty())
        .or_else(|| match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => context.request_id.clone(),
            _ => None,
        })
        .unwrap_or_default();
    let span = info_span!(
        "ipn",
        request_id = %request_id,
        payment_id = tracing::field::Empty
    );
    let signature = request
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok());
    let decision = webhook.receive(WebhookRequest {
        method: request.method().as_str(),
        signature,
        body: request.body().as_ref(),
    });
    let outcome = match tokio::time::timeout(ANSWER_WITHIN, decision.instrument(span)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            error!(
                request_id,
                "IPN not decided in time; NOWPayments will retry"
            );
            WebhookOutcome::Unavailable
        }
    };
    Ok(response(outcome))
}

/// The HTTP answer for an outcome: its status and a JSON body with only the outcome word.
pub fn response(outcome: WebhookOutcome) -> Response<Body> {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(outcome.status()).expect("outcome statuses are valid"))
        .header(header::CONTENT_TYPE, "application/json");
    if outcome == WebhookOutcome::MethodNotAllowed {
        builder = builder.header(header::ALLOW, "POST");
    }
    builder
        .body(Body::from(outcome.body()))
        .expect("a static response always builds")
}

#[cfg(test)]
mod tests;
