-- A payment the recovery pass brought in (NOWPayments' status answer recorded it; its
-- IPNs never arrived): the owner's sale notice says the callback is broken. NULL on rows
-- from before, and on payments an IPN brought in.
ALTER TABLE processed_payments ADD COLUMN recovered BOOLEAN;
