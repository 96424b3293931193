//! Updates, delivered as Telegram delivers them to a webhook: in order, as a JSON POST
//! to the URL given by `setWebhook`, with `X-Telegram-Bot-Api-Secret-Token` set to its
//! `secret_token`, only the kinds in its `allowed_updates`, and every non-2xx answer
//! (or no answer) retried with a growing pause until the webhook takes it. Without a
//! webhook, `getUpdates` takes them instead (long polling, confirmed by `offset`).

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Value, json};

/// What `setWebhook` set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub url: String,
    pub secret_token: Option<String>,
    /// None: every kind.
    pub allowed_updates: Option<Vec<String>>,
    /// Updates posted at once, 1-100 (Telegram's default 40).
    pub max_connections: usize,
}

/// One update's delivery so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub update_id: i64,
    /// `message`, `callback_query`, `chat_join_request`, `my_chat_member`, ...
    pub kind: String,
    /// The HTTP status of each attempt (0: no answer).
    pub statuses: Vec<u16>,
    pub delivered: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    next_update_id: i64,
    /// Waiting updates, in order, with the failed attempts of each so far.
    queue: VecDeque<(Value, u32)>,
    /// Chats with an update in flight: the next one for them waits.
    in_flight: std::collections::HashSet<i64>,
    pub(crate) webhook: Option<Webhook>,
    /// The kinds `getUpdates` last asked for (None: every kind).
    polled_kinds: Option<Vec<String>>,
    pub(crate) deliveries: Vec<Delivery>,
    last_error: Option<(i64, String)>,
}

/// Whether an update of this kind is delivered: every kind in `kinds`; with none given
/// (or an empty list), every kind but `chat_member` (and the reaction kinds), which
/// Telegram sends only when asked for by name (Bot API, `getUpdates`' `allowed_updates`).
fn asked_for(kinds: Option<&[String]>, update: &Value) -> bool {
    let kind = kind_of(update);
    match kinds {
        Some(kinds) if !kinds.is_empty() => kinds.contains(&kind),
        _ => kind != "chat_member",
    }
}

/// The chat an update belongs to: Telegram delivers one at a time per chat.
fn chat_of(update: &Value) -> i64 {
    let kind = kind_of(update);
    let body = &update[kind.as_str()];
    // A join request is the requester's: many wait on one channel at once.
    if kind == "chat_join_request" {
        return body["from"]["id"].as_i64().unwrap_or_default();
    }
    body["chat"]["id"]
        .as_i64()
        .or_else(|| body["message"]["chat"]["id"].as_i64())
        .or_else(|| body["from"]["id"].as_i64())
        .unwrap_or_default()
}

/// How many updates Telegram posts at once unless setWebhook's `max_connections` says
/// (1-100, default 40: https://core.telegram.org/bots/api#setwebhook).
const MAX_CONNECTIONS: usize = 40;

pub(crate) fn kind_of(update: &Value) -> String {
    update
        .as_object()
        .and_then(|fields| fields.keys().find(|k| *k != "update_id").cloned())
        .unwrap_or_default()
}

impl Outbox {
    /// Queues `update`, giving it the next update_id unless it has one; answers the id.
    pub(crate) fn push(&mut self, mut update: Value) -> i64 {
        let id = match update["update_id"].as_i64() {
            Some(id) => id,
            None => {
                self.next_update_id += 1;
                let id = 700_000_000 + self.next_update_id;
                update["update_id"] = json!(id);
                id
            }
        };
        self.deliveries.push(Delivery {
            update_id: id,
            kind: kind_of(&update),
            statuses: Vec::new(),
            delivered: false,
        });
        self.queue.push_back((update, 0));
        id
    }

    /// The next update to deliver (the first whose chat has none in flight), where, its
    /// chat and its failed attempts so far, if a webhook is set. Kinds the webhook did
    /// not ask for are dropped, as Telegram never sends them.
    pub(crate) fn take_next(&mut self) -> Option<(Value, Webhook, i64, u32)> {
        let webhook = self.webhook.clone()?;
        if self.in_flight.len() >= webhook.max_connections {
            return None;
        }
        let wanted = |update: &Value| asked_for(webhook.allowed_updates.as_deref(), update);
        let dropped: Vec<i64> = self
            .queue
            .iter()
            .filter(|(update, _)| !wanted(update))
            .filter_map(|(update, _)| update["update_id"].as_i64())
            .collect();
        self.queue.retain(|(update, _)| wanted(update));
        for id in dropped {
            self.deliveries.retain(|d| d.update_id != id);
        }
        let at = self
            .queue
            .iter()
            .position(|(update, _)| !self.in_flight.contains(&chat_of(update)))?;
        let (update, failures) = self.queue.remove(at)?;
        let chat = chat_of(&update);
        self.in_flight.insert(chat);
        Some((update, webhook, chat, failures))
    }

    /// One attempt's answer: a 2xx retires the update; anything else puts it back first
    /// in line for its chat.
    pub(crate) fn attempted(
        &mut self,
        update: Value,
        chat: i64,
        status: u16,
        error: Option<String>,
    ) {
        self.in_flight.remove(&chat);
        let update_id = update["update_id"].as_i64().unwrap_or_default();
        let failures = self
            .deliveries
            .iter_mut()
            .rev()
            .find(|d| d.update_id == update_id)
            .map_or(0, |delivery| {
                delivery.statuses.push(status);
                delivery.delivered = (200..300).contains(&status);
                delivery
                    .statuses
                    .iter()
                    .filter(|s| !(200..300).contains(*s))
                    .count() as u32
            });
        if (200..300).contains(&status) {
            return;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        self.last_error = Some((
            now,
            error.unwrap_or_else(|| format!("Wrong response from the webhook: {status}")),
        ));
        self.queue.push_front((update, failures));
    }

    /// `getUpdates`' answer now: updates below `offset` confirmed (retired as delivered),
    /// then up to `limit` (default 100) waiting ones of the kinds asked for, left waiting
    /// until a later call confirms them. `allowed_updates`, when given, is kept for later
    /// calls, as Telegram keeps it. Refused while a webhook is set.
    pub(crate) fn poll(&mut self, params: &Value) -> Result<Vec<Value>, String> {
        if self.webhook.is_some() {
            return Err("Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first".into());
        }
        if let Some(kinds) = params["allowed_updates"].as_array() {
            self.polled_kinds = Some(
                kinds
                    .iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect(),
            );
        }
        let id = |update: &Value| update["update_id"].as_i64().unwrap_or_default();
        if let Some(offset) = params["offset"].as_i64() {
            let confirmed: Vec<i64> = self
                .queue
                .iter()
                .map(|(update, _)| id(update))
                .filter(|update_id| *update_id < offset)
                .collect();
            self.queue.retain(|(update, _)| id(update) >= offset);
            for delivery in &mut self.deliveries {
                if confirmed.contains(&delivery.update_id) {
                    delivery.statuses.push(200);
                    delivery.delivered = true;
                }
            }
        }
        let kinds = self.polled_kinds.clone();
        let wanted = |update: &Value| asked_for(kinds.as_deref(), update);
        self.queue.retain(|(update, _)| wanted(update));
        let limit = params["limit"].as_u64().unwrap_or(100).clamp(1, 100) as usize;
        Ok(self
            .queue
            .iter()
            .take(limit)
            .map(|(update, _)| update.clone())
            .collect())
    }

    /// `setWebhook`, `deleteWebhook` and `getWebhookInfo`.
    pub(crate) fn act(&mut self, method: &str, params: &Value) -> Option<Value> {
        match method {
            "setWebhook" => {
                let url = params["url"].as_str().unwrap_or_default().to_owned();
                let max_connections = match params.get("max_connections") {
                    None | Some(Value::Null) => MAX_CONNECTIONS,
                    Some(n) => match n.as_u64().or_else(|| n.as_str()?.parse().ok()) {
                        Some(n @ 1..=100) => n as usize,
                        _ => return None,
                    },
                };
                self.webhook = (!url.is_empty()).then(|| Webhook {
                    url,
                    max_connections,
                    secret_token: params["secret_token"].as_str().map(str::to_owned),
                    allowed_updates: params["allowed_updates"].as_array().map(|kinds| {
                        kinds
                            .iter()
                            .filter_map(|k| k.as_str().map(str::to_owned))
                            .collect()
                    }),
                });
                Some(json!(true))
            }
            "deleteWebhook" => {
                self.webhook = None;
                Some(json!(true))
            }
            "getWebhookInfo" => {
                let mut info = json!({
                    "url": self.webhook.as_ref().map_or("", |w| w.url.as_str()),
                    "has_custom_certificate": false,
                    "pending_update_count": self.queue.len() + self.in_flight.len(),
                    "max_connections": self.webhook.as_ref().map_or(MAX_CONNECTIONS, |w| w.max_connections),
                });
                if let Some(kinds) = self
                    .webhook
                    .as_ref()
                    .and_then(|w| w.allowed_updates.clone())
                {
                    info["allowed_updates"] = json!(kinds);
                }
                if let Some((at, message)) = &self.last_error {
                    info["last_error_date"] = json!(at);
                    info["last_error_message"] = json!(message);
                }
                Some(info)
            }
            _ => None,
        }
    }
}

/// The pause before the next attempt after `failures` failed ones in a row.
pub(crate) fn backoff(failures: u32) -> Duration {
    Duration::from_millis((50u64 << failures.min(5)).min(1_000))
}
