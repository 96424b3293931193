#!/usr/bin/env bash
# `make bench-cold-start`: the eight functions' release binaries (DynamoDB backend, as
# `make build` links them) started against a fake Lambda Runtime API, one cold start at a
# time, with the tables, queues and secrets on moto and Telegram on the fake Bot API.
# Prints init, first invocation, warm p50/p99 and peak RSS per function
# (scripts/bench_cold_start.py; RUNS and INVOCATIONS set its sizes).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/moto.sh

FUNCTIONS=(np-webhook payment-processor invite-sender reconciler subscription-sweeper
  subscription-lifecycle bot-webhook admission-recheck)
packages=()
for function in "${FUNCTIONS[@]}"; do packages+=(-p "$function"); done
cargo build --release --locked "${packages[@]}"
cargo build --release --locked -p fake-bot-api

mkdir -p .telepay
ENV_FILE=.telepay/bench.env
.venv/bin/python scripts/watch_setup.py >"$ENV_FILE"
# The secrets as deployed: in Secrets Manager, read once by each cold start.
.venv/bin/python - >>"$ENV_FILE" <<'PY'
import os
import boto3
sm = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"], region_name="us-east-1")
for variable, value in (
    ("TELEPAY_IPN_SECRET_ARN", "telepay-sample-ipn-secret"),
    ("TELEGRAM_BOT_TOKEN_SECRET_ARN", "local-demo-token"),
    ("TELEPAY_BOT_WEBHOOK_SECRET_ARN", "local-demo-webhook-secret-0123456789"),
    ("TELEPAY_NOWPAYMENTS_API_KEY_ARN", "local-demo-nowpayments-key"),
):
    arn = sm.create_secret(Name=variable.lower(), SecretString=value)["ARN"]
    print(f"{variable}={arn}")
PY

FAKE_PORT="$(free_port)"
PORT="$FAKE_PORT" TELEGRAM_BOT_TOKEN=local-demo-token target/release/fake-bot-api >/dev/null 2>&1 &
FAKE_PID=$!
trap 'kill $FAKE_PID 2>/dev/null || true; stop_moto' EXIT
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$FAKE_PORT/" && break
  sleep 0.05
done

set -a
source "$ENV_FILE"
set +a
export TELEGRAM_API_URL="http://127.0.0.1:$FAKE_PORT"
export TELEPAY_CHANNEL_DIRECTORY_FILE="$PWD/events/demo-bot-directory.json"
export TELEPAY_IPN_CALLBACK_URL=https://example.invalid/np-webhook
export RUST_LOG=warn
.venv/bin/python scripts/bench_cold_start.py target/release "$@"
