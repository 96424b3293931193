//! The bot's updates by polling (`telepay serve` with `TELEPAY_BOT_UPDATES=polling`):
//! `getUpdates` through teloxide-core, each update turned back into its JSON for the
//! bot's own parser (the webhook's path), and `deleteWebhook` before the first round.

use std::time::Duration;

use telepay_core::polling::{PolledUpdate, UpdateSource};
use telepay_core::telegram::TelegramError;
use teloxide_core::payloads::{DeleteWebhookSetters, GetUpdatesSetters};
use teloxide_core::prelude::Requester;

use super::call::Method;
use super::{ALLOWED_UPDATES, TelegramBotApi};

impl UpdateSource for TelegramBotApi {
    async fn updates(
        &self,
        offset: Option<i64>,
        wait: Duration,
    ) -> Result<Vec<PolledUpdate>, TelegramError> {
        self.ready().await;
        let mut request = self
            .bot()
            .get_updates()
            .timeout(u32::try_from(wait.as_secs()).unwrap_or(10))
            .allowed_updates(ALLOWED_UPDATES);
        if let Some(offset) = offset {
            // Telegram's update ids are 32-bit.
            let offset = i32::try_from(offset).map_err(|_| {
                TelegramError::Misconfigured(format!("update offset {offset} is out of range"))
            })?;
            request = request.offset(offset);
        }
        let updates = request
            .await
            .map_err(|e| self.classify(Method::SetWebhook, e))?;
        Ok(updates
            .into_iter()
            .map(|update| PolledUpdate {
                update_id: i64::from(update.id.0),
                // Back to the JSON Telegram sent: the bot parses it as a webhook body.
                body: serde_json::to_vec(&update).unwrap_or_default(),
            })
            .collect())
    }

    async fn stop_webhook(&self) -> Result<(), TelegramError> {
        self.ready().await;
        self.bot()
            .delete_webhook()
            .drop_pending_updates(false)
            .await
            .map_err(|e| self.classify(Method::SetWebhook, e))?;
        Ok(())
    }
}
