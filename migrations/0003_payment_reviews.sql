-- Finished payments held for a human (repeat deposit, price mismatch, unknown channel,
-- unparseable order_id). They never enter processed_payments.
CREATE TABLE IF NOT EXISTS payment_reviews (
    payment_id BIGINT PRIMARY KEY,
    reason TEXT NOT NULL,
    ipn TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    CONSTRAINT payment_reviews_payment_id_positive CHECK (payment_id > 0),
    CONSTRAINT payment_reviews_reason_known CHECK (
        reason IN ('repeat_deposit', 'price_mismatch', 'unknown_channel', 'unparseable_order_id')
    )
);
CREATE INDEX IF NOT EXISTS idx_payment_reviews_received_at ON payment_reviews (received_at DESC);
