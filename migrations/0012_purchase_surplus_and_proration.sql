-- A payment that did not bring its tier's price exactly, told to the owner at the sale:
-- how much more than the price arrived (`overpaid_by`, in the price's currency), or the
-- length of the tier a short payment bought a share of (`prorated_from_seconds`, in a
-- channel whose short payments are prorated). NULL when it brought the price.
ALTER TABLE processed_payments ADD COLUMN overpaid_by DOUBLE PRECISION;
ALTER TABLE processed_payments ADD COLUMN prorated_from_seconds BIGINT;
