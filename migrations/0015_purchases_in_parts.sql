-- Purchases in parts (top-ups): a short payment's hold opens a purchase whose parts add
-- up to the tier once. The purchase lives on its first short payment's review, so that
-- settling it writes the review's decision (`topped_up`, a new value) in the same
-- statement an operator's approve or reject would: whichever decides first wins.
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt (the same
-- statements run on Postgres), keeping every column and index of 0011. `parts` lists the
-- parts' payment ids (`,id,id,`: an add's WHERE refuses an id already in it); totals are
-- in the price's and the payout's currency; times are epoch milliseconds. The partial
-- index serves a buyer's /topup and /status (their open purchases).
CREATE TABLE payment_reviews_next (
    payment_id BIGINT PRIMARY KEY,
    reason TEXT NOT NULL,
    ipn TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    decision TEXT,
    decided_at TIMESTAMP,
    notice_lease_token TEXT,
    notice_lease_until_ms BIGINT,
    told_at_ms BIGINT,
    told TEXT,
    parts TEXT,
    parts_user_id BIGINT,
    parts_channel_id BIGINT,
    parts_price_amount DOUBLE PRECISION,
    parts_price_currency TEXT,
    parts_paid_total DOUBLE PRECISION,
    parts_outcome_total DOUBLE PRECISION,
    parts_opened_at_ms BIGINT,
    parts_settled_by BIGINT,
    parts_owner_told_at_ms BIGINT,
    CONSTRAINT payment_reviews_payment_id_is_positive CHECK (payment_id > 0),
    CONSTRAINT payment_reviews_reason_is_known CHECK (
        reason IN ('repeat_deposit', 'price_mismatch', 'unknown_channel', 'unparseable_order_id', 'underpaid')
    ),
    CONSTRAINT payment_reviews_decision_is_known CHECK (decision IN ('approved', 'rejected', 'topped_up'))
);
INSERT INTO payment_reviews_next (payment_id, reason, ipn, received_at, decision, decided_at,
    notice_lease_token, notice_lease_until_ms, told_at_ms, told)
    SELECT payment_id, reason, ipn, received_at, decision, decided_at,
        notice_lease_token, notice_lease_until_ms, told_at_ms, told FROM payment_reviews;
DROP TABLE payment_reviews;
ALTER TABLE payment_reviews_next RENAME TO payment_reviews;
CREATE INDEX IF NOT EXISTS idx_payment_reviews_received_at ON payment_reviews (received_at DESC);
CREATE INDEX IF NOT EXISTS idx_payment_reviews_untold ON payment_reviews (received_at)
    WHERE told_at_ms IS NULL;
CREATE INDEX IF NOT EXISTS idx_payment_reviews_open_parts ON payment_reviews (parts_user_id)
    WHERE parts IS NOT NULL AND decision IS NULL;
