#!/usr/bin/env bash
# Release profiles side by side (issue 12): for each candidate, a clean build of every Lambda
# function in a target directory of its own (wall time and CPU time), the size of each
# binary, and the CPU work of a signed phone call (shared/protocol/examples/verify_cpu.rs:
# canonical bytes, key decode, P-256 verify) built with that profile.
#
# usage: infra/bench/profiles.sh [NAME=OPT,LTO,CGU ...]
#   default: the profile in Cargo.toml (s,fat,1) against 3,fat,1  z,fat,1  s,thin,16  3,off,16
# Each clean build takes minutes (about 9 on 2 cores for s,fat,1); the whole run over half
# an hour. Build times are only comparable within one run on an otherwise idle machine;
# CPU time (user+sys) is less affected by other load than wall time.
set -euo pipefail
cd "$(dirname "$0")/../.."

FUNCTIONS=(create_session get_session website_sessions account_admin phone_api push_login
  login_block management websocket notifier)
if (($# == 0)); then
  set -- current=s,fat,1 o3=3,fat,1 oz=z,fat,1 thin=s,thin,16 o3-nolto=3,off,16
fi
root="${NSAUTH_PROFILES_DIR:-target/profiles}"
mkdir -p "$root"
results=()
for spec in "$@"; do
  name="${spec%%=*}"
  IFS=, read -r opt lto cgu <<<"${spec#*=}"
  [[ $opt =~ ^[0-3sz]$ ]] || { echo "$spec: opt-level must be 0-3, s or z" >&2; exit 2; }
  [[ $opt =~ ^[0-3]$ ]] && optv="$opt" || optv="\"$opt\""
  case "$lto" in fat) ltov=true ;; thin) ltov='"thin"' ;; off) ltov=false ;;
    *) echo "$spec: lto must be fat, thin or off" >&2; exit 2 ;; esac
  dir="$root/$name"
  rm -rf "$dir"
  config=(--config "profile.release.opt-level=$optv" --config "profile.release.lto=$ltov"
    --config "profile.release.codegen-units=$cgu")
  echo "== $name: opt-level=$opt lto=$lto codegen-units=$cgu (clean build in $dir)" >&2
  packages=()
  for f in "${FUNCTIONS[@]}"; do packages+=(-p "$f"); done
  mkdir -p "$dir"
  TIMEFORMAT='%R %U %S'
  { time cargo build --locked --quiet --release --target-dir "$dir" "${config[@]}" \
    "${packages[@]}" 2>"$dir/build.log"; } 2>"$dir/time" || { cat "$dir/build.log" >&2; exit 1; }
  read -r wall user sys <"$dir/time"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
  for f in "${FUNCTIONS[@]}"; do
    [[ -x "$dir/release/$f" ]] || { echo "$name: $f was not built" >&2; exit 1; }
  done
  cargo build --locked --quiet --release --target-dir "$dir" "${config[@]}" \
    -p nsauth-protocol --example verify_cpu
  verify=$("$dir/release/examples/verify_cpu" 4000 | sed -E 's/^verify_cpu: //')
  size() { awk -v b="$(stat -c %s "$dir/release/$1")" 'BEGIN { printf "%.2f", b / 1e6 }'; }
  results+=("$(printf '%-10s %-4s %-5s %4s  %7.0f  %7.0f  %8s %8s %8s  %s' "$name" "$opt" "$lto" \
    "$cgu" "$wall" "$cpu" "$(size get_session)" "$(size login_block)" "$(size phone_api)" "$verify")")
done
echo
echo "release profiles: a clean build of all ${#FUNCTIONS[@]} functions each (x86_64 host)"
printf '%-10s %-4s %-5s %4s  %7s  %7s  %8s %8s %8s  %s\n' profile opt lto cgu "wall s" "cpu s" \
  "get_sess" "login_bl" "phone_api" "signed call (verify_cpu)"
printf '%s\n' "${results[@]}"
echo "(sizes in MB)"
