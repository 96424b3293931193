-- The bot's once-records: a Telegram update handled, an invoice made for a buyer, channel,
-- tier and 10-minute window, a purchase noted. Claimed with a lease, finished with `done`
-- and its result; a row past `keep_until_ms` counts as absent (claims take it over).
CREATE TABLE IF NOT EXISTS bot_once (
    once_key TEXT PRIMARY KEY,
    lease_token TEXT,
    lease_until_ms BIGINT NOT NULL,
    done BOOLEAN NOT NULL,
    result TEXT,
    keep_until_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_bot_once_keep_until ON bot_once (keep_until_ms);
