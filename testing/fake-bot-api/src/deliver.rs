//! Updates delivered to the bot's webhook as Telegram delivers them.

use std::sync::Arc;
use std::time::Duration;

use crate::state::AppState;
use crate::updates;

/// Delivers queued updates to the webhook as Telegram does: several at once (up to the
/// webhook's `max_connections`, 40 by default) but one at a time per chat, in order;
/// every non-2xx answer retried after a growing pause (per chat).
pub(crate) async fn deliver_updates(state: Arc<AppState>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    loop {
        let next = state.outbox.lock().unwrap().take_next();
        let Some((update, webhook, chat, failures)) = next else {
            tokio::select! {
                () = state.wake.notified() => {}
                _ = done_rx.recv() => {}
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
            continue;
        };
        let (state, client, done) = (state.clone(), client.clone(), done_tx.clone());
        tokio::spawn(async move {
            if failures > 0 {
                tokio::time::sleep(updates::backoff(failures - 1)).await;
            }
            let mut request = client
                .post(&webhook.url)
                .header("content-type", "application/json")
                .body(update.to_string());
            if let Some(secret) = &webhook.secret_token {
                request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
            }
            let (status, error) = match request.send().await {
                Ok(response) => (response.status().as_u16(), None),
                Err(e) => (0, Some(format!("Connection failed: {}", e.without_url()))),
            };
            state
                .outbox
                .lock()
                .unwrap()
                .attempted(update, chat, status, error);
            let _ = done.send(());
        });
    }
}
