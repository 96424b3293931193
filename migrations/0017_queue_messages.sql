-- The queues of `telepay serve` (and `make run`), in the store's own database: what SQS
-- gives the Lambda chain. A received message is hidden until `visible_at_ms` and comes
-- back unless deleted by its receipt; `receive_count` grows with each delivery; past the
-- queue's maximum it moves to `<queue>-dlq`. A delayed send is a later `visible_at_ms`.
-- Unused (and empty) where the functions run on SQS.
CREATE TABLE IF NOT EXISTS queue_messages (
    message_id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    payment_id BIGINT,
    receive_count BIGINT NOT NULL DEFAULT 0,
    visible_at_ms BIGINT NOT NULL,
    receipt_handle TEXT,
    sent_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_queue_messages_visible ON queue_messages (queue, visible_at_ms);
CREATE UNIQUE INDEX IF NOT EXISTS idx_queue_messages_receipt ON queue_messages (receipt_handle);
