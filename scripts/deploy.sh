#!/usr/bin/env bash
# `make deploy`: build, then deploy. The first deploy of a stack is guided (it asks for
# every parameter, the four secrets among them, and saves the non-secret answers in
# samconfig.toml). Every later one is plain `sam deploy`: SAM passes each parameter not
# given as UsePreviousValue, so the secrets the stack holds are kept and nobody retypes
# them. GUIDED=1 asks again (to change a secret or a setting).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG="${SAMCONFIG:-samconfig.toml}"
if [ "${SKIP_BUILD:-}" != 1 ]; then
  BACKENDS="${BACKENDS:-dynamodb}" sam build --build-in-source
fi
if [ "${GUIDED:-}" = 1 ] || ! grep -q '^parameter_overrides' "$CONFIG" 2>/dev/null; then
  echo "deploy: first deploy of this stack (or GUIDED=1): sam deploy --guided" >&2
  exec sam deploy --guided --config-file "$CONFIG"
fi
echo "deploy: the stack's settings are in $CONFIG and its secrets stay as deployed: sam deploy (GUIDED=1 to change them)" >&2
exec sam deploy --config-file "$CONFIG"
