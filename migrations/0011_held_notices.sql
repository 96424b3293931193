-- Held payments told to their buyer and owner: a lease while a worker tells (the fencing
-- token and until when, ms), then when it was told and what reached whom. The partial
-- index serves the reconciler's "held, not told yet" listing.
ALTER TABLE payment_reviews ADD COLUMN notice_lease_token TEXT;
ALTER TABLE payment_reviews ADD COLUMN notice_lease_until_ms BIGINT;
ALTER TABLE payment_reviews ADD COLUMN told_at_ms BIGINT;
ALTER TABLE payment_reviews ADD COLUMN told TEXT;
CREATE INDEX IF NOT EXISTS idx_payment_reviews_untold ON payment_reviews (received_at)
    WHERE told_at_ms IS NULL;
