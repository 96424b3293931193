//! The Bot API itself: `POST /bot<token>/<method>`, answered from Telegram's state with
//! Bot API-shaped JSON, or with the fault a call meets; teloxide's multipart forms read
//! as JSON.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::faults::{Call, FaultKind, HANG};
use crate::params::{buttons_of, chat_id, unix_ms};
use crate::state::AppState;

pub(crate) fn telegram_error(
    status: StatusCode,
    description: &str,
    retry_after: Option<u32>,
) -> Response {
    let mut body = json!({"ok": false, "error_code": status.as_u16(), "description": description});
    if let Some(seconds) = retry_after {
        body["parameters"] = json!({"retry_after": seconds});
    }
    (status, axum::Json(body)).into_response()
}

pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    Path((bot, method)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    if bot != format!("bot{}", state.token) {
        return telegram_error(StatusCode::UNAUTHORIZED, "Unauthorized", None);
    }
    // Bot API method names are case-insensitive (teloxide sends "SendMessage").
    let method = canonical_method(&method);
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // teloxide sends some methods (setWebhook) as multipart forms.
    let params: Value = match multipart_boundary(content_type) {
        Some(boundary) => form_fields(&body, &boundary),
        None => serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let paced = method == "sendMessage"
        && state
            .pace
            .lock()
            .unwrap()
            .as_mut()
            .is_some_and(|pace| !pace.admit(chat_id(&params).unwrap_or_default()));
    let refusal = state
        .shared
        .lock()
        .unwrap()
        .telegram
        .refusal(&method, &params);
    let fault = if paced {
        Some(FaultKind::RetryAfter(1))
    } else if let Some(text) = refusal {
        Some(FaultKind::BadRequest(text))
    } else {
        state.take_fault(&method, chat_id(&params)).or_else(|| {
            let policy = state.policy.lock().unwrap();
            policy.as_ref().and_then(|decide| decide(&method, &params))
        })
    };
    let delivered = matches!(
        fault,
        None | Some(FaultKind::Delay(_)) | Some(FaultKind::DeliverThenHang)
    );
    if method == "getUpdates" && fault.is_none() {
        return poll(&state, &params).await;
    }
    let webhook_method = matches!(
        method.as_str(),
        "setWebhook" | "deleteWebhook" | "getWebhookInfo"
    );
    if webhook_method && fault.is_none() {
        let result = state.outbox.lock().unwrap().act(&method, &params);
        state.wake.notify_one();
        state.shared.lock().unwrap().calls.push(Call {
            method: method.clone(),
            params: params.clone(),
            delivered: true,
            result: result.clone(),
            at_ms: unix_ms(),
        });
        return match result {
            Some(result) => axum::Json(json!({"ok": true, "result": result})).into_response(),
            // The one refusal of these: a max_connections outside 1-100.
            None if method == "setWebhook" => telegram_error(
                StatusCode::BAD_REQUEST,
                "Bad Request: max_connections must be between 1 and 100",
                None,
            ),
            None => telegram_error(StatusCode::NOT_FOUND, "Not Found", None),
        };
    }
    let result = {
        let mut shared = state.shared.lock().unwrap();
        shared.telegram.calls_seen = shared.calls.len();
        let result = delivered.then(|| shared.telegram.act(&method, &params));
        let outbound: Vec<Value> = shared.telegram.outbound.drain(..).collect();
        if !outbound.is_empty() {
            let mut outbox = state.outbox.lock().unwrap();
            for update in outbound {
                outbox.push(update);
            }
            state.wake.notify_one();
        }
        shared.calls.push(Call {
            method: method.clone(),
            params: params.clone(),
            delivered,
            result: result.clone().flatten(),
            at_ms: unix_ms(),
        });
        result
    };
    if let (true, Some(Some(_)), "sendMessage") = (state.print_invites, &result, method.as_str()) {
        let buttons: String = buttons_of(&params)
            .iter()
            .map(|(text, target)| format!("  [{text}] -> {target}\n"))
            .collect();
        println!(
            "[fake Telegram] message to user {}:\n{}\n{buttons}",
            chat_id(&params).unwrap_or_default(),
            params["text"].as_str().unwrap_or_default()
        );
    }
    if let (true, Some(Some(_)), "approveChatJoinRequest" | "declineChatJoinRequest") =
        (state.print_invites, &result, method.as_str())
    {
        let verb = if method == "approveChatJoinRequest" {
            "approved"
        } else {
            "declined"
        };
        println!(
            "[fake Telegram] join request of user {} to chat {} {verb}\n",
            params["user_id"],
            chat_id(&params).unwrap_or_default(),
        );
    }
    if let (true, Some(Some(_)), "unbanChatMember") =
        (state.print_invites, &result, method.as_str())
    {
        println!(
            "[fake Telegram] removed user {} from chat {} (they may rejoin with a new link)\n",
            params["user_id"],
            chat_id(&params).unwrap_or_default(),
        );
    }
    match fault {
        Some(FaultKind::RetryAfter(seconds)) => {
            let text = format!("Too Many Requests: retry after {seconds}");
            return telegram_error(StatusCode::TOO_MANY_REQUESTS, &text, Some(seconds));
        }
        Some(FaultKind::ServerError) => {
            return telegram_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                None,
            );
        }
        Some(FaultKind::Forbidden(text)) => {
            return telegram_error(StatusCode::FORBIDDEN, &text, None);
        }
        Some(FaultKind::BadRequest(text)) => {
            return telegram_error(StatusCode::BAD_REQUEST, &text, None);
        }
        Some(FaultKind::Hang) | Some(FaultKind::DeliverThenHang) => tokio::time::sleep(HANG).await,
        Some(FaultKind::Delay(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }
    match result.flatten() {
        Some(result) => axum::Json(json!({"ok": true, "result": result})).into_response(),
        None => telegram_error(StatusCode::NOT_FOUND, "Not Found", None),
    }
}

pub(crate) const METHODS: [&str; 18] = [
    "getMe",
    "createChatInviteLink",
    "revokeChatInviteLink",
    "getChatMember",
    "unbanChatMember",
    "sendMessage",
    "answerCallbackQuery",
    "approveChatJoinRequest",
    "declineChatJoinRequest",
    "setWebhook",
    "deleteWebhook",
    "getWebhookInfo",
    "getUpdates",
    "createInvoiceLink",
    "answerPreCheckoutQuery",
    "refundStarPayment",
    "editUserStarSubscription",
    "getStarTransactions",
];

fn canonical_method(method: &str) -> String {
    METHODS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(method))
        .map_or_else(|| method.to_owned(), |known| (*known).to_owned())
}

fn multipart_boundary(content_type: &str) -> Option<String> {
    let rest = content_type.strip_prefix("multipart/form-data")?;
    rest.split(';')
        .find_map(|part| part.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
}

/// A multipart form's text fields as a JSON object; a field that is JSON (an array, an
/// object, a number) is kept as that JSON, as the Bot API reads it.
fn form_fields(body: &[u8], boundary: &str) -> Value {
    let text = String::from_utf8_lossy(body);
    let mut fields = serde_json::Map::new();
    for part in text.split(&format!("--{boundary}")) {
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let Some(name) = head
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))
            .map(|n| {
                n.split(['\r', '\n'])
                    .next()
                    .unwrap_or(n)
                    .trim_matches('"')
                    .to_owned()
            })
        else {
            continue;
        };
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let parsed = match serde_json::from_str::<Value>(value) {
            Ok(json @ (Value::Array(_) | Value::Object(_) | Value::Number(_) | Value::Bool(_))) => {
                json
            }
            _ => Value::String(value.to_owned()),
        };
        fields.insert(name, parsed);
    }
    Value::Object(fields)
}

/// `getUpdates`: the waiting updates from `offset` on (those below it confirmed and
/// forgotten), waiting up to `timeout` seconds for one; refused while a webhook is set,
/// as Telegram refuses it.
async fn poll(state: &AppState, params: &Value) -> Response {
    let wait = Duration::from_secs(params["timeout"].as_u64().unwrap_or(0).min(50));
    let deadline = std::time::Instant::now() + wait;
    loop {
        let answer = state.outbox.lock().unwrap().poll(params);
        match answer {
            Err(conflict) => return telegram_error(StatusCode::CONFLICT, &conflict, None),
            Ok(updates) if !updates.is_empty() || std::time::Instant::now() >= deadline => {
                state.shared.lock().unwrap().calls.push(Call {
                    method: "getUpdates".into(),
                    params: params.clone(),
                    delivered: true,
                    result: Some(json!(updates.len())),
                    at_ms: unix_ms(),
                });
                return axum::Json(json!({"ok": true, "result": updates})).into_response();
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}
