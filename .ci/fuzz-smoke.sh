#!/usr/bin/env bash
# Fuzz smoke: builds the libFuzzer targets with clang (ASan + UBSan) in their own build folder, writes
# the seed corpus (valid files and the malformed corpus), and runs each reader's target for
# FUZZ_SECONDS (default 30). Fails if a target finds a crash, a sanitizer report, a leak, a timeout or
# an allocation over the limit. Usage: .ci/fuzz-smoke.sh [BUILD_DIR]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-fuzz}"
seconds="${FUZZ_SECONDS:-30}"
jobs="${FUZZ_BUILD_JOBS:-2}"

CXX="${CXX_FUZZ:-clang++}" cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQLINEAR_BUILD_FUZZ=ON -DQLINEAR_BUILD_TESTS=OFF -DQLINEAR_BUILD_TOOLS=OFF >/dev/null
cmake --build "$build" -j "$jobs" --target fuzz_gguf fuzz_safetensors fuzz_axqt fuzz_imatrix fuzz_calibration fuzz_shards qlinear_write_corpus

seeds="$build/fuzz-seeds"
rm -rf "$seeds"
"$build/fuzz/qlinear_write_corpus" "$seeds"

status=0
for reader in gguf safetensors axqt imatrix calibration shards; do
  work="$build/fuzz-corpus/$reader"
  artifacts="$build/fuzz-artifacts/$reader/"
  mkdir -p "$work" "$artifacts"
  log="$build/fuzz-$reader.log"
  echo "fuzz_$reader: ${seconds}s from $(ls "$seeds/$reader" | wc -l) seeds"
  if "$build/fuzz/fuzz_$reader" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$artifacts" "$work" "$seeds/$reader" >"$log" 2>&1; then
    runs="$(grep -Eo 'Done [0-9]+ runs' "$log" | grep -Eo '[0-9]+' || echo '?')"
    echo "fuzz_$reader: ok, $runs executions"
  else
    echo "fuzz_$reader: FAILED (log: $log, inputs: $artifacts)"
    tail -n 40 "$log"
    status=1
  fi
done
exit "$status"
