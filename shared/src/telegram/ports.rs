//! The core's three Telegram ports on the Bot API: `TelegramInviter` (membership, links,
//! messages), `MemberRemover` (the removal), `BotConversation` (menus, buttons, join
//! requests).

use chrono::{DateTime, Utc};
use telepay_core::directory::Admission;
use telepay_core::telegram::{
    BotConversation, Button, ButtonAction, InviteLink, MemberRemover, TelegramError,
    TelegramInviter,
};
use teloxide_core::errors::RequestError;
use teloxide_core::payloads::{
    AnswerCallbackQuerySetters, CreateChatInviteLinkSetters, SendMessageSetters,
};
use teloxide_core::prelude::Requester;
use teloxide_core::types::{CallbackQueryId, InlineKeyboardButton, InlineKeyboardMarkup};
use teloxide_core::types::{ChatId, ChatMember};

use super::TelegramBotApi;
use super::call::{Method, already_handled, bot_api_user, is_bad_request, observed};

impl TelegramInviter for TelegramBotApi {
    async fn is_member(&self, chat_id: i64, user_id: i64) -> Result<bool, TelegramError> {
        self.ready().await;
        Ok(self
            .chat_member(chat_id, user_id)
            .await?
            .is_some_and(|member| member.is_present()))
    }

    async fn create_invite_link(
        &self,
        chat_id: i64,
        name: &str,
        expires_at: DateTime<Utc>,
        admission: Admission,
    ) -> Result<InviteLink, TelegramError> {
        self.ready().await;
        let request = self
            .bot()
            .create_chat_invite_link(ChatId(chat_id))
            .name(name)
            .expire_date(expires_at);
        let request = match admission {
            Admission::OneTimeLink => request.member_limit(1),
            Admission::JoinRequest => request.creates_join_request(true),
        };
        let link = observed(Method::CreateChatInviteLink, request)
            .await
            .map_err(|e| self.classify(Method::CreateChatInviteLink, e))?;
        Ok(InviteLink {
            url: link.invite_link,
            expires_at: link.expire_date.unwrap_or(expires_at),
        })
    }

    async fn revoke_invite_link(&self, chat_id: i64, link: &str) -> Result<(), TelegramError> {
        self.ready().await;
        let call = self.bot().revoke_chat_invite_link(ChatId(chat_id), link);
        observed(Method::RevokeChatInviteLink, call)
            .await
            .map_err(|e| self.classify(Method::RevokeChatInviteLink, e))?;
        Ok(())
    }

    async fn send_message(&self, user_id: i64, text: &str) -> Result<(), TelegramError> {
        self.ready().await;
        observed(
            Method::SendMessage,
            self.bot().send_message(ChatId(user_id), text),
        )
        .await
        .map_err(|e| self.classify(Method::SendMessage, e))?;
        Ok(())
    }
}

impl MemberRemover for TelegramBotApi {
    async fn remove_member(&self, chat_id: i64, user_id: i64) -> Result<(), TelegramError> {
        self.ready().await;
        // Asked first: unbanChatMember lifts a ban, so a user the owner banned by hand
        // (`kicked`) is out already and must stay out.
        let member = self.chat_member(chat_id, user_id).await?;
        if member.is_some_and(|member| member.kind.is_banned()) {
            return Ok(());
        }
        let user = bot_api_user(user_id);
        // Without only_if_banned: a current member is removed and may rejoin later.
        let call = self.bot().unban_chat_member(ChatId(chat_id), user);
        match observed(Method::UnbanChatMember, call).await {
            Ok(_) => Ok(()),
            // "user not found" and the like: not in the chat, so nothing to remove.
            Err(RequestError::Api(api))
                if is_bad_request(&api)
                    && api.to_string().to_lowercase().contains("not found")
                    && !api.to_string().to_lowercase().contains("chat not found") =>
            {
                Ok(())
            }
            Err(error) => Err(self.classify(Method::UnbanChatMember, error)),
        }
    }
}

fn keyboard(buttons: &[Vec<Button>]) -> Option<InlineKeyboardMarkup> {
    if buttons.is_empty() {
        return None;
    }
    let rows = buttons.iter().map(|row| {
        row.iter()
            .filter_map(|button| match &button.action {
                ButtonAction::Callback(data) => {
                    Some(InlineKeyboardButton::callback(&button.text, data))
                }
                ButtonAction::Url(url) => reqwest::Url::parse(url)
                    .ok()
                    .map(|url| InlineKeyboardButton::url(&button.text, url)),
            })
            .collect::<Vec<_>>()
    });
    Some(InlineKeyboardMarkup::new(rows))
}

impl BotConversation for TelegramBotApi {
    async fn send_menu(
        &self,
        chat_id: i64,
        text: &str,
        buttons: &[Vec<Button>],
    ) -> Result<(), TelegramError> {
        self.ready().await;
        let request = self.bot().send_message(ChatId(chat_id), text);
        let request = match keyboard(buttons) {
            Some(markup) => request.reply_markup(markup),
            None => request,
        };
        observed(Method::SendMessage, request)
            .await
            .map_err(|e| self.classify(Method::SendMessage, e))?;
        Ok(())
    }

    async fn answer_button(
        &self,
        query_id: &str,
        notice: Option<&str>,
    ) -> Result<(), TelegramError> {
        self.ready().await;
        let request = self
            .bot()
            .answer_callback_query(CallbackQueryId(query_id.to_owned()));
        let request = match notice {
            Some(text) => request.text(text),
            None => request,
        };
        match observed(Method::AnswerCallbackQuery, request).await {
            Ok(_) => Ok(()),
            // "query is too old and response timeout expired": nothing left to answer.
            Err(RequestError::Api(api)) if is_bad_request(&api) => Ok(()),
            Err(e) => Err(self.classify(Method::AnswerCallbackQuery, e)),
        }
    }

    async fn approve_join_request(&self, chat_id: i64, user_id: i64) -> Result<(), TelegramError> {
        self.ready().await;
        self.decide_join_request(chat_id, user_id, Method::ApproveChatJoinRequest)
            .await
    }

    async fn decline_join_request(&self, chat_id: i64, user_id: i64) -> Result<(), TelegramError> {
        self.ready().await;
        self.decide_join_request(chat_id, user_id, Method::DeclineChatJoinRequest)
            .await
    }
}

impl TelegramBotApi {
    /// `approveChatJoinRequest` or `declineChatJoinRequest`; a request already handled
    /// is no error.
    async fn decide_join_request(
        &self,
        chat_id: i64,
        user_id: i64,
        method: Method,
    ) -> Result<(), TelegramError> {
        self.ready().await;
        let (chat, user) = (ChatId(chat_id), bot_api_user(user_id));
        let decided = if method == Method::ApproveChatJoinRequest {
            let call = self.bot().approve_chat_join_request(chat, user);
            observed(method, call).await.map(drop)
        } else {
            let call = self.bot().decline_chat_join_request(chat, user);
            observed(method, call).await.map(drop)
        };
        match decided {
            Ok(()) => Ok(()),
            Err(RequestError::Api(api)) if already_handled(&api) => Ok(()),
            Err(e) => Err(self.classify(method, e)),
        }
    }
}

impl TelegramBotApi {
    /// `getChatMember`: the user's standing in the chat, `None` for any 400 (an unknown
    /// user or chat is nobody in it).
    pub(super) async fn chat_member(
        &self,
        chat_id: i64,
        user_id: i64,
    ) -> Result<Option<ChatMember>, TelegramError> {
        self.ready().await;
        let user = bot_api_user(user_id);
        let call = self.bot().get_chat_member(ChatId(chat_id), user);
        match observed(Method::GetChatMember, call).await {
            Ok(member) => Ok(Some(member)),
            Err(RequestError::Api(api)) if is_bad_request(&api) => Ok(None),
            Err(error) => Err(self.classify(Method::GetChatMember, error)),
        }
    }
}
