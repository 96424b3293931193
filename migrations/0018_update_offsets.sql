-- Where `telepay serve` polling Telegram (getUpdates) carries on after a restart: the next
-- update id to ask for, one row per source ('telegram'). Moved only forward, by a write
-- conditional on the value read.
CREATE TABLE IF NOT EXISTS update_offsets (
    source TEXT PRIMARY KEY,
    next_offset BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
