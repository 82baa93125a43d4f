#!/usr/bin/env bash
# Installs the pinned test tools into ignored folders under .tools/ at the repo root.
# Idempotent: each tool set has a stamp file holding its pins; a tool set is
# (re)installed only when its stamp is missing or differs (a changed pin reinstalls).
#
#   .tools/py    Python venv: moto server (DynamoDB, DynamoDB Streams, SNS,
#                API Gateway Management API), cfn-lint, and the reference QR
#                encoders segno and qrcodegen
#   .tools/sam   Python venv: aws-sam-cli (separate: it pins its own cfn-lint/boto3)
#   .tools/st    Python venv: schemathesis, openapi-spec-validator, jsonschema and
#                cryptography for the OpenAPI check (separate: its pins must not
#                clash with moto's)
#   .tools/node  npm prefix: dynalite (in-memory DynamoDB), run with node
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS="$ROOT/.tools"

# ---- pins -------------------------------------------------------------------
# moto: no extras on purpose. moto[server] and moto[dynamodb] pull docker and a
# dozen packages for other services; the server needs only flask + flask-cors, and
# DynamoDB needs py-partiql-parser (the exact version moto 5.2.5 pins) for PartiQL.
# SNS, DynamoDB Streams and API Gateway Management API need no extra packages.
PY_PINS=(
  moto==5.2.5
  flask==3.1.3
  flask-cors==6.0.5
  werkzeug==3.1.9
  py-partiql-parser==0.6.3
  boto3==1.44.8
  botocore==1.44.8
  cfn-lint==1.58.0
  # The references the block's QR encoder is tested against (tests/browser/qr-encoder.test.js):
  segno==1.6.6      # module for module at a forced version and mask
  qrcodegen==1.8.0  # Nayuki's: the same, and the automatic mask choice
)
SAM_PINS=(
  aws-sam-cli==1.170.0
)
# The OpenAPI check (infra/scripts/openapi-check.sh): schemathesis fuzzes the local stack
# from docs/openapi.yaml; openapi_check.py validates the document (openapi-spec-validator),
# the answers (jsonschema) and signs phone calls (cryptography, ECDSA P-256).
ST_PINS=(
  schemathesis==4.32.5
  hypothesis==6.170.17
  openapi-spec-validator==0.9.0
  jsonschema==4.26.0
  cryptography==50.0.2
)
# cargo-lambda (with zig, to cross-compile to arm64): `sam build` (make build) and the
# `cargo lambda watch` end-to-end test; its PyPI wheel ships the binary.
LAMBDA_PINS=(
  cargo-lambda==1.9.2
  ziglang==0.17.1
)
NODE_PINS=(
  dynalite@4.0.0
)
# -----------------------------------------------------------------------------

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1
export SAM_CLI_TELEMETRY=0

start=$SECONDS
did=0

log() { printf '[tools] %s\n' "$*"; }

# up_to_date DIR STAMP_CONTENT CHECK_FILE
up_to_date() {
  [[ -f "$1/.nsauth-stamp" && -e "$3" ]] && [[ "$(cat "$1/.nsauth-stamp")" == "$2" ]]
}

install_venv() {
  local dir=$1 check=$2; shift 2
  local stamp="python=$(python3 -c 'import sys; print(".".join(map(str, sys.version_info[:3])))') $*"
  if up_to_date "$dir" "$stamp" "$dir/bin/$check"; then
    log "${dir#"$ROOT"/}: up to date ($*)"
    return
  fi
  log "${dir#"$ROOT"/}: installing $*"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/python" -m pip install -q "$@"
  printf '%s' "$stamp" > "$dir/.nsauth-stamp"
  did=1
}

install_node() {
  local dir=$1 check=$2; shift 2
  local stamp="node=$(node --version) $*"
  if up_to_date "$dir" "$stamp" "$dir/$check"; then
    log "${dir#"$ROOT"/}: up to date ($*)"
    return
  fi
  log "${dir#"$ROOT"/}: installing $*"
  rm -rf "$dir"
  mkdir -p "$dir"
  npm install --prefix "$dir" --save-exact --no-audit --no-fund --loglevel=error "$@" >/dev/null
  printf '%s' "$stamp" > "$dir/.nsauth-stamp"
  did=1
}

command -v python3 >/dev/null || { echo "tools.sh: python3 not found" >&2; exit 1; }
command -v node >/dev/null || { echo "tools.sh: node not found" >&2; exit 1; }
command -v npm >/dev/null || { echo "tools.sh: npm not found" >&2; exit 1; }

mkdir -p "$TOOLS"
install_venv "$TOOLS/py" moto_server "${PY_PINS[@]}"
install_venv "$TOOLS/sam" sam "${SAM_PINS[@]}"
install_venv "$TOOLS/st" schemathesis "${ST_PINS[@]}"
install_venv "$TOOLS/lambda" cargo-lambda "${LAMBDA_PINS[@]}"
install_node "$TOOLS/node" node_modules/dynalite/cli.js "${NODE_PINS[@]}"

if [[ $did == 1 ]]; then
  "$TOOLS/py/bin/moto_server" --help >/dev/null
  log "moto $("$TOOLS/py/bin/python" -c 'from importlib.metadata import version; print(version("moto"))'), $("$TOOLS/py/bin/cfn-lint" --version), $("$TOOLS/sam/bin/sam" --version), schemathesis $("$TOOLS/st/bin/python" -c 'from importlib.metadata import version; print(version("schemathesis"))'), dynalite $(node -p "require('$TOOLS/node/node_modules/dynalite/package.json').version")"
  log "done in $((SECONDS - start)) s"
else
  log "nothing to do"
fi
