-- Payments under way, watched until their outcome is known: a payment whose finishing
-- IPN never arrives is asked about (GET /v1/payment/{id}) instead of lost. Times are
-- epoch milliseconds, like the other lease columns. The partial index serves the
-- recovery pass's "due" listing (unsettled, by next check), the second a buyer's
-- /status (their payments under way).
CREATE TABLE IF NOT EXISTS payment_watches (
    payment_id BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    last_status TEXT NOT NULL,
    first_seen_at_ms BIGINT NOT NULL,
    next_check_at_ms BIGINT NOT NULL,
    checks BIGINT NOT NULL DEFAULT 0,
    settled TEXT,
    settled_at_ms BIGINT,
    lease_token TEXT,
    lease_until_ms BIGINT,
    CONSTRAINT payment_watches_payment_id_is_positive CHECK (payment_id > 0),
    CONSTRAINT payment_watches_settled_is_known CHECK (
        settled IN ('recovered', 'arrived', 'unpaid', 'gave_up')
    )
);
CREATE INDEX IF NOT EXISTS idx_payment_watches_due ON payment_watches (next_check_at_ms)
    WHERE settled IS NULL;
CREATE INDEX IF NOT EXISTS idx_payment_watches_buyer ON payment_watches (user_id)
    WHERE settled IS NULL;
