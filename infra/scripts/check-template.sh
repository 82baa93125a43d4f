#!/usr/bin/env bash
# Lints template.yaml with the pinned tools (run infra/scripts/tools.sh first):
#   1. cfn-lint (from .tools/py)
#   2. sam validate --lint (from .tools/sam)
#   3. infra/scripts/check_template.py (with .tools/py): routes equal the code's route table
#      (`nsauth-admin routes`), table shape, least-privilege inline IAM, Globals.
#      The admin binary must already be built (`make test` runs this after cargo test);
#      its path is $NSAUTH_ADMIN_BIN, default target/debug/nsauth-admin.
# Works offline with dummy credentials: no step calls AWS.
# Exits non-zero on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

PYTHON="$ROOT/.tools/py/bin/python"
CFN_LINT="$ROOT/.tools/py/bin/cfn-lint"
SAM="$ROOT/.tools/sam/bin/sam"
ADMIN_BIN="${NSAUTH_ADMIN_BIN:-target/debug/nsauth-admin}"
for f in "$PYTHON" "$CFN_LINT" "$SAM"; do
  [[ -x "$f" ]] || { echo "check-template.sh: $f missing; run infra/scripts/tools.sh" >&2; exit 1; }
done

export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export SAM_CLI_TELEMETRY=0
unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE || true

echo "[check-template] $("$CFN_LINT" --version) template.yaml"
"$CFN_LINT" --regions us-east-1 -- template.yaml

echo "[check-template] $("$SAM" --version): sam validate --lint"
"$SAM" validate --lint --template template.yaml --region us-east-1

echo "[check-template] check_template.py: routes ($ADMIN_BIN routes), table, IAM, globals"
"$PYTHON" infra/scripts/check_template.py --template template.yaml --admin-bin "$ADMIN_BIN"

echo "[check-template] ok"
