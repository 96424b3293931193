-- The exact length a tier sold, in seconds (tiers may sell "12h" or "3m"). NULL on rows
-- from before durations: they bought `subscription_days` whole days.
ALTER TABLE processed_payments ADD COLUMN duration_seconds BIGINT;
