-- An invite completed without a new link because the buyer was already in the channel
-- (getChatMember), instead of replacing a stored link that may have been delivered.
ALTER TABLE processed_payments ADD COLUMN invite_satisfied_by_membership BOOLEAN;
