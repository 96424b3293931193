-- Held payments told to their buyer and owner, and a new hold reason (`underpaid`).
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt (the same
-- statements run on Postgres): the notice columns are a lease while a worker tells (the
-- fencing token and until when, ms), then when it was told and what reached whom. The
-- partial index serves the reconciler's "held, not told yet" listing.
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
    CONSTRAINT payment_reviews_payment_id_is_positive CHECK (payment_id > 0),
    CONSTRAINT payment_reviews_reason_is_known CHECK (
        reason IN ('repeat_deposit', 'price_mismatch', 'unknown_channel', 'unparseable_order_id', 'underpaid')
    ),
    CONSTRAINT payment_reviews_decision_is_known CHECK (decision IN ('approved', 'rejected'))
);
INSERT INTO payment_reviews_next (payment_id, reason, ipn, received_at, decision, decided_at)
    SELECT payment_id, reason, ipn, received_at, decision, decided_at FROM payment_reviews;
DROP TABLE payment_reviews;
ALTER TABLE payment_reviews_next RENAME TO payment_reviews;
CREATE INDEX IF NOT EXISTS idx_payment_reviews_received_at ON payment_reviews (received_at DESC);
CREATE INDEX IF NOT EXISTS idx_payment_reviews_untold ON payment_reviews (received_at)
    WHERE told_at_ms IS NULL;
