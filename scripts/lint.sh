#!/usr/bin/env bash
# Every static check: formatting, clippy (warnings are errors), the module graph (no
# import loops between files, no upward import in the core), and the SAM template
# through cfn-lint and `sam validate` (which runs the SAM transform cfn-lint skips).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/tools.sh
ensure_tool cfn-lint 'cfn-lint>=1,<2'
ensure_tool sam 'aws-sam-cli>=1.140,<2'

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
python3 scripts/check_imports.py
cfn-lint template.yaml
sam validate --region us-east-1 -t template.yaml
echo "lint: all checks passed"
