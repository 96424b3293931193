# Sourced by the Makefile's recipes: puts the Python-packaged tools (aws-sam-cli,
# cfn-lint, cargo-lambda) in .venv-tools on first use. Kept apart from the moto venv:
# aws-sam-cli pins a boto3 that conflicts with moto's.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.venv-tools"
export SAM_CLI_TELEMETRY=0

ensure_tool() { # ensure_tool EXECUTABLE PIP_SPEC...
  local executable="$1"; shift
  if [ ! -x "$TOOLS/bin/$executable" ]; then
    echo "installing $* into .venv-tools ..." >&2
    [ -x "$TOOLS/bin/python" ] || python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "$@"
  fi
}
export PATH="$TOOLS/bin:$PATH"

ensure_cargo_fuzz() { # cargo-fuzz from crates.io, into ~/.cargo/bin
  command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz@0.13.2
}
