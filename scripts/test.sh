#!/usr/bin/env bash
# Runs every test: unit, handler, Node comparison, and the integration tests against
# moto. Installs what it needs (moto in .venv); needs cargo, python3, node and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v node >/dev/null || { echo "node is required (the signature reference test)" >&2; exit 1; }
source scripts/moto.sh

cargo test --workspace --all-targets --locked "$@"
