-- What this project adds to each record: its state, the payload hash, the purchase the
-- next stages need, and the invite protocol's lease and link expiry (epoch milliseconds,
-- compared numerically on every backend). Seed rows get state 'accepted' and NULLs,
-- which every condition treats as "not done". One column per statement: SQLite's
-- ALTER TABLE adds one at a time.
ALTER TABLE processed_payments ADD COLUMN state TEXT NOT NULL DEFAULT 'accepted'
    CONSTRAINT processed_payments_state_known CHECK (state IN ('accepted', 'invite_failed'));
ALTER TABLE processed_payments ADD COLUMN payload_hash TEXT;
ALTER TABLE processed_payments ADD COLUMN private_channel_id BIGINT;
ALTER TABLE processed_payments ADD COLUMN subscription_days BIGINT;
ALTER TABLE processed_payments ADD COLUMN price_amount DOUBLE PRECISION;
ALTER TABLE processed_payments ADD COLUMN price_currency TEXT;
ALTER TABLE processed_payments ADD COLUMN outcome_amount DOUBLE PRECISION;
ALTER TABLE processed_payments ADD COLUMN outcome_currency TEXT;
ALTER TABLE processed_payments ADD COLUMN invite_lease_token TEXT;
ALTER TABLE processed_payments ADD COLUMN invite_lease_until_ms BIGINT;
ALTER TABLE processed_payments ADD COLUMN invite_link_expires_at_ms BIGINT;
ALTER TABLE processed_payments ADD COLUMN invite_failure_reason TEXT;
CREATE INDEX IF NOT EXISTS idx_processed_payments_state ON processed_payments (state);
