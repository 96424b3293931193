#!/usr/bin/env bash
# `make deploy`: build, deploy, then apply the catalog. The first deploy of a stack is
# guided (it asks for every parameter, the four secrets among them, and saves the
# non-secret answers in samconfig.toml). Every later one is plain `sam deploy`: SAM
# passes each parameter not given as UsePreviousValue, so the secrets the stack holds are
# kept and nobody retypes them. GUIDED=1 asks again (to change a secret or a setting).
# After the deploy, catalog.json (TELEPAY_CATALOG_FILE) is applied as the next catalog
# version when it changed (`telepay catalog apply`); a price change alone needs no
# deploy: `telepay catalog apply catalog.json` is enough.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG="${SAMCONFIG:-samconfig.toml}"
CATALOG="${TELEPAY_CATALOG_FILE:-catalog.json}"
if [ -f "$CATALOG" ]; then
  # A catalog that cannot be applied stops the deploy before anything changes.
  ${TELEPAY_BIN:-cargo run -q --release -p telepay --} catalog check "$CATALOG" >/dev/null
fi
if [ "${SKIP_BUILD:-}" != 1 ]; then
  BACKENDS="${BACKENDS:-dynamodb}" sam build --build-in-source
fi
STACK="$(sed -n 's/^stack_name *= *"\(.*\)"/\1/p' "$CONFIG" 2>/dev/null | head -n 1)"
REGION="$(sed -n 's/^region *= *"\(.*\)"/\1/p' "$CONFIG" 2>/dev/null | head -n 1)"
outputs() {
  sam list stack-outputs --stack-name "$STACK" ${REGION:+--region "$REGION"} --output json
}
# The first deploy of a stack is guided, whatever samconfig.toml holds (`telepay init`
# writes the non-secret settings there before the stack exists): only a deployed stack
# holds the secrets a plain deploy keeps.
if [ "${GUIDED:-}" = 1 ] || ! grep -q '^parameter_overrides' "$CONFIG" 2>/dev/null \
  || [ -z "$STACK" ] || ! outputs >/dev/null 2>&1; then
  echo "deploy: first deploy of this stack (or GUIDED=1): sam deploy --guided" >&2
  sam deploy --guided --config-file "$CONFIG"
else
  echo "deploy: the stack's settings are in $CONFIG and its secrets stay as deployed: sam deploy (GUIDED=1 to change them)" >&2
  sam deploy --config-file "$CONFIG"
fi
if [ ! -f "$CATALOG" ]; then
  echo "deploy: no $CATALOG: the functions start once a catalog is applied (telepay catalog apply <file>, docs/catalog.md)" >&2
  exit 0
fi
# A guided deploy saved the stack's name and region just now: read them again.
STACK="$(sed -n 's/^stack_name *= *"\(.*\)"/\1/p' "$CONFIG" | head -n 1)"
REGION="$(sed -n 's/^region *= *"\(.*\)"/\1/p' "$CONFIG" | head -n 1)"
# The stack's outputs whose description is a variable name (the tables, the DLQs, the
# secrets): what the CLI reads, exported as such.
OUTPUTS="$(outputs)"
eval "$(python3 -c '
import json, re, shlex, sys
for output in json.load(sys.stdin):
    name = output.get("Description", "")
    if re.fullmatch(r"[A-Z][A-Z0-9_]+", name):
        print("export %s=%s" % (name, shlex.quote(output["OutputValue"])))
' <<<"$OUTPUTS")"
if [ -n "$REGION" ]; then export AWS_REGION="$REGION"; fi
echo "deploy: applying $CATALOG (unchanged: nothing is written)" >&2
${TELEPAY_BIN:-cargo run -q --release -p telepay --} catalog apply "$CATALOG" --note "make deploy"
