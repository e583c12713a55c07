#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a fixed number of executions and prints
# libFuzzer's final statistics (executions, coverage, crashes).
# Usage: scripts/fuzz.sh [RUNS] [TARGET…]     (default 10,000,000 runs, every target)
# The machine's stable toolchain runs cargo-fuzz with RUSTC_BOOTSTRAP=1 (it needs -Z flags).
# FUZZ_SANITIZER=none runs without AddressSanitizer (several times faster; the targets are
# safe Rust); FUZZ_MAX_LEN caps input size (default 4096).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-10000000}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then TARGETS=(request_frame path_mask criteria); fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
mkdir -p .tmp/fuzz
for target in "${TARGETS[@]}"; do
  corpus=".tmp/fuzz/corpus-$target"
  mkdir -p "$corpus"
  cp -n fuzz/seeds/"$target"/* "$corpus"/ 2>/dev/null || true
  echo "==> $target: $RUNS runs"
  status=0
  (cd fuzz && cargo fuzz run -s "${FUZZ_SANITIZER:-address}" "$target" "../$corpus" -- \
      -runs="$RUNS" -max_len="${FUZZ_MAX_LEN:-4096}" -print_final_stats=1 -timeout=10) \
    > ".tmp/fuzz/$target.log" 2>&1 || status=$?
  grep -E "^(stat::|#[0-9]+ +DONE|==[0-9]+==|SUMMARY|Done)" ".tmp/fuzz/$target.log" || true
  if [ "$status" -ne 0 ] || grep -qE "^SUMMARY|deadly signal|panicked" ".tmp/fuzz/$target.log"; then
    echo "$target: FAILED with status $status (see .tmp/fuzz/$target.log and fuzz/artifacts/$target)" >&2
    exit 1
  fi
done
