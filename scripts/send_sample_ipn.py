#!/usr/bin/env python3
"""POSTs the signed sample IPN (events/sample-ipn.json) to `make run`.

PAYMENT_ID=N sends it as another payment of the same buyer (a renewal); TELEPAY_IPN_SECRET
signs it (default: the local run's demo secret); PORT picks the local run (default 3000).
The signature is NOWPayments': HMAC-SHA512 over the body with its keys sorted.
"""
import hashlib
import hmac
import json
import os
import sys
import urllib.error
import urllib.request

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "..", "events", "sample-ipn.json"), "rb") as f:
    raw = f.read()
payment_id = os.environ.get("PAYMENT_ID", "").strip()
if payment_id:
    if not payment_id.isdigit() or int(payment_id) <= 0:
        sys.exit("PAYMENT_ID must be a positive whole number")
    ipn = json.loads(raw)
    ipn["payment_id"] = int(payment_id)
    raw = json.dumps(ipn, sort_keys=True, separators=(",", ":")).encode()
secret = os.environ.get("TELEPAY_IPN_SECRET") or "telepay-sample-ipn-secret"
signature = hmac.new(secret.encode(), raw, hashlib.sha512).hexdigest()
request = urllib.request.Request(
    f"http://127.0.0.1:{os.environ.get('PORT', '3000')}/np-webhook",
    data=raw,
    headers={"content-type": "application/json", "x-nowpayments-sig": signature},
    method="POST",
)
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        print(response.read().decode())
except urllib.error.HTTPError as refused:
    print(f"{refused.code}: {refused.read().decode()}")
    sys.exit(1)
