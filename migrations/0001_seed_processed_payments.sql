-- The seed's processed_payments table, as it was. IF NOT EXISTS so that a database the
-- seed already created (and filled) upgrades in place: this migration then changes nothing.
CREATE TABLE IF NOT EXISTS processed_payments (
    payment_id BIGINT PRIMARY KEY,
    user_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    gcwebhook1_processed BOOLEAN DEFAULT FALSE,
    gcwebhook1_processed_at TIMESTAMP,
    telegram_invite_sent BOOLEAN DEFAULT FALSE,
    telegram_invite_sent_at TIMESTAMP,
    telegram_invite_link TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT processed_payments_payment_id_positive CHECK (payment_id > 0),
    CONSTRAINT processed_payments_user_id_positive CHECK (user_id > 0)
);
CREATE INDEX IF NOT EXISTS idx_processed_payments_user_channel ON processed_payments (user_id, channel_id);
CREATE INDEX IF NOT EXISTS idx_processed_payments_invite_sent ON processed_payments (telegram_invite_sent);
CREATE INDEX IF NOT EXISTS idx_processed_payments_gcwebhook1 ON processed_payments (gcwebhook1_processed);
CREATE INDEX IF NOT EXISTS idx_processed_payments_created_at ON processed_payments (created_at DESC);
