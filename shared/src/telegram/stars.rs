//! The Stars rail's Bot API calls (docs/stars.md), through teloxide-core: an invoice link
//! in `XTR` with no provider token (and Telegram's one subscription period for a
//! recurring one), the pre-checkout answer, a refund, a subscription's cancellation, and
//! the bot's ledger of Stars transactions.

use telepay_core::stars::{LedgerEntry, LedgerFlow, SUBSCRIPTION_PERIOD_SECONDS};
use telepay_core::telegram::{StarsInvoice, StarsLedger, StarsPayments, TelegramError};
use teloxide_core::errors::RequestError;
use teloxide_core::payloads::{
    AnswerPreCheckoutQuerySetters, CreateInvoiceLinkSetters, GetStarTransactionsSetters,
};
use teloxide_core::prelude::Requester;
use teloxide_core::types::{
    LabeledPrice, PreCheckoutQueryId, Seconds, StarTransaction, TelegramTransactionId,
    TransactionPartner, TransactionPartnerUserKind,
};

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

impl StarsLedger for TelegramBotApi {
    async fn star_transactions(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<LedgerEntry>, TelegramError> {
        self.ready().await;
        let request = self
            .bot()
            .get_star_transactions()
            .offset(offset)
            .limit(u8::try_from(limit).unwrap_or(100));
        let page = observed(Method::GetStarTransactions, request)
            .await
            .map_err(|e| self.classify(Method::GetStarTransactions, e))?;
        Ok(page.transactions.into_iter().map(ledger_entry).collect())
    }
}

/// A Bot API transaction as the rail reads it: a user's invoice payment in, Stars back
/// out to a user, or something else.
fn ledger_entry(transaction: StarTransaction) -> LedgerEntry {
    let user_of = |partner: &TransactionPartner| match partner {
        TransactionPartner::User(user) => Some((
            i64::try_from(user.user.id.0).unwrap_or_default(),
            match &user.kind {
                TransactionPartnerUserKind::InvoicePayment(paid) => paid.invoice_payload.clone(),
                _ => None,
            },
            matches!(user.kind, TransactionPartnerUserKind::InvoicePayment(_)),
        )),
        _ => None,
    };
    let flow = match (&transaction.source, &transaction.receiver) {
        (Some(source), _) => match user_of(source) {
            Some((user_id, invoice_payload, true)) => LedgerFlow::Paid {
                user_id,
                invoice_payload,
            },
            _ => LedgerFlow::Other,
        },
        (None, Some(receiver)) => match user_of(receiver) {
            Some((user_id, _, _)) => LedgerFlow::Refunded { user_id },
            None => LedgerFlow::Other,
        },
        (None, None) => LedgerFlow::Other,
    };
    LedgerEntry {
        id: transaction.id.0,
        amount: transaction.amount,
        date: transaction.date,
        flow,
    }
}
