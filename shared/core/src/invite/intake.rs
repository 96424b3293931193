//! A message's intake: parse it, claim the payment under a fresh lease, run the
//! protocol, and end every stop (retry, rate limit, terminal failure) with the lease
//! released or the failure recorded.
//!
//! Tests: `functions/invite-sender/src/tests/intake.rs` and `…/tests/call.rs`.

use chrono::{DateTime, Utc};
use tracing::{error, info, warn};

use super::{InviteSender, Stopped};
use crate::metrics::{self, signal, stage};
use crate::owner::OwnerNotice;
use crate::payment::ProcessedPayment;
use crate::queue::{
    GrantFacts, INVITE_MESSAGE_VERSION, InviteRequest, MessageOutcome, parse_message,
};
use crate::store::{
    ClaimOutcome, Fenced, InviteClaim, InviteLease, InviteStore, SubscriptionStore,
};
use crate::telegram::{TelegramError, TelegramInviter};

impl<S: InviteStore + SubscriptionStore, T: TelegramInviter> InviteSender<S, T> {
    /// Handles one invite request body within an invocation ending at `deadline`.
    pub async fn deliver(&self, body: &str, deadline: DateTime<Utc>) -> MessageOutcome {
        let outcome = self.deliver_once(body, deadline).await;
        outcome.count_retry(stage::INVITE);
        outcome
    }

    pub(super) async fn deliver_once(&self, body: &str, deadline: DateTime<Utc>) -> MessageOutcome {
        // A catalog applied since is read here, at most once per refresh period.
        self.catalog.current().await;
        let request: InviteRequest = match parse_message(body, INVITE_MESSAGE_VERSION) {
            Ok(request) => request,
            Err(reason) => {
                error!(%reason, "malformed invite request");
                return MessageOutcome::Retry;
            }
        };
        tracing::Span::current().record("payment_id", request.payment_id.get());
        let now = self.clock.now();
        let claim = InviteClaim {
            payment_id: request.payment_id,
            lease_token: uuid::Uuid::new_v4().to_string(),
            lease_until: deadline + self.settings.lease_grace,
            now,
        };
        match self.store.claim_invite(&claim).await {
            Ok(ClaimOutcome::Claimed(record)) => {
                self.deliver_claimed(&record, &claim, request.grant).await
            }
            Ok(ClaimOutcome::AlreadySent) => {
                info!("invite already sent; duplicate delivery acknowledged");
                metrics::outcome(stage::INVITE, "duplicate");
                MessageOutcome::Done
            }
            Ok(ClaimOutcome::InviteFailed) => {
                info!("invite is in invite_failed; an operator re-issues it");
                MessageOutcome::Done
            }
            Ok(ClaimOutcome::Leased { until }) => {
                info!(?until, "another worker holds the invite lease; retry later");
                MessageOutcome::Retry
            }
            Ok(ClaimOutcome::ClaimedUnreadable { why }) => {
                // Retrying cannot make it readable: end it where an operator sees it.
                let reason = format!("unreadable: {why}");
                error!(%reason, "claimed a payment record this version cannot read");
                metrics::count(signal::INVITE_UNREADABLE);
                self.fail_terminally(&claim.lease(), &reason).await
            }
            Ok(ClaimOutcome::Unreadable { why }) => {
                error!(%why, "a payment record this version cannot read refused the claim");
                metrics::count(signal::INVITE_UNREADABLE);
                MessageOutcome::Retry
            }
            Ok(ClaimOutcome::NotFound) => {
                error!("no processed_payments record for this invite request");
                MessageOutcome::Retry
            }
            Err(err) => {
                error!(error = %err, "could not claim the invite");
                MessageOutcome::Retry
            }
        }
    }

    pub(super) async fn deliver_claimed(
        &self,
        record: &ProcessedPayment,
        claim: &InviteClaim,
        grant: Option<GrantFacts>,
    ) -> MessageOutcome {
        let lease = claim.lease();
        let run = self.run_protocol(record, &lease, claim.lease_until, grant);
        let stopped = match Box::pin(run).await {
            Ok(granted) => {
                self.tell_owner(record, granted).await;
                return MessageOutcome::Done;
            }
            Err(stopped) => stopped,
        };
        let outcome = match &stopped {
            Stopped::LeaseLost => {
                warn!("invite lease lost to another worker; it finishes the job");
                return MessageOutcome::Retry;
            }
            Stopped::Telegram(TelegramError::UserUnreachable(reason)) => {
                return self.fail_terminally(&lease, reason).await;
            }
            Stopped::AccessEnded { paid_until } => {
                return self.end_unsent(record, &lease, *paid_until).await;
            }
            Stopped::Refunded => {
                let reason = "refunded: the payment was refunded; no invite is owed";
                return self.record_failure(&lease, reason, "refunded").await;
            }
            Stopped::Telegram(TelegramError::RetryAfter(delay)) => {
                warn!(?delay, "Telegram rate limit; retrying after its delay");
                MessageOutcome::RetryAfter(*delay)
            }
            Stopped::UnknownChannel(channel_id) => {
                error!(
                    channel_id,
                    "channel is not in the channel directory and the payment has no stored purchase: add the channel to the directory"
                );
                metrics::count(signal::INVITE_CONFIGURATION_ERROR);
                MessageOutcome::Retry
            }
            Stopped::Telegram(TelegramError::Misconfigured(reason)) => {
                error!(%reason, "bot configuration error: fix the bot's rights in the private channel");
                metrics::count(signal::INVITE_CONFIGURATION_ERROR);
                MessageOutcome::Retry
            }
            Stopped::Telegram(err @ TelegramError::Transient(_)) => {
                warn!(error = %err, "Telegram call failed; will retry");
                MessageOutcome::Retry
            }
            Stopped::Store(err) => {
                error!(error = %err, "payment store failed mid-invite; will retry");
                MessageOutcome::Retry
            }
        };
        // Free the payment for the retry at once rather than after the lease lapses.
        match self.store.release_invite(&lease, self.clock.now()).await {
            Ok(Fenced::Done) => {}
            Ok(Fenced::LeaseLost) => warn!("lease already taken over when releasing"),
            Err(err) => warn!(error = %err, "could not release the lease; it lapses on its own"),
        }
        outcome
    }

    /// The paid time ran out before a link went out: recorded as `invite_failed`
    /// (`access_ended`), and the owner told how to give time.
    pub(super) async fn end_unsent(
        &self,
        record: &ProcessedPayment,
        lease: &InviteLease,
        paid_until: DateTime<Utc>,
    ) -> MessageOutcome {
        let reason = format!(
            "access_ended: the paid time ended at {} before the invite went out; no link was sent",
            paid_until.format("%Y-%m-%d %H:%M:%S UTC")
        );
        let outcome = self.record_failure(lease, &reason, "access_ended").await;
        if outcome == MessageOutcome::Done
            && let Ok(chat_id) = self.private_channel(record)
        {
            let notice = OwnerNotice::AccessEndedBeforeInvite {
                user_id: record.user_id.get(),
                payment_id: record.payment_id.get(),
                private_channel_id: chat_id,
                paid_until,
            };
            self.notice_owner(chat_id, notice).await;
        }
        outcome
    }

    pub(super) async fn fail_terminally(
        &self,
        lease: &InviteLease,
        reason: &str,
    ) -> MessageOutcome {
        self.record_failure(lease, reason, "failed").await
    }

    /// Ends the payment in `invite_failed` with `reason`, counted as `outcome`.
    pub(super) async fn record_failure(
        &self,
        lease: &InviteLease,
        reason: &str,
        outcome: &'static str,
    ) -> MessageOutcome {
        match self
            .store
            .fail_invite(lease, reason, self.clock.now())
            .await
        {
            Ok(Fenced::Done) => {
                warn!(%reason, "invite_failed; an operator re-issues");
                metrics::outcome(stage::INVITE, outcome);
                MessageOutcome::Done
            }
            Ok(Fenced::LeaseLost) => {
                warn!("lease lost before recording invite_failed");
                MessageOutcome::Retry
            }
            Err(err) => {
                error!(error = %err, "could not record invite_failed; will retry");
                MessageOutcome::Retry
            }
        }
    }
}
