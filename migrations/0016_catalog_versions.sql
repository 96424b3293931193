-- The catalog (channels, tiers, the bot's texts): every version ever applied, kept.
-- An apply inserts the next version; the primary key refuses a second writer of the
-- same number. The newest row is the catalog in force.
CREATE TABLE IF NOT EXISTS catalog_versions (
    version BIGINT PRIMARY KEY,
    body TEXT NOT NULL,
    applied_at_ms BIGINT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    CONSTRAINT catalog_versions_version_is_positive CHECK (version > 0)
);
