#!/usr/bin/env bash
# `make build`: `sam build` from a fresh clone. Installs the pinned cargo-lambda (with zig,
# for cross-compiling to arm64) and the SAM CLI into .tools/, adds the aarch64 target, builds
# every function of template.yaml, checks that each has an aarch64 `bootstrap`, and prints
# the sizes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

CARGO_LAMBDA_VERSION=1.9.2
ZIGLANG_VERSION=0.17.1

infra/scripts/tools.sh
venv=.tools/lambda
stamp="$venv/.nsauth-stamp"
want="cargo-lambda==$CARGO_LAMBDA_VERSION ziglang==$ZIGLANG_VERSION"
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "[build] installing $want into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check $want
  echo "$want" > "$stamp"
fi
rustup target add aarch64-unknown-linux-gnu >/dev/null

export PATH="$PWD/$venv/bin:$PWD/.tools/sam/bin:$PATH"
export SAM_CLI_TELEMETRY=0
start=$SECONDS
sam build --template template.yaml "$@"
echo "[build] sam build took $((SECONDS - start)) s"
.tools/py/bin/python infra/scripts/check_build.py template.yaml .aws-sam/build
