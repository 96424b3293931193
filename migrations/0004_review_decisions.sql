-- An operator's decision on a held payment (telepay reviews approve|reject), set once.
ALTER TABLE payment_reviews ADD COLUMN decision TEXT
    CONSTRAINT payment_reviews_decision_known CHECK (decision IN ('approved', 'rejected'));
ALTER TABLE payment_reviews ADD COLUMN decided_at TIMESTAMP;
