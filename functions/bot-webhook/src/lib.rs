//! bot-webhook: the Telegram webhook behind API Gateway (`POST /telegram-webhook`).
//!
//! A thin adapter: it takes the method, the secret header and the body, hands them to
//! [`BotFrontDoor::receive`] within [`ANSWER_WITHIN`], and turns the outcome into the
//! response. Generic over the ports, so tests and the local run call what Lambda calls.

use std::convert::Infallible;
use std::time::Duration;

use lambda_http::http::{Response, StatusCode, header};
use lambda_http::{Body, Request};
use telepay_core::bot::{
    BotFrontDoor, BotOutcome, BotRequest, FrontDoorStore, InvoiceApi, SECRET_HEADER,
};
use telepay_core::queue::{DelayedQueue, MessageQueue};
use telepay_core::telegram::{BotConversation, MemberRemover, StarsPayments, TelegramInviter};
use tracing::{Instrument, error, info_span};

/// An update's work is bounded so the answer reaches Telegram well within its patience
/// (and the function's 20 s timeout); past it the answer is 500 and Telegram
/// redelivers, which the update's record makes safe.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(12);

pub async fn handle<S, T, I, Q, V>(
    bot: &BotFrontDoor<S, T, I, Q, V>,
    request: Request,
) -> Result<Response<Body>, Infallible>
where
    S: FrontDoorStore,
    T: BotConversation + TelegramInviter + MemberRemover + StarsPayments,
    I: InvoiceApi,
    Q: DelayedQueue,
    V: MessageQueue,
{
    let secret = request
        .headers()
        .get(SECRET_HEADER)
        .map(|value| value.as_bytes());
    let decision = bot.receive(BotRequest {
        method: request.method().as_str(),
        secret,
        body: request.body().as_ref(),
    });
    let span = info_span!("telegram_update");
    let outcome = match tokio::time::timeout(ANSWER_WITHIN, decision.instrument(span)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            error!("update not handled in time; Telegram will redeliver it");
            BotOutcome::Unavailable
        }
    };
    Ok(response(outcome))
}

/// The HTTP answer for an outcome: its status and a JSON body with only the outcome word.
pub fn response(outcome: BotOutcome) -> Response<Body> {
    let mut builder = Response::builder()
        .status(StatusCode::from_u16(outcome.status()).expect("outcome statuses are valid"))
        .header(header::CONTENT_TYPE, "application/json");
    if outcome == BotOutcome::MethodNotAllowed {
        builder = builder.header(header::ALLOW, "POST");
    }
    builder
        .body(Body::from(outcome.body()))
        .expect("a static response always builds")
}

#[cfg(test)]
mod tests;
