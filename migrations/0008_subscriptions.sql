-- One row per buyer and private channel: the paid time and its lifecycle. `body` is the
-- record (JSON: grants, reminders, lease, ending, history); the other columns are what
-- queries and conditions need, written by the same statement, so they never disagree.
CREATE TABLE IF NOT EXISTS subscriptions (
    user_id BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    version BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    -- NULL when nothing is pending: the row is then off the sweeper's index.
    next_due_at_ms BIGINT,
    -- 'removed', 'removal_failed', or NULL while the current expiry has not ended.
    ended TEXT,
    body TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, channel_id),
    CONSTRAINT subscriptions_user_id_positive CHECK (user_id > 0),
    CONSTRAINT subscriptions_version_positive CHECK (version > 0)
);
-- The sweeper's index: only rows with work pending, so it does not grow with history.
CREATE INDEX IF NOT EXISTS idx_subscriptions_next_due ON subscriptions (next_due_at_ms)
    WHERE next_due_at_ms IS NOT NULL;
CREATE INDEX IF NOT EXISTS idx_subscriptions_expires_at ON subscriptions (expires_at_ms);
