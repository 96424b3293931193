-- A payment made in Telegram Stars (docs/stars.md): its telegram_payment_charge_id, which
-- a refund (refundStarPayment) names. NULL for every NOWPayments payment.
ALTER TABLE processed_payments ADD COLUMN star_charge_id TEXT;
