//! The Stars rail's Bot API calls (docs/stars.md), through teloxide-core: an invoice link
//! in `XTR` with no provider token (and Telegram's one subscription period for a
//! recurring one), the pre-checkout answer, a refund, a subscription's cancellation.

use telepay_core::stars::SUBSCRIPTION_PERIOD_SECONDS;
use telepay_core::telegram::{StarsInvoice, StarsPayments, TelegramError};
use teloxide_core::errors::RequestError;
use teloxide_core::payloads::{AnswerPreCheckoutQuerySetters, CreateInvoiceLinkSetters};
use teloxide_core::prelude::Requester;
use teloxide_core::types::{LabeledPrice, PreCheckoutQueryId, Seconds, TelegramTransactionId};

use super::TelegramBotApi;
use super::call::{Method, bot_api_user, observed};

impl StarsPayments for TelegramBotApi {
    async fn create_stars_invoice_link(
        &self,
        invoice: &StarsInvoice,
    ) -> Result<String, TelegramError> {
        self.ready().await;
        let price = LabeledPrice::new(invoice.title.clone(), invoice.stars);
        let request = self.bot().create_invoice_link(
            invoice.title.clone(),
            invoice.description.clone(),
            invoice.payload.clone(),
            telepay_core::stars::STARS_CURRENCY,
            [price],
        );
        let request = if invoice.recurring {
            request.subscription_period(Seconds::from_seconds(SUBSCRIPTION_PERIOD_SECONDS as u32))
        } else {
            request
        };
        observed(Method::CreateInvoiceLink, request)
            .await
            .map_err(|e| self.classify(Method::CreateInvoiceLink, e))
    }

    async fn answer_pre_checkout(
        &self,
        query_id: &str,
        refusal: Option<&str>,
    ) -> Result<(), TelegramError> {
        self.ready().await;
        let request = self
            .bot()
            .answer_pre_checkout_query(PreCheckoutQueryId(query_id.to_owned()), refusal.is_none());
        let request = match refusal {
            Some(why) => request.error_message(why),
            None => request,
        };
        observed(Method::AnswerPreCheckoutQuery, request)
            .await
            .map(drop)
            .map_err(|e| self.classify(Method::AnswerPreCheckoutQuery, e))
    }

    async fn refund_star_payment(
        &self,
        user_id: i64,
        charge_id: &str,
    ) -> Result<(), TelegramError> {
        self.ready().await;
        let request = self.bot().refund_star_payment(
            bot_api_user(user_id),
            TelegramTransactionId(charge_id.to_owned()),
        );
        match observed(Method::RefundStarPayment, request).await {
            Ok(_) => Ok(()),
            // Refunded before (a retry after a lost answer): the Stars went back once.
            Err(RequestError::Api(api))
                if api.to_string().to_uppercase().contains("ALREADY_REFUNDED") =>
            {
                Ok(())
            }
            Err(e) => Err(self.classify(Method::RefundStarPayment, e)),
        }
    }

    async fn cancel_star_subscription(
        &self,
        user_id: i64,
        charge_id: &str,
    ) -> Result<(), TelegramError> {
        self.ready().await;
        let request = self.bot().edit_user_star_subscription(
            bot_api_user(user_id),
            TelegramTransactionId(charge_id.to_owned()),
            true,
        );
        observed(Method::EditUserStarSubscription, request)
            .await
            .map(drop)
            .map_err(|e| self.classify(Method::EditUserStarSubscription, e))
    }
}
