-- A renewal's invite completed without a link: the buyer was already in the channel and
-- was told the access is renewed.
ALTER TABLE processed_payments ADD COLUMN invite_renewed_in_place BOOLEAN;
