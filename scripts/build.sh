#!/usr/bin/env bash
# `make build` (and `make deploy`, through sam build): the eight functions' release bootstraps for arm64 Lambda, zipped in
# target/lambda/<function>/bootstrap.zip, linking only the store backends asked for:
#   BACKENDS=dynamodb (the default), BACKENDS=postgres, or BACKENDS="dynamodb postgres",
# matching template.yaml's StoreBackend. The functions are built apart from the local run,
# the CLI and the tests, so cargo unifies none of their SQLite in. Then it proves it: no
# bootstrap holds SQLite (`sqlite3_`), none holds sqlx's Postgres driver unless asked
# (and each does when asked, so the check is not blind), none holds a second crypto
# library (aws-lc) or HTTP/2 (h2), and with DynamoDB alone each zip is at most 3 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
ensure_tool cargo-lambda 'cargo-lambda>=1.9,<2'
rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1

BACKENDS="${BACKENDS:-dynamodb}"
FUNCTIONS=(np-webhook payment-processor invite-sender reconciler subscription-sweeper
  subscription-lifecycle bot-webhook admission-recheck)
for backend in $BACKENDS; do
  case "$backend" in
    dynamodb | postgres) ;;
    *) echo "BACKENDS: $backend is not dynamodb or postgres (SQLite is for the local run)" >&2; exit 2 ;;
  esac
done

wants_postgres=no
[[ " $BACKENDS " == *" postgres "* ]] && wants_postgres=yes
# The size budget with the DynamoDB backend alone (issue #14), held from here on.
LIMIT=3000000

# check_bootstrap FUNCTION BOOTSTRAP [ZIP_BYTES]: prints what the bootstrap links and
# returns non-zero, naming the reason, when it breaks one of the rules above.
check_bootstrap() {
  local function="$1" bootstrap="$2" zip_bytes="${3:-}" linked="" failed=0
  grep -a -q "sqlite3_" "$bootstrap" && linked+=" sqlite"
  # sqlx-postgres's own source paths (panic locations) are in any binary that links it.
  grep -a -q "sqlx-postgres" "$bootstrap" && linked+=" postgres"
  grep -a -q "aws-sdk-dynamodb" "$bootstrap" && linked+=" dynamodb"
  # One HTTP stack and one crypto library: the SDK's client is ours, on reqwest and ring.
  grep -a -q "/aws-lc-rs-" "$bootstrap" && linked+=" aws-lc"
  grep -a -q "/h2-0\." "$bootstrap" && linked+=" h2"
  printf '%-24s %10s %12d  %s\n' "$function" "${zip_bytes:--}" "$(stat -c %s "$bootstrap")" "${linked# }"
  if [[ "$linked" == *sqlite* ]]; then
    echo "  $function links SQLite: it must not (build the functions apart from local/cli/tests)" >&2
    failed=1
  fi
  if [[ "$wants_postgres" == no && "$linked" == *postgres* ]]; then
    echo "  $function links the Postgres driver without BACKENDS asking for it" >&2
    failed=1
  fi
  if [[ "$wants_postgres" == yes && "$linked" != *postgres* ]]; then
    echo "  $function was asked for Postgres and does not link it" >&2
    failed=1
  fi
  if [[ "$linked" == *aws-lc* || "$linked" == *h2* ]]; then
    echo "  $function links a second TLS or HTTP stack (${linked}): see shared/src/aws_http.rs" >&2
    failed=1
  fi
  if [[ "$BACKENDS" == dynamodb && -n "$zip_bytes" && "$zip_bytes" -gt "$LIMIT" ]]; then
    echo "  $function: $zip_bytes bytes zipped, over the 3 MB budget (DynamoDB alone)" >&2
    failed=1
  fi
  return "$failed"
}
header() { printf '%-24s %10s %12s  %s\n' function "zip bytes" "bootstrap" "backends linked"; }

# `scripts/build.sh --function <crate>`: sam build's makefile method, one function's
# bootstrap into ARTIFACTS_DIR (sam zips it), checked the same way before it is handed on.
if [[ "${1:-}" == --function ]]; then
  function="$2"
  cargo lambda build --release --arm64 --locked \
    --no-default-features --features "${BACKENDS// /,}" -p "$function"
  header
  check_bootstrap "$function" "target/lambda/$function/bootstrap"
  cp "target/lambda/$function/bootstrap" "${ARTIFACTS_DIR:?sam build sets ARTIFACTS_DIR}/"
  exit 0
fi

packages=()
for function in "${FUNCTIONS[@]}"; do packages+=(-p "$function"); done
cargo lambda build --release --arm64 --output-format zip --locked \
  --no-default-features --features "${BACKENDS// /,}" "${packages[@]}"

failed=0
header
for function in "${FUNCTIONS[@]}"; do
  zip="target/lambda/$function/bootstrap.zip"
  bootstrap="$(mktemp)"
  unzip -p "$zip" bootstrap >"$bootstrap"
  check_bootstrap "$function" "$bootstrap" "$(stat -c %s "$zip")" || failed=1
  rm -f "$bootstrap"
done
exit "$failed"
