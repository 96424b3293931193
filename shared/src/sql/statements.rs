//! Every statement of the SQL backends, one set for both dialects (`$N` placeholders,
//! `ON CONFLICT ... DO NOTHING RETURNING`, `IS NOT TRUE`). Each state change is ONE
//! statement whose WHERE clause is the rule; a returned row says it applied.

macro_rules! columns {
    () => {
        "payment_id, user_id, channel_id, state, gcwebhook1_processed, gcwebhook1_processed_at, \
         telegram_invite_sent, telegram_invite_sent_at, telegram_invite_link, created_at, \
         updated_at, payload_hash, private_channel_id, subscription_days, price_amount, \
         price_currency, outcome_amount, outcome_currency, invite_lease_token, \
         invite_lease_until_ms, invite_link_expires_at_ms, invite_failure_reason, \
         invite_satisfied_by_membership, duration_seconds, invite_renewed_in_place, overpaid_by, \
         prorated_from_seconds, recovered, star_charge_id"
    };
}

pub(super) const INSERT_PAYMENT: &str = concat!(
    "INSERT INTO processed_payments (",
    columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
     $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29) ON CONFLICT (payment_id) DO NOTHING RETURNING payment_id"
);
pub(super) const SELECT_PAYMENT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM processed_payments WHERE payment_id = $1"
);
pub(super) const INSERT_REVIEW: &str = "INSERT INTO payment_reviews (payment_id, reason, ipn, received_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (payment_id) DO NOTHING RETURNING payment_id";
pub(super) const FAILED_INVITES: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM processed_payments WHERE state = 'invite_failed' \
     ORDER BY updated_at DESC, payment_id DESC LIMIT $1"
);
pub(super) const SELECT_REVIEW: &str = "SELECT payment_id, reason, ipn, received_at, decision, decided_at \
     FROM payment_reviews WHERE payment_id = $1";
pub(super) const LIST_REVIEWS: &str = "SELECT payment_id, reason, ipn, received_at, decision, decided_at \
     FROM payment_reviews ORDER BY received_at DESC, payment_id DESC LIMIT $1";
pub(super) const DECIDE_REVIEW: &str = "UPDATE payment_reviews SET decision = $2, decided_at = $3 \
     WHERE payment_id = $1 AND decision IS NULL RETURNING payment_id";
pub(super) const REOPEN_INVITE: &str = "UPDATE processed_payments \
     SET state = 'accepted', telegram_invite_sent = FALSE, telegram_invite_sent_at = NULL, \
     telegram_invite_link = NULL, invite_link_expires_at_ms = NULL, invite_failure_reason = NULL, \
     invite_lease_token = NULL, invite_lease_until_ms = NULL, updated_at = $2 \
     WHERE payment_id = $1 AND (invite_lease_until_ms IS NULL OR invite_lease_until_ms < $3) \
     AND (telegram_invite_link = $4 OR (telegram_invite_link IS NULL AND $4 IS NULL)) \
     RETURNING payment_id";
pub(super) const MARK_PROCESSED: &str = "UPDATE processed_payments \
     SET gcwebhook1_processed = TRUE, gcwebhook1_processed_at = $2, updated_at = $2 \
     WHERE payment_id = $1 AND state = 'accepted' AND gcwebhook1_processed IS NOT TRUE \
     RETURNING payment_id";
pub(super) const BEGIN_PROCESSING: &str = concat!(
    "UPDATE processed_payments SET updated_at = $2 \
     WHERE payment_id = $1 AND state = 'accepted' AND gcwebhook1_processed IS NOT TRUE RETURNING ",
    columns!()
);
pub(super) const CLAIM_INVITE: &str = concat!(
    "UPDATE processed_payments \
     SET invite_lease_token = $2, invite_lease_until_ms = $3, updated_at = $4 \
     WHERE payment_id = $1 AND state = 'accepted' AND telegram_invite_sent IS NOT TRUE \
     AND (invite_lease_until_ms IS NULL OR invite_lease_until_ms < $5) RETURNING ",
    columns!()
);
pub(super) const PERSIST_LINK: &str = "UPDATE processed_payments \
     SET telegram_invite_link = $3, invite_link_expires_at_ms = $4, updated_at = $5 \
     WHERE payment_id = $1 AND invite_lease_token = $2 RETURNING payment_id";
pub(super) const COMPLETE_INVITE: &str = "UPDATE processed_payments \
     SET telegram_invite_sent = TRUE, telegram_invite_sent_at = $3, updated_at = $3, \
     invite_lease_token = NULL, invite_lease_until_ms = NULL \
     WHERE payment_id = $1 AND invite_lease_token = $2 RETURNING payment_id";
pub(super) const COMPLETE_BY_MEMBERSHIP: &str = "UPDATE processed_payments \
     SET telegram_invite_sent = TRUE, telegram_invite_sent_at = $3, updated_at = $3, \
     invite_satisfied_by_membership = TRUE, invite_lease_token = NULL, invite_lease_until_ms = NULL \
     WHERE payment_id = $1 AND invite_lease_token = $2 RETURNING payment_id";
pub(super) const COMPLETE_RENEWED_IN_PLACE: &str = "UPDATE processed_payments \
     SET telegram_invite_sent = TRUE, telegram_invite_sent_at = $3, updated_at = $3, \
     invite_renewed_in_place = TRUE, invite_lease_token = NULL, invite_lease_until_ms = NULL \
     WHERE payment_id = $1 AND invite_lease_token = $2 RETURNING payment_id";
pub(super) const RELEASE_INVITE: &str = "UPDATE processed_payments \
     SET invite_lease_token = NULL, invite_lease_until_ms = NULL, updated_at = $3 \
     WHERE payment_id = $1 AND invite_lease_token = $2 RETURNING payment_id";
pub(super) const FAIL_INVITE: &str = "UPDATE processed_payments \
     SET state = 'invite_failed', invite_failure_reason = $3, updated_at = $4, \
     invite_lease_token = NULL, invite_lease_until_ms = NULL \
     WHERE payment_id = $1 AND invite_lease_token = $2 RETURNING payment_id";
pub(super) const MARK_REQUEUED: &str = "UPDATE processed_payments SET updated_at = $3 \
     WHERE payment_id = $1 AND state = 'accepted' \
     AND (gcwebhook1_processed IS NOT TRUE OR telegram_invite_sent IS NOT TRUE) \
     AND (updated_at IS NULL OR updated_at < $2) RETURNING payment_id";
pub(super) const PENDING_PAYMENTS: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM processed_payments WHERE state = 'accepted' \
     AND (gcwebhook1_processed IS NOT TRUE OR telegram_invite_sent IS NOT TRUE) \
     AND (gcwebhook1_processed IS TRUE OR private_channel_id IS NOT NULL) \
     AND (created_at IS NULL OR created_at < $1) ORDER BY created_at, payment_id LIMIT $2"
);
/// Never processed and no stored purchase: only an operator can move it.
pub(super) const NEEDS_OPERATOR: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM processed_payments WHERE state = 'accepted' AND gcwebhook1_processed IS NOT TRUE \
     AND private_channel_id IS NULL ORDER BY created_at, payment_id LIMIT $1"
);
pub(super) const SUPPLY_PURCHASE: &str = "UPDATE processed_payments \
     SET private_channel_id = $2, subscription_days = $3, price_amount = $4, price_currency = $5, \
     outcome_amount = $6, outcome_currency = $7, updated_at = $8, duration_seconds = $9 \
     WHERE payment_id = $1 AND state = 'accepted' AND gcwebhook1_processed IS NOT TRUE \
     AND private_channel_id IS NULL RETURNING payment_id";
pub(super) const MARK_HANDLED: &str = "UPDATE processed_payments \
     SET gcwebhook1_processed = TRUE, gcwebhook1_processed_at = $2, telegram_invite_sent = TRUE, \
     telegram_invite_sent_at = $2, updated_at = $2 \
     WHERE payment_id = $1 AND state = 'accepted' AND gcwebhook1_processed IS NOT TRUE \
     AND private_channel_id IS NULL RETURNING payment_id";

/// The bot's once-records (`bot_once`): a claim is one upsert whose `WHERE` is the rule
/// (absent, forgotten, or an unfinished lease lapsed); finish and release are fenced on
/// the token.
pub(super) mod once {
    pub(in crate::sql) const CLAIM: &str = "INSERT INTO bot_once \
     (once_key, lease_token, lease_until_ms, done, result, keep_until_ms) \
     VALUES ($1, $2, $3, FALSE, NULL, $4) \
     ON CONFLICT (once_key) DO UPDATE SET lease_token = excluded.lease_token, \
     lease_until_ms = excluded.lease_until_ms, done = FALSE, result = NULL, \
     keep_until_ms = excluded.keep_until_ms \
     WHERE bot_once.keep_until_ms <= $5 \
     OR (bot_once.done = FALSE AND bot_once.lease_until_ms <= $5) \
     RETURNING once_key";
    pub(in crate::sql) const FINISH: &str = "UPDATE bot_once SET done = TRUE, result = $3, lease_token = NULL \
     WHERE once_key = $1 AND lease_token = $2 AND done = FALSE RETURNING once_key";
    pub(in crate::sql) const RELEASE: &str = "UPDATE bot_once SET lease_token = NULL, lease_until_ms = 0 \
     WHERE once_key = $1 AND lease_token = $2 AND done = FALSE RETURNING once_key";
    pub(in crate::sql) const FORGET: &str = "DELETE FROM bot_once WHERE once_key IN \
     (SELECT once_key FROM bot_once WHERE keep_until_ms <= $1 LIMIT $2) RETURNING once_key";
    pub(in crate::sql) const READ: &str = "SELECT done, result, lease_until_ms, keep_until_ms FROM bot_once \
     WHERE once_key = $1";
}

/// Subscriptions: every write conditioned on the version it was computed from.
pub(super) mod subscriptions {
    pub(in crate::sql) const SELECT: &str = "SELECT user_id, channel_id, version, body FROM subscriptions WHERE user_id = $1 AND channel_id = $2";
    pub(in crate::sql) const INSERT: &str = "INSERT INTO subscriptions \
     (user_id, channel_id, version, expires_at_ms, next_due_at_ms, ended, body, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (user_id, channel_id) DO NOTHING RETURNING user_id";
    pub(in crate::sql) const UPDATE: &str = "UPDATE subscriptions SET version = $3, expires_at_ms = $4, \
     next_due_at_ms = $5, ended = $6, body = $7, updated_at = $8 \
     WHERE user_id = $1 AND channel_id = $2 AND version = $9 RETURNING user_id";
    /// Off the due index until $4, the body untouched, if the version is still $3.
    pub(in crate::sql) const PARK: &str = "UPDATE subscriptions SET next_due_at_ms = $4 \
     WHERE user_id = $1 AND channel_id = $2 AND version = $3 RETURNING user_id";
    pub(in crate::sql) const DUE: &str = "SELECT user_id, channel_id, version, body FROM subscriptions \
     WHERE next_due_at_ms IS NOT NULL AND next_due_at_ms <= $1 \
     ORDER BY next_due_at_ms, user_id, channel_id LIMIT $2";
    pub(in crate::sql) const LIST_ALL: &str = "SELECT user_id, channel_id, version, body FROM subscriptions \
     ORDER BY expires_at_ms, user_id, channel_id LIMIT $1";
    pub(in crate::sql) const LIST_EXPIRING: &str = "SELECT user_id, channel_id, version, body FROM subscriptions \
     WHERE ended IS NULL AND expires_at_ms > $2 AND expires_at_ms <= $3 \
     ORDER BY expires_at_ms, user_id, channel_id LIMIT $1";
    pub(in crate::sql) const LIST_EXPIRED: &str = "SELECT user_id, channel_id, version, body FROM subscriptions \
     WHERE ended IS NULL AND expires_at_ms <= $2 \
     ORDER BY expires_at_ms, user_id, channel_id LIMIT $1";
    pub(in crate::sql) const LIST_FAILED: &str = "SELECT user_id, channel_id, version, body FROM subscriptions \
     WHERE ended = 'removal_failed' ORDER BY expires_at_ms, user_id, channel_id LIMIT $1";
}

/// Held payments' notices: the state on the review, every write fenced on the token.
pub(super) mod held {
    macro_rules! review_columns {
        () => {
            "payment_id, reason, ipn, received_at, decision, decided_at, told_at_ms, told, \
             notice_lease_until_ms"
        };
    }
    pub(in crate::sql) const CLAIM: &str = concat!(
        "UPDATE payment_reviews SET notice_lease_token = $2, notice_lease_until_ms = $3 \
         WHERE payment_id = $1 AND told_at_ms IS NULL \
         AND (notice_lease_until_ms IS NULL OR notice_lease_until_ms <= $4) RETURNING ",
        review_columns!()
    );
    pub(in crate::sql) const FINISH: &str = "UPDATE payment_reviews \
     SET told_at_ms = $3, told = $4, notice_lease_token = NULL, notice_lease_until_ms = NULL \
     WHERE payment_id = $1 AND notice_lease_token = $2 AND told_at_ms IS NULL RETURNING payment_id";
    pub(in crate::sql) const RELEASE: &str = "UPDATE payment_reviews \
     SET notice_lease_token = NULL, notice_lease_until_ms = NULL \
     WHERE payment_id = $1 AND notice_lease_token = $2 AND told_at_ms IS NULL RETURNING payment_id";
    pub(in crate::sql) const UNTOLD: &str = concat!(
        "SELECT ",
        review_columns!(),
        " FROM payment_reviews WHERE told_at_ms IS NULL AND decision IS NULL AND received_at < $1 \
         ORDER BY received_at, payment_id LIMIT $2"
    );
    /// Every undecided hold (few: the buyer's are kept by the caller).
    pub(in crate::sql) const UNDECIDED: &str = concat!(
        "SELECT ",
        review_columns!(),
        " FROM payment_reviews WHERE decision IS NULL ORDER BY received_at DESC, payment_id DESC LIMIT $1"
    );
    pub(in crate::sql) const STATE: &str = concat!(
        "SELECT ",
        review_columns!(),
        " FROM payment_reviews WHERE payment_id = $1"
    );
}

/// Payment watches: one row per payment under way, every write after the first fenced on
/// the check's token.
pub(super) mod watches {
    macro_rules! watch_columns {
        () => {
            "payment_id, user_id, channel_id, last_status, first_seen_at_ms, next_check_at_ms, \
             checks, settled, settled_at_ms, lease_until_ms"
        };
    }
    pub(in crate::sql) const WATCH: &str = "INSERT INTO payment_watches \
     (payment_id, user_id, channel_id, last_status, first_seen_at_ms, next_check_at_ms, checks) \
     VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT (payment_id) DO NOTHING RETURNING payment_id";
    pub(in crate::sql) const DUE: &str = concat!(
        "SELECT ",
        watch_columns!(),
        " FROM payment_watches WHERE settled IS NULL AND next_check_at_ms <= $1 \
         AND (lease_until_ms IS NULL OR lease_until_ms <= $1) \
         ORDER BY next_check_at_ms, payment_id LIMIT $2"
    );
    pub(in crate::sql) const CLAIM: &str = concat!(
        "UPDATE payment_watches SET lease_token = $2, lease_until_ms = $3 \
         WHERE payment_id = $1 AND settled IS NULL AND next_check_at_ms <= $4 \
         AND (lease_until_ms IS NULL OR lease_until_ms <= $4) RETURNING ",
        watch_columns!()
    );
    pub(in crate::sql) const POSTPONE: &str = "UPDATE payment_watches \
     SET last_status = $3, next_check_at_ms = $4, checks = checks + 1, \
     lease_token = NULL, lease_until_ms = NULL \
     WHERE payment_id = $1 AND lease_token = $2 AND settled IS NULL RETURNING payment_id";
    pub(in crate::sql) const SETTLE: &str = "UPDATE payment_watches \
     SET settled = $3, last_status = $4, settled_at_ms = $5, checks = checks + 1, \
     lease_token = NULL, lease_until_ms = NULL \
     WHERE payment_id = $1 AND lease_token = $2 AND settled IS NULL RETURNING payment_id";
    pub(in crate::sql) const READ: &str = concat!(
        "SELECT ",
        watch_columns!(),
        " FROM payment_watches WHERE payment_id = $1"
    );
    pub(in crate::sql) const UNDER_WAY_OF: &str = concat!(
        "SELECT ",
        watch_columns!(),
        " FROM payment_watches WHERE user_id = $1 AND settled IS NULL \
         ORDER BY first_seen_at_ms DESC, payment_id DESC LIMIT $2"
    );
}

pub(super) mod parts {
    macro_rules! parts_columns {
        () => {
            "payment_id, parts, parts_user_id, parts_channel_id, parts_price_amount, \
             parts_price_currency, \
             parts_paid_total, parts_outcome_total, parts_opened_at_ms, decision, \
             parts_settled_by, parts_owner_told_at_ms"
        };
    }
    pub(in crate::sql) const OPEN: &str = "UPDATE payment_reviews SET parts = $2, \
     parts_user_id = $3, parts_price_amount = $4, parts_price_currency = $5, \
     parts_paid_total = $6, parts_outcome_total = $7, parts_opened_at_ms = $8, \
     parts_channel_id = $9 \
     WHERE payment_id = $1 AND parts IS NULL RETURNING payment_id";
    pub(in crate::sql) const ADD: &str = concat!(
        "UPDATE payment_reviews SET parts = parts || $2 || ',', \
         parts_paid_total = parts_paid_total + $3, parts_outcome_total = parts_outcome_total + $4 \
         WHERE payment_id = $1 AND parts IS NOT NULL AND decision IS NULL \
         AND parts NOT LIKE '%,' || $2 || ',%' RETURNING ",
        parts_columns!()
    );
    pub(in crate::sql) const SETTLE: &str = "UPDATE payment_reviews \
     SET decision = 'topped_up', decided_at = $3, parts_settled_by = $2 \
     WHERE payment_id = $1 AND parts IS NOT NULL AND decision IS NULL RETURNING payment_id";
    pub(in crate::sql) const SETTLE_PART_HOLD: &str = "UPDATE payment_reviews \
     SET decision = 'topped_up', decided_at = $2 \
     WHERE payment_id = $1 AND decision IS NULL RETURNING payment_id";
    pub(in crate::sql) const READ: &str = concat!(
        "SELECT ",
        parts_columns!(),
        " FROM payment_reviews WHERE payment_id = $1 AND parts IS NOT NULL"
    );
    pub(in crate::sql) const OPEN_OF: &str = concat!(
        "SELECT ",
        parts_columns!(),
        " FROM payment_reviews WHERE parts IS NOT NULL AND decision IS NULL AND parts_user_id = $1 \
         ORDER BY parts_opened_at_ms DESC, payment_id DESC LIMIT $2"
    );
    pub(in crate::sql) const STALE: &str = concat!(
        "SELECT ",
        parts_columns!(),
        " FROM payment_reviews WHERE parts IS NOT NULL AND decision IS NULL \
         AND parts_owner_told_at_ms IS NULL AND parts_opened_at_ms < $1 \
         ORDER BY parts_opened_at_ms, payment_id LIMIT $2"
    );
    pub(in crate::sql) const MARK_TOLD: &str = "UPDATE payment_reviews SET parts_owner_told_at_ms = $2 \
     WHERE payment_id = $1 AND parts IS NOT NULL AND decision IS NULL \
     AND parts_owner_told_at_ms IS NULL RETURNING payment_id";
}

/// The catalog's versions: an apply is one insert on the version's absence.
pub(super) mod catalog {
    pub(in crate::sql) const APPLY: &str = "INSERT INTO catalog_versions \
     (version, body, applied_at_ms, note) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (version) DO NOTHING RETURNING version";
    pub(in crate::sql) const NEWEST: &str = "SELECT version, body, applied_at_ms, note \
     FROM catalog_versions ORDER BY version DESC LIMIT $1";
    pub(in crate::sql) const VERSION: &str = "SELECT version, body, applied_at_ms, note \
     FROM catalog_versions WHERE version = $1";
}

/// The polling server's update offset: one row, moved forward by a write conditional on
/// the value read (the first one by an insert on its absence).
pub(super) mod offsets {
    pub(in crate::sql) const READ: &str =
        "SELECT next_offset FROM update_offsets WHERE source = 'telegram'";
    pub(in crate::sql) const FIRST: &str = "INSERT INTO update_offsets \
     (source, next_offset, updated_at_ms) VALUES ('telegram', $1, $2) \
     ON CONFLICT (source) DO NOTHING RETURNING source";
    pub(in crate::sql) const ADVANCE: &str = "UPDATE update_offsets \
     SET next_offset = $1, updated_at_ms = $2 \
     WHERE source = 'telegram' AND next_offset = $3 AND next_offset < $1 RETURNING source";
}

pub(super) mod budgets {
    /// $1 key, $2 window start (epoch s), $3 now (ms), $4 the limit. Returns the count
    /// after it, or no row when the window's limit was reached or the window is older.
    pub(in crate::sql) const SPEND: &str = "INSERT INTO rate_budgets \
     (budget_key, window_start, spent, updated_at_ms) VALUES ($1, $2, 1, $3) \
     ON CONFLICT (budget_key) DO UPDATE SET \
     spent = CASE WHEN rate_budgets.window_start = excluded.window_start \
       THEN rate_budgets.spent + 1 ELSE 1 END, \
     window_start = excluded.window_start, updated_at_ms = excluded.updated_at_ms \
     WHERE rate_budgets.window_start < excluded.window_start \
       OR (rate_budgets.window_start = excluded.window_start AND rate_budgets.spent < $4) \
     RETURNING spent";
}
