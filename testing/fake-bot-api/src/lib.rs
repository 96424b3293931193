//! A fake Telegram Bot API server for tests and the local run.
//!
//! Serves `POST /bot<token>/<method>` for `getMe`, `createChatInviteLink`,
//! `revokeChatInviteLink`, `getChatMember`, `unbanChatMember` and `sendMessage` with Bot
//! API-shaped JSON,
//! records every call, and answers with injected faults (429 + retry_after, 500, delays,
//! hangs, 403, 400) for chosen methods and chats. A wrong token gets 401, as from Telegram.
//!
//! It keeps Telegram's state, not a switch: the links it created (their `member_limit`,
//! `expire_date` and revocation) and each chat's members. A simulated user joins through
//! a link with [`FakeBotApi::join`], which enforces all three as Telegram does, and
//! `getChatMember` answers from that state; `unbanChatMember` removes a member (and
//! refuses an administrator, as Telegram does). A user the owner banned by hand
//! ([`FakeBotApiHandle::ban`]) reads `kicked`, no link admits them, and `unbanChatMember`
//! (with or without `only_if_banned`) lifts the ban, as Telegram's does.
//!
//! With [`FakeBotApi::enforce_pace`], it also keeps Telegram's pace for messages: about
//! 30 per second overall and one per second per chat, answering 429 with `retry_after`
//! beyond it, in real seconds.
//!
//! One job a file: `api` (the Bot API methods), `faults` (calls and faults), `state`
//! (what the routes share), `handle` (what a test acts through), `telegram` (Telegram's
//! own state), `updates` and `deliver` (the webhook), `control` (the `/fake/...` routes),
//! `params` (reading a call).

mod api;
mod control;
mod deliver;
mod faults;
mod handle;
mod params;
mod payments;
mod state;
mod telegram;
mod updates;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;

pub use faults::{Call, Fault, FaultKind, FaultPolicy};
pub use handle::FakeBotApiHandle;
pub use payments::{PRE_CHECKOUT_WINDOW, StarCharge, StarsCheckout};
pub use telegram::{
    BotStanding, Join, JoinDecision, JoinOutcome, OpenLink, PendingRequest, Removal,
};
pub use updates::{Delivery, Webhook};

use state::{AppState, Shared};
use updates::Outbox;

/// A running fake. Dropping it stops the server.
pub struct FakeBotApi {
    handle: FakeBotApiHandle,
    server: tokio::task::JoinHandle<()>,
    deliverer: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for FakeBotApi {
    type Target = FakeBotApiHandle;
    fn deref(&self) -> &FakeBotApiHandle {
        &self.handle
    }
}

impl Drop for FakeBotApi {
    fn drop(&mut self) {
        self.server.abort();
        self.deliverer.abort();
    }
}

impl FakeBotApi {
    /// Starts on a free loopback port.
    pub async fn start(token: &str) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), token, false)
            .await
            .expect("bind a loopback port")
    }

    /// Starts on `addr`; with `print_invites`, every delivered sendMessage is printed.
    pub async fn start_on(
        addr: SocketAddr,
        token: &str,
        print_invites: bool,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState {
            addr,
            token: token.to_owned(),
            print_invites,
            shared: Mutex::new(Shared::default()),
            policy: Mutex::new(None),
            pace: Mutex::new(None),
            outbox: Mutex::new(Outbox::default()),
            wake: tokio::sync::Notify::new(),
        });
        let app = Router::new()
            .route("/{bot}/{method}", post(api::handle))
            .merge(control::routes())
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        let deliverer = tokio::spawn(deliver::deliver_updates(state.clone()));
        Ok(Self {
            handle: FakeBotApiHandle { state },
            server,
            deliverer,
        })
    }
}
