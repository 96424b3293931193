-- The reconciler's listing reads what is pending, not the history: a partial index on
-- the rows its query selects (every finished payment leaves it on its own).
CREATE INDEX IF NOT EXISTS idx_processed_payments_pending ON processed_payments (created_at, payment_id)
    WHERE state = 'accepted' AND (gcwebhook1_processed IS NOT TRUE OR telegram_invite_sent IS NOT TRUE);
