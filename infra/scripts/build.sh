#!/usr/bin/env bash
# `make build`: `sam build` from a fresh clone. Installs the pinned cargo-lambda (with zig,
# for cross-compiling to arm64) and the SAM CLI into .tools/, adds the aarch64 target, builds
# every function of template.yaml, checks that each has an aarch64 `bootstrap`, and prints
# the sizes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

infra/scripts/tools.sh
venv=.tools/lambda
rustup target add aarch64-unknown-linux-gnu >/dev/null

export PATH="$PWD/$venv/bin:$PWD/.tools/sam/bin:$PATH"
# cargo-lambda cross-compiles C code (aws-lc) with zig from the pinned `ziglang` wheel.
zig=$(echo "$PWD/$venv"/lib/python3*/site-packages/ziglang/zig)
export CARGO_ZIGBUILD_ZIG_PATH="$zig"
export SAM_CLI_TELEMETRY=0
start=$SECONDS
sam build --template template.yaml "$@"
echo "[build] sam build took $((SECONDS - start)) s"
.tools/py/bin/python infra/scripts/check_build.py template.yaml .aws-sam/build
