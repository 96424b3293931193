//! Reading a Bot API call's parameters (the chat, the inline buttons), the time, and the
//! fake's own values (its bot user, fresh ids).

use serde_json::{Value, json};

pub(crate) fn chat_id(params: &Value) -> Option<i64> {
    match &params["chat_id"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as i64)
}

/// The inline buttons of a sendMessage's parameters, each as (text, callback data or
/// URL). teloxide sends `reply_markup` as an object, a form as a JSON string.
pub(crate) fn buttons_of(params: &Value) -> Vec<(String, String)> {
    let markup = match params.get("reply_markup") {
        Some(Value::String(text)) => serde_json::from_str(text).unwrap_or(Value::Null),
        Some(other) => other.clone(),
        None => Value::Null,
    };
    markup["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().cloned().unwrap_or_default())
        .map(|button| {
            let target = button["callback_data"]
                .as_str()
                .or_else(|| button["url"].as_str())
                .unwrap_or_default();
            let text = button["text"].as_str().unwrap_or_default();
            (text.to_owned(), target.to_owned())
        })
        .collect()
}

pub(crate) fn telegram_bot_user() -> Value {
    json!({"id": 1, "is_bot": true, "first_name": "TelePay Fake", "username": "telepay_fake_bot"})
}

pub(crate) fn fastish_id() -> i64 {
    static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}
