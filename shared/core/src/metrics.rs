//! What the system counts, recorded through the `metrics` facade. The domain only
//! records; a Lambda function's `main` installs the exporter (CloudWatch Embedded Metric
//! Format, flushed after each invocation, with the `Function` and `Stack` dimensions on
//! every metric). Without an exporter (the local run, most tests) recording is a no-op.
//!
//! Names are constants here so the alarms and the dashboard in `template.yaml` can be held
//! against them by a test.

use std::time::Duration;

pub const NAMESPACE: &str = "TelePay";

/// The dimensions the exporter puts on every metric.
pub const FUNCTION_DIMENSION: &str = "Function";
pub const STACK_DIMENSION: &str = "Stack";

/// The label (a further dimension) of the per-stage outcome counters.
pub const OUTCOME: &str = "Outcome";
/// The label of the latency histograms: the Bot API method or the store operation.
pub const OPERATION: &str = "Operation";
/// The label of `PaymentHeld` by why it was held.
pub const REASON: &str = "Reason";

/// One counter per stage, labelled with each outcome's word: the dashboard's "by outcome".
pub mod stage {
    /// Every answer of the payment webhook (`queued`, `duplicate`, `bad_signature`, ...).
    pub const IPN: &str = "IpnOutcome";
    /// Every processor message (`processed`, `refunded` (nothing granted, paid out or
    /// invited), `already_processed`, `past_processing`, `not_found`, `malformed`,
    /// `payout_not_queued`, `grant_failed`, `invite_not_queued`, `mark_failed`).
    pub const PROCESSOR: &str = "ProcessorOutcome";
    /// Every invite message: how it ended (`sent`, of which `link_reused`; `renewed_in_place`,
    /// `already_member`, `duplicate`, `failed` (terminal), `access_ended` (terminal: the paid
    /// time ran out first, no link), `refunded` (terminal: no invite owed), `retry`,
    /// `rate_limited`).
    pub const INVITE: &str = "InviteOutcome";
    /// Every reconciler action (`requeued_processing`, `requeued_invite`, `in_flight`,
    /// `failed`), counted by how many rows took it.
    pub const RECONCILER: &str = "ReconcilerAction";
    /// Every lifecycle task (`reminder_sent`, `removed`, `removal_failed`,
    /// `end_notice_sent`, `invited` (a paid buyer found outside, or found in), `not_due`,
    /// `retry`, `rate_limited`).
    pub const LIFECYCLE: &str = "LifecycleOutcome";
    /// Every answer of the bot webhook (`handled`, `already_handled`, `busy`, ...).
    pub const BOT: &str = "BotOutcome";
    /// Every join-request decision (`approved`, `declined`, `waiting`, `not_ours`, `retry`,
    /// `rate_limited`).
    pub const ADMISSION: &str = "AdmissionOutcome";
    /// Every held payment's notice (`told`, `duplicate`, `lease_lost`, `not_found`,
    /// `retry`).
    pub const HELD_NOTICE: &str = "HeldNoticeOutcome";
    /// Every watched payment the recovery pass checked (`recovered`, `arrived`, `unpaid`,
    /// `gave_up`, `under_way`, `unavailable`, `refused`, `lease_lost`), and the paid ones
    /// the account's list showed that nothing watched (`discovered`), counted by how many.
    pub const RECOVERY: &str = "RecoveryOutcome";

    pub const ALL: &[&str] = &[
        IPN,
        PROCESSOR,
        INVITE,
        RECONCILER,
        LIFECYCLE,
        BOT,
        ADMISSION,
        HELD_NOTICE,
        RECOVERY,
    ];
}

/// Latencies, in milliseconds.
pub mod latency {
    /// One Bot API call, labelled with its method.
    pub const TELEGRAM: &str = "TelegramCallLatency";
    /// One store write, labelled with its operation.
    pub const STORE_WRITE: &str = "StoreWriteLatency";

    pub const ALL: &[&str] = &[TELEGRAM, STORE_WRITE];
}

/// The counters and gauges the alarms are built on, and the other single signals.
pub mod signal {
    pub const COLD_START: &str = "ColdStart";
    pub const TELEGRAM_RATE_LIMITED: &str = "TelegramRateLimited";
    pub const PAYLOAD_MISMATCH: &str = "PayloadHashMismatch";
    /// A body whose signature verified (NOWPayments holds the secret): the wrong-secret
    /// alarm fires on rejections only when none of these came in the hour.
    pub const IPN_SIGNATURE_ACCEPTED: &str = "IpnSignatureAccepted";
    /// A processor message no accepted record stands for, or whose facts differ from its
    /// record's: nothing of it was acted on. Someone or something sends to the processor
    /// queue who should not.
    pub const PROCESSOR_MESSAGE_UNMATCHED: &str = "ProcessorMessageUnmatched";
    /// /status refused a new invite: the paid period's re-issues are used up (a buyer
    /// passing one-time links on would show here).
    pub const STATUS_REISSUE_CAPPED: &str = "StatusReissueCapped";
    pub const IPN_SIGNATURE_REJECTED: &str = "IpnSignatureRejected";
    pub const SIGNED_IPN_REFUSED: &str = "SignedIpnRefused";
    pub const PAYMENT_HELD: &str = "PaymentHeld";
    /// A verified IPN queued to the processor unrecorded: the store refused the write.
    pub const IPN_QUEUED_UNRECORDED: &str = "IpnQueuedUnrecorded";
    pub const REFUND_UNMATCHED: &str = "RefundUnmatched";
    pub const PAYMENT_REFUNDED: &str = "PaymentRefunded";
    pub const REFUND_WITHOUT_GRANT: &str = "RefundWithoutGrant";
    pub const SUBSCRIPTION_GRANT_SKIPPED: &str = "SubscriptionGrantSkipped";
    pub const SUBSCRIPTION_GRANTED: &str = "SubscriptionGranted";
    pub const SUBSCRIPTION_RENEWED: &str = "SubscriptionRenewed";
    pub const INVITE_UNREADABLE: &str = "InviteUnreadable";
    pub const INVITE_CONFIGURATION_ERROR: &str = "InviteConfigurationError";
    pub const INVITE_DEADLINE_TOO_SHORT: &str = "InviteDeadlineTooShort";
    pub const RECONCILER_BACKLOG: &str = "ReconcilerBacklog";
    pub const RECONCILER_UNREADABLE: &str = "ReconcilerUnreadable";
    pub const RECONCILER_NEEDS_OPERATOR: &str = "ReconcilerNeedsOperator";
    pub const RECONCILER_OLDEST_AGE: &str = "ReconcilerOldestAge";
    pub const SUBSCRIPTIONS_DUE: &str = "SubscriptionsDue";
    pub const SUBSCRIPTIONS_UNREADABLE: &str = "SubscriptionsUnreadable";
    pub const SUBSCRIPTION_REMOVAL_FAILED: &str = "SubscriptionRemovalFailed";
    pub const SUBSCRIPTION_TASK_CROSSED_RENEWAL: &str = "SubscriptionTaskCrossedRenewal";
    pub const SUBSCRIPTION_MESSAGE_UNDELIVERABLE: &str = "SubscriptionMessageUndeliverable";
    pub const BOT_WEBHOOK_SECRET_REJECTED: &str = "BotWebhookSecretRejected";
    pub const BOT_UPDATE_RETRIED: &str = "BotUpdateRetried";
    pub const BOT_UPDATE_FAILED: &str = "BotUpdateFailed";
    pub const INVOICE_REFUSED: &str = "InvoiceRefused";
    /// An update from a user past their reply budget: not answered.
    pub const BOT_REPLIES_WITHHELD: &str = "BotRepliesWithheld";
    /// A tap on Pay past everyone's invoice budget for the minute: told to tap again.
    pub const INVOICES_CAPPED: &str = "InvoicesCapped";
    /// A menu reply Telegram refused for the bot's pace (429): dropped, not retried, so
    /// invites and removals keep the bot's messages.
    pub const BOT_REPLY_DROPPED: &str = "BotReplyDropped";
    /// Someone joined through a link made for another buyer: removed, the link revoked,
    /// the owner told.
    pub const SHARED_LINK_JOIN_REMOVED: &str = "SharedLinkJoinRemoved";
    /// A Stars purchase refused at pre-checkout (a price changed, a tier gone, forged).
    pub const STARS_CHECKOUT_REFUSED: &str = "StarsCheckoutRefused";
    /// A Stars payment handed to the processor (which records it once the ledger lists it).
    pub const STARS_PAYMENT_RECEIVED: &str = "StarsPaymentReceived";
    /// A Stars payment nothing can be granted for (its payload, its buyer, its channel):
    /// refunded at once, and the buyer told.
    pub const STARS_PAYMENT_UNMATCHED: &str = "StarsPaymentUnmatched";
    /// Stars went back to a buyer (the owner's refund, Telegram's, or an unmatched
    /// payment's): the time they bought taken back.
    pub const STARS_REFUNDED: &str = "StarsRefunded";
    /// A buyer stopped their Stars subscription's renewals (/cancel).
    pub const STARS_SUBSCRIPTION_CANCELLED: &str = "StarsSubscriptionCancelled";
    pub const BOT_RIGHTS_LOST: &str = "BotRightsLost";
    /// A payment NOWPayments reports paid that no IPN had brought in: the recovery pass
    /// admitted it. Any is an alarm: the IPN callback is broken.
    pub const IPN_RECOVERED: &str = "IpnRecovered";
    /// NOWPayments refused the recovery pass's question (the API key): nothing can be
    /// recovered until it is fixed.
    pub const RECOVERY_REFUSED: &str = "RecoveryRefused";
    /// A watched payment still not final after the watch period: an operator looks.
    pub const RECOVERY_GAVE_UP: &str = "RecoveryGaveUp";
    /// A short payment's purchase completed by its buyer's top-ups (granted once).
    pub const PURCHASE_TOPPED_UP: &str = "PurchaseToppedUp";
    /// A short payment's purchase still not completed after the wait: its owner is told.
    pub const PURCHASE_NEVER_COMPLETED: &str = "PurchaseNeverCompleted";
    /// The IPN secret changed in its store and a warm np-webhook took the new one.
    pub const IPN_SECRET_RENEWED: &str = "IpnSecretRenewed";
    /// The bot token changed in its store and a warm function took the new one.
    pub const BOT_TOKEN_RENEWED: &str = "BotTokenRenewed";
    /// The bot's webhook secret changed in its store and a warm bot-webhook took it.
    pub const BOT_WEBHOOK_SECRET_RENEWED: &str = "BotWebhookSecretRenewed";
    /// The NOWPayments API key changed in its store and a warm bot-webhook took it.
    pub const NOWPAYMENTS_KEY_RENEWED: &str = "NowPaymentsKeyRenewed";
    /// A warm function took a newly applied catalog version.
    pub const CATALOG_CHANGED: &str = "CatalogChanged";

    /// The store refused a write as too large for an item (DynamoDB's 400 KB): a record
    /// outgrew its bound; its retries cannot succeed.
    pub const STORE_ITEM_TOO_LARGE: &str = "StoreItemTooLarge";

    /// The signals that are readings (gauges) rather than counts.
    pub const READINGS: &[&str] = &[
        RECONCILER_BACKLOG,
        RECONCILER_UNREADABLE,
        RECONCILER_NEEDS_OPERATOR,
        RECONCILER_OLDEST_AGE,
        SUBSCRIPTIONS_DUE,
        SUBSCRIPTIONS_UNREADABLE,
    ];

    pub const ALL: &[&str] = &[
        COLD_START,
        TELEGRAM_RATE_LIMITED,
        PAYLOAD_MISMATCH,
        IPN_SIGNATURE_ACCEPTED,
        PROCESSOR_MESSAGE_UNMATCHED,
        STATUS_REISSUE_CAPPED,
        IPN_SIGNATURE_REJECTED,
        SIGNED_IPN_REFUSED,
        PAYMENT_HELD,
        IPN_QUEUED_UNRECORDED,
        REFUND_UNMATCHED,
        PAYMENT_REFUNDED,
        REFUND_WITHOUT_GRANT,
        SUBSCRIPTION_GRANT_SKIPPED,
        SUBSCRIPTION_GRANTED,
        SUBSCRIPTION_RENEWED,
        INVITE_UNREADABLE,
        INVITE_CONFIGURATION_ERROR,
        INVITE_DEADLINE_TOO_SHORT,
        RECONCILER_BACKLOG,
        RECONCILER_UNREADABLE,
        RECONCILER_NEEDS_OPERATOR,
        RECONCILER_OLDEST_AGE,
        SUBSCRIPTIONS_DUE,
        SUBSCRIPTIONS_UNREADABLE,
        SUBSCRIPTION_REMOVAL_FAILED,
        SUBSCRIPTION_TASK_CROSSED_RENEWAL,
        SUBSCRIPTION_MESSAGE_UNDELIVERABLE,
        BOT_WEBHOOK_SECRET_REJECTED,
        BOT_UPDATE_RETRIED,
        BOT_UPDATE_FAILED,
        INVOICE_REFUSED,
        BOT_REPLIES_WITHHELD,
        INVOICES_CAPPED,
        BOT_REPLY_DROPPED,
        SHARED_LINK_JOIN_REMOVED,
        STARS_CHECKOUT_REFUSED,
        STARS_PAYMENT_RECEIVED,
        STARS_PAYMENT_UNMATCHED,
        STARS_REFUNDED,
        STARS_SUBSCRIPTION_CANCELLED,
        BOT_RIGHTS_LOST,
        IPN_RECOVERED,
        RECOVERY_REFUSED,
        RECOVERY_GAVE_UP,
        PURCHASE_TOPPED_UP,
        PURCHASE_NEVER_COMPLETED,
        IPN_SECRET_RENEWED,
        BOT_TOKEN_RENEWED,
        CATALOG_CHANGED,
        BOT_WEBHOOK_SECRET_RENEWED,
        NOWPAYMENTS_KEY_RENEWED,
        STORE_ITEM_TOO_LARGE,
    ];
}

/// Counts `metric` once.
pub fn count(metric: &'static str) {
    metrics::counter!(metric).increment(1);
}

/// Counts a payment held for review: `PaymentHeld` (the alarm's metric) and
/// `PaymentHeld` by `Reason` (the dashboard's).
pub fn held(reason: &'static str) {
    metrics::counter!(signal::PAYMENT_HELD).increment(1);
    metrics::counter!(signal::PAYMENT_HELD, REASON => reason).increment(1);
}

/// Sets the gauge `metric` (a reading taken this run: a backlog, an age).
pub fn reading(metric: &'static str, value: f64) {
    metrics::gauge!(metric).set(value);
}

/// Counts one `outcome` of a stage ([`stage`]).
pub fn outcome(stage: &'static str, outcome: &'static str) {
    outcomes(stage, outcome, 1);
}

/// Counts `n` of one `outcome` of a stage (the reconciler's actions per run).
pub fn outcomes(stage: &'static str, outcome: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(stage, OUTCOME => outcome).increment(n);
    }
}

/// Records how long one `operation` took ([`latency`]), in milliseconds.
pub fn latency(metric: &'static str, operation: &'static str, took: Duration) {
    metrics::histogram!(metric, OPERATION => operation).record(took.as_secs_f64() * 1000.0);
}

/// Tells the exporter the units (CloudWatch shows them; counters default to none).
pub fn describe() {
    for metric in latency::ALL {
        metrics::describe_histogram!(*metric, metrics::Unit::Milliseconds, "");
    }
    for metric in stage::ALL.iter().chain(signal::ALL) {
        metrics::describe_counter!(*metric, metrics::Unit::Count, "");
    }
    metrics::describe_gauge!(signal::RECONCILER_OLDEST_AGE, metrics::Unit::Seconds, "");
}
