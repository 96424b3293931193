#!/usr/bin/env bash
# `make watch`: what the functions need to run locally the way Lambda runs them — moto
# with the tables, queues and a seeded sample payment, the fake Bot API (it prints each
# invite), the demo IPN secret and channel directory — then `cargo lambda watch`.
# Invoke them from another terminal with `make invoke-np-webhook` and friends.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/moto.sh
source scripts/tools.sh
ensure_tool cargo-lambda 'cargo-lambda>=1.9,<2'

mkdir -p .telepay
ENV_FILE=.telepay/watch.env
.venv/bin/python scripts/watch_setup.py > "$ENV_FILE"

cargo build --locked -q -p fake-bot-api
FAKE_PORT="$(free_port)"
PORT="$FAKE_PORT" TELEGRAM_BOT_TOKEN=local-demo-token target/debug/fake-bot-api &
FAKE_PID=$!
trap "kill $FAKE_PID 2>/dev/null || true; stop_moto" EXIT

cat >> "$ENV_FILE" <<ENV
AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB
AWS_ENDPOINT_URL_SQS=$AWS_ENDPOINT_URL_SQS
AWS_REGION=$AWS_REGION
AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
TELEGRAM_BOT_TOKEN=local-demo-token
TELEGRAM_API_URL=http://127.0.0.1:$FAKE_PORT
TELEPAY_IPN_SECRET=telepay-sample-ipn-secret
TELEPAY_CHANNEL_DIRECTORY_FILE=$PWD/events/demo-directory.json
TELEPAY_BOT_WEBHOOK_SECRET=local-demo-webhook-secret-0123456789
TELEPAY_NOWPAYMENTS_API_KEY=local-demo-nowpayments-key
TELEPAY_IPN_CALLBACK_URL=http://127.0.0.1:3000/np-webhook
RUST_LOG=info
ENV
echo "make watch: environment in $ENV_FILE; invoke with make invoke-np-webhook (and -payment-processor, -invite-sender, -reconciler, -subscription-sweeper, -bot-webhook, -admission-recheck)" >&2
# The invite sender needs time for three Bot API calls per message (60 s in Lambda).
cargo lambda watch -A 127.0.0.1 -P "${WATCH_PORT:-9000}" --timeout 60 --env-file "$ENV_FILE"
