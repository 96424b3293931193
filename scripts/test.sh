#!/usr/bin/env bash
# Runs every test: unit, handler, Node comparison, and the integration tests against
# moto and a real Postgres. Installs what it needs (moto in .venv, Debian's postgresql
# when missing); needs cargo, python3, node and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v node >/dev/null || { echo "node is required (the signature reference test)" >&2; exit 1; }
source scripts/moto.sh
source scripts/postgres.sh
source scripts/scratch.sh

if [ "$#" -gt 0 ]; then
  # Focused run while working, e.g. scripts/test.sh -p telepay-integration-tests --test chain_moto
  cargo test --locked "$@"
else
  cargo test --workspace --all-targets --locked
fi
