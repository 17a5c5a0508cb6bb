#!/usr/bin/env bash
# Usage: fuzz/run.sh TARGET [SECONDS]  -- stable toolchain, no sanitizer (secpath has no unsafe
# code, so AddressSanitizer adds little); fails on any crash, leaving it in fuzz/artifacts/.
set -euo pipefail
target="$1"; secs="${2:-30}"
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
dirs=("fuzz/corpus/$target")             # first dir receives new inputs
mkdir -p "${dirs[0]}"
[ -d "fuzz/seeds/$target" ] && dirs+=("fuzz/seeds/$target")   # read-only seeds
dict=()                                  # token dictionaries for the text formats
case "$target" in
  dsl) dict=(-dict=fuzz/dicts/dsl.dict) ;;
  snapshot_json|nsg_flow_log|vnet_flow_log) dict=(-dict=fuzz/dicts/json.dict) ;;
esac
cargo fuzz build -s none "$target"        # untimed: the first build is the slow part
timeout $((secs + 120)) cargo fuzz run -s none "$target" "${dirs[@]}" \
  -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=1048576 "${dict[@]}"
