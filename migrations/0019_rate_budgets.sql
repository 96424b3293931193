-- Rate budgets (the bot's replies per user, new invoices for everyone): one row per
-- budget, its current fixed window (epoch seconds) and how much of it is spent. One
-- upsert counts and decides: a newer window starts again from 1, the same window counts
-- one more only below the limit, an older one changes nothing.
CREATE TABLE IF NOT EXISTS rate_budgets (
    budget_key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    spent BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
