//! Control routes for scripts (`make demo-buy`): what a Telegram user does, over HTTP,
//! beside the Bot API routes. No token: the fake listens on loopback only.
//!
//! - `POST /fake/user/<id>/write` (body: the text) and `/press` (body: the button data):
//!   an update for the bot; answers `{"update_id": N}`.
//! - `POST /fake/user/<id>/join` (body: the link): answers `{"outcome": "joined" | ...,
//!   "chat_id": ...}`.
//! - `GET /fake/user/<id>/messages`: the messages the bot delivered to the user's chat,
//!   each `{"text", "buttons": [[text, data or url], ...]}`.
//! - `GET /fake/chat/<chat>/member/<user>`: `{"member": bool}`.
//! - `POST /fake/chat/<chat>/bot` (body: `admin`, `no_invite`, `no_ban`, `member` or
//!   `left`): the bot's own standing there, as `getChatMember` of the bot answers it
//!   (elsewhere: an administrator with both rights).
//! - `GET /fake/invites`: every delivered message that carries an invite link, in order,
//!   each `{"chat_id", "invite_link"}` (`make bench-local` counts them per buyer).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::handle::FakeBotApiHandle;
use crate::state::AppState;
use crate::telegram::JoinOutcome;

pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/fake/user/{user}/write", post(write))
        .route("/fake/user/{user}/press", post(press))
        .route("/fake/user/{user}/join", post(join))
        .route("/fake/user/{user}/messages", get(messages))
        .route(
            "/fake/chat/{chat}/member/{user}",
            get(member).post(add_member),
        )
        .route("/fake/invites", get(invites))
        .route("/fake/pace", get(pace))
        .route("/fake/chat/{chat}/bot", post(bot_standing))
}

/// Sets the bot's standing in a chat (body: `admin`, `no_invite`, `no_ban`, `member`,
/// `left`): what `telepay doctor` then finds.
async fn bot_standing(
    State(state): State<Arc<AppState>>,
    Path(chat): Path<i64>,
    word: String,
) -> Response {
    match crate::telegram::BotStanding::parse(word.trim()) {
        Some(standing) => {
            handle(state).set_bot_standing(chat, standing);
            axum::Json(json!({"chat_id": chat, "bot": word.trim()})).into_response()
        }
        None => (
            axum::http::StatusCode::BAD_REQUEST,
            "admin, no_invite, no_ban, member or left",
        )
            .into_response(),
    }
}

fn handle(state: Arc<AppState>) -> FakeBotApiHandle {
    FakeBotApiHandle { state }
}

async fn write(
    State(state): State<Arc<AppState>>,
    Path(user): Path<i64>,
    text: String,
) -> Response {
    let update_id = handle(state).user_writes(user, &text);
    axum::Json(json!({"update_id": update_id})).into_response()
}

async fn press(
    State(state): State<Arc<AppState>>,
    Path(user): Path<i64>,
    data: String,
) -> Response {
    let update_id = handle(state).user_presses(user, data.trim());
    axum::Json(json!({"update_id": update_id})).into_response()
}

async fn join(State(state): State<Arc<AppState>>, Path(user): Path<i64>, link: String) -> Response {
    let now = crate::params::unix_ms() / 1000;
    let chat = state.shared.lock().unwrap().telegram.chat_of(link.trim());
    let outcome = match handle(state).join(link.trim(), user, now) {
        JoinOutcome::Joined => "joined",
        JoinOutcome::AlreadyMember => "already_member",
        JoinOutcome::Revoked => "revoked",
        JoinOutcome::Expired => "expired",
        JoinOutcome::UsedUp => "used_up",
        JoinOutcome::UnknownLink => "unknown_link",
        JoinOutcome::Banned => "banned",
        JoinOutcome::Requested => "requested",
    };
    axum::Json(json!({"outcome": outcome, "chat_id": chat})).into_response()
}

async fn messages(State(state): State<Arc<AppState>>, Path(user): Path<i64>) -> Response {
    let fake = handle(state);
    let messages: Vec<Value> = fake
        .delivered("sendMessage")
        .iter()
        .filter(|call| call.chat_id() == Some(user))
        .map(|call| {
            let buttons: Vec<Value> = crate::params::buttons_of(&call.params)
                .into_iter()
                .map(|(text, target)| json!([text, target]))
                .collect();
            json!({"text": call.text(), "buttons": buttons})
        })
        .collect();
    axum::Json(json!(messages)).into_response()
}

/// How many messages Telegram's pace refused (429) so far.
async fn pace(State(state): State<Arc<AppState>>) -> Response {
    axum::Json(json!({"refused": handle(state).paced_refusals()})).into_response()
}

async fn invites(State(state): State<Arc<AppState>>) -> Response {
    let invites: Vec<Value> = handle(state)
        .delivered("sendMessage")
        .iter()
        .filter_map(|call| {
            let text = call.text()?;
            let link = text
                .split_whitespace()
                .find(|w| w.starts_with("https://t.me/+"))?;
            Some(json!({"chat_id": call.chat_id(), "invite_link": link}))
        })
        .collect();
    axum::Json(json!(invites)).into_response()
}

async fn member(
    State(state): State<Arc<AppState>>,
    Path((chat, user)): Path<(i64, i64)>,
) -> Response {
    axum::Json(json!({"member": handle(state).is_member(chat, user)})).into_response()
}

/// Makes `user` a member of `chat`, as if they had joined long ago (a bench's existing
/// subscribers, whose removal it then watches).
async fn add_member(
    State(state): State<Arc<AppState>>,
    Path((chat, user)): Path<(i64, i64)>,
) -> Response {
    handle(state).add_member(chat, user);
    axum::Json(json!({"member": true})).into_response()
}
