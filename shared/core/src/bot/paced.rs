//! The bot's own messages in one process that paces all of them (`telepay serve`): a
//! menu or a line to a user takes only a spare turn of the server's one pace
//! ([`Pacer::try_spare_turn`]), never one an invite booked. With none spare, the call
//! answers as Telegram would at its pace (a 429 with how long the booked turns last),
//! and the front door gives the menu up when that is more than a short pause
//! (`front_door::dispatch`): during a flash sale invites and removals keep the bot's
//! messages, and menus come back as soon as there is room. Calls that are not messages
//! (answering a tap, approving a join request, membership) pass straight through. In
//! Lambda there is no shared pace: Telegram's own 429 does the same.
//!
//! Tests: below; under load, `make bench-flash-sale`'s abusers.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::access::Pacer;
use crate::directory::Admission;
use crate::telegram::{
    BotConversation, Button, InviteLink, MemberRemover, StarsInvoice, StarsPayments, TelegramError,
    TelegramInviter,
};

/// `T` whose messages to users wait for a spare turn of `pacer`.
#[derive(Debug, Clone)]
pub struct PacedMenus<T> {
    inner: T,
    pacer: Arc<Pacer>,
}

impl<T> PacedMenus<T> {
    pub fn new(inner: T, pacer: Arc<Pacer>) -> Self {
        Self { inner, pacer }
    }

    fn spare_turn(&self) -> Result<(), TelegramError> {
        self.pacer
            .try_spare_turn()
            .map_err(TelegramError::RetryAfter)
    }
}

impl<T: BotConversation> BotConversation for PacedMenus<T> {
    async fn send_menu(
        &self,
        chat_id: i64,
        text: &str,
        buttons: &[Vec<Button>],
    ) -> Result<(), TelegramError> {
        self.spare_turn()?;
        self.inner.send_menu(chat_id, text, buttons).await
    }

    async fn answer_button(
        &self,
        query_id: &str,
        notice: Option<&str>,
    ) -> Result<(), TelegramError> {
        self.inner.answer_button(query_id, notice).await
    }

    async fn approve_join_request(&self, chat_id: i64, user_id: i64) -> Result<(), TelegramError> {
        self.inner.approve_join_request(chat_id, user_id).await
    }

    async fn decline_join_request(&self, chat_id: i64, user_id: i64) -> Result<(), TelegramError> {
        self.inner.decline_join_request(chat_id, user_id).await
    }
}

impl<T: TelegramInviter> TelegramInviter for PacedMenus<T> {
    async fn is_member(&self, chat_id: i64, user_id: i64) -> Result<bool, TelegramError> {
        self.inner.is_member(chat_id, user_id).await
    }

    async fn create_invite_link(
        &self,
        chat_id: i64,
        name: &str,
        expires_at: DateTime<Utc>,
        admission: Admission,
    ) -> Result<InviteLink, TelegramError> {
        self.inner
            .create_invite_link(chat_id, name, expires_at, admission)
            .await
    }

    async fn revoke_invite_link(&self, chat_id: i64, link: &str) -> Result<(), TelegramError> {
        self.inner.revoke_invite_link(chat_id, link).await
    }

    async fn send_message(&self, user_id: i64, text: &str) -> Result<(), TelegramError> {
        self.spare_turn()?;
        self.inner.send_message(user_id, text).await
    }
}

/// Not messages: straight through.
impl<T: StarsPayments> StarsPayments for PacedMenus<T> {
    async fn create_stars_invoice_link(
        &self,
        invoice: &StarsInvoice,
    ) -> Result<String, TelegramError> {
        self.inner.create_stars_invoice_link(invoice).await
    }

    async fn answer_pre_checkout(
        &self,
        query_id: &str,
        refusal: Option<&str>,
    ) -> Result<(), TelegramError> {
        self.inner.answer_pre_checkout(query_id, refusal).await
    }

    async fn refund_star_payment(
        &self,
        user_id: i64,
        charge_id: &str,
    ) -> Result<(), TelegramError> {
        self.inner.refund_star_payment(user_id, charge_id).await
    }

    async fn cancel_star_subscription(
        &self,
        user_id: i64,
        charge_id: &str,
    ) -> Result<(), TelegramError> {
        self.inner
            .cancel_star_subscription(user_id, charge_id)
            .await
    }
}

impl<T: MemberRemover> MemberRemover for PacedMenus<T> {
    async fn remove_member(&self, chat_id: i64, user_id: i64) -> Result<(), TelegramError> {
        self.inner.remove_member(chat_id, user_id).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    /// Records the menus that got through.
    #[derive(Default)]
    struct Sent(Mutex<Vec<i64>>);

    impl BotConversation for Sent {
        async fn send_menu(
            &self,
            chat_id: i64,
            _: &str,
            _: &[Vec<Button>],
        ) -> Result<(), TelegramError> {
            self.0.lock().unwrap().push(chat_id);
            Ok(())
        }
        async fn answer_button(&self, _: &str, _: Option<&str>) -> Result<(), TelegramError> {
            Ok(())
        }
        async fn approve_join_request(&self, _: i64, _: i64) -> Result<(), TelegramError> {
            Ok(())
        }
        async fn decline_join_request(&self, _: i64, _: i64) -> Result<(), TelegramError> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_menu_gives_way_to_booked_invites_and_goes_out_once_there_is_room() {
        let pacer = Arc::new(Pacer::per_second(10));
        let menus = PacedMenus::new(Sent::default(), pacer.clone());
        // A flash sale's invites have booked the next half second.
        for _ in 0..5 {
            pacer.wait_turn().await;
        }
        assert!(matches!(
            menus.send_menu(1, "tiers", &[]).await,
            Err(TelegramError::RetryAfter(wait)) if wait == Duration::from_millis(100)
        ));
        assert!(menus.inner.0.lock().unwrap().is_empty(), "nothing sent");
        tokio::time::advance(Duration::from_millis(100)).await;
        menus.send_menu(2, "tiers", &[]).await.unwrap();
        assert_eq!(*menus.inner.0.lock().unwrap(), vec![2]);
    }
}
