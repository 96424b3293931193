# Sourced by the test and watch scripts: installs moto in .venv if needed, starts a
# single-threaded moto for DynamoDB (atomic conditional writes) and a threaded one for
# SQS (long polling), exports the AWS_* variables that point the SDK at them, and stops
# both when the calling script exits.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
MOTO_VERSION='moto[server]>=5.2,<5.3'

if ! "$VENV/bin/python" -c 'import moto, werkzeug' 2>/dev/null; then
  echo "installing $MOTO_VERSION into .venv ..." >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$MOTO_VERSION"
fi

free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

MOTO_LOG_DIR="$(mktemp -d)"
MOTO_DYNAMODB_PORT="$(free_port)"
MOTO_SQS_PORT="$(free_port)"
"$VENV/bin/python" "$ROOT/scripts/moto_single_threaded.py" 127.0.0.1 "$MOTO_DYNAMODB_PORT" \
  >"$MOTO_LOG_DIR/dynamodb.log" 2>&1 &
MOTO_DYNAMODB_PID=$!
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_SQS_PORT" >"$MOTO_LOG_DIR/sqs.log" 2>&1 &
MOTO_SQS_PID=$!

stop_moto() {
  kill "$MOTO_DYNAMODB_PID" "$MOTO_SQS_PID" 2>/dev/null || true
  wait "$MOTO_DYNAMODB_PID" "$MOTO_SQS_PID" 2>/dev/null || true
  rm -rf "$MOTO_LOG_DIR"
}
trap stop_moto EXIT
# Ctrl-C and kill end the script through its EXIT trap too (bash runs it only on exit).
trap 'exit 130' INT
trap 'exit 143' TERM

for port in "$MOTO_DYNAMODB_PORT" "$MOTO_SQS_PORT"; do
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/"; then break; fi
    sleep 0.1
  done
  if ! curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/"; then
    echo "moto did not start on port $port:" >&2
    cat "$MOTO_LOG_DIR"/*.log >&2
    exit 1
  fi
done

export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$MOTO_DYNAMODB_PORT"
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$MOTO_SQS_PORT"
# Secrets Manager (the functions' cold-start secret read) on the threaded moto too.
export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$MOTO_SQS_PORT"
export AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
unset AWS_PROFILE AWS_SESSION_TOKEN
echo "moto: DynamoDB on $AWS_ENDPOINT_URL_DYNAMODB (single-threaded), SQS on $AWS_ENDPOINT_URL_SQS" >&2
