#!/usr/bin/env bash
# Whole-model quantization, end to end: writes a synthetic LLaMA-shaped f16 GGUF (make_llama_gguf.py:
# 8 layers, hidden 2048, ffn 5632, vocab 8192, 788 MB), then times `qlinear quantize` (wall, user,
# sys, peak memory) for each type at the given thread count. When QBENCH names a program that runs
# llama.cpp's llama_model_quantize on a file (built outside this repository; see bench/README.md),
# that quantizer runs on the same file, with the same threads, interleaved with qlinear in the same
# run. Prints every run, then the medians and the ratios.
#
#   bench/model_bench.sh [--qlinear build/qlinear] [--dir DIR] [--threads 2] [--runs 5] [--types "q4_0 q8_0"]
#   QBENCH="/path/to/qbench" bench/model_bench.sh        # qbench IN OUT TYPE THREADS
#   BASELINE=/path/to/older/qlinear bench/model_bench.sh # an older build too, as "baseline"
#
# Every output file is deleted before each run, for both tools, so that both write a new file:
# qlinear always does (it writes a temporary file and renames it over the old one at the end), while
# llama.cpp would truncate and rewrite the old one, whose pages are still in the page cache.

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
qlinear="$here/../build/qlinear"
dir="${TMPDIR:-/tmp}/qlinear-model-bench"
threads=2
runs=5
types="q4_0 q8_0"
model_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --qlinear) qlinear="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --types) types="$2"; shift 2 ;;
    --small) model_args=(--layers 2); shift ;;  # a 248 MB model, for a quick check
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

mkdir -p "$dir"
model="$dir/llama-synthetic${model_args:+-small}.f16.gguf"
if [[ ! -f "$model" ]]; then
  echo "writing $model"
  python3 "$here/make_llama_gguf.py" "$model" "${model_args[@]}"
fi
cat "$model" > /dev/null  # from the page cache from now on
bytes=$(stat -c %s "$model")
results="$dir/results.txt"
: > "$results"

run() {  # tool type
  local tool="$1" type="$2" out="$dir/out-$1-$2.gguf" timing="$dir/time.txt"
  rm -f "$out"
  if [[ "$tool" == qlinear || "$tool" == baseline ]]; then
    local exe="$qlinear"
    [[ "$tool" == baseline ]] && exe="$BASELINE"
    /usr/bin/time -f "%e %U %S %M" -o "$timing" "$exe" quantize "$model" "$out" --type "$type" \
      --threads "$threads" -q > "$dir/report-$tool-$type.txt"
  else
    /usr/bin/time -f "%e %U %S %M" -o "$timing" "$QBENCH" "$model" "$out" "$type" "$threads" 2> "$dir/llama-$type.log"
  fi
  read -r wall user sys rss < <(tail -n 1 "$timing")
  echo "$tool $type $wall $user $sys $rss" | tee -a "$results"
}

echo "tool type wall_s user_s sys_s max_rss_kb"
for ((r = 0; r < runs; ++r)); do
  for type in $types; do
    run qlinear "$type"
    if [[ -n "${QBENCH:-}" ]]; then run llama "$type"; fi
    if [[ -n "${BASELINE:-}" ]]; then run baseline "$type"; fi
  done
done

python3 - "$results" "$bytes" "$threads" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
size, threads = int(sys.argv[2]), int(sys.argv[3])
med = {}
for tool, typ in sorted({(r[0], r[1]) for r in rows}):
    sel = [r for r in rows if r[0] == tool and r[1] == typ]
    wall = [float(r[2]) for r in sel]
    m = {k: statistics.median(float(r[i]) for r in sel) for k, i in (("wall", 2), ("user", 3), ("sys", 4), ("rss", 5))}
    m["range"] = (min(wall), max(wall))
    med[(tool, typ)] = m
print()
print("medians of %d runs, %d threads, input %.0f MB (f16)" % (len(rows) // max(1, len(med)), threads, size / 1e6))
print("%-8s %-5s %8s %13s %7s %7s %9s %10s %10s" % ("tool", "type", "wall s", "[min-max]", "user s", "sys s",
                                                  "peak MiB", "input MB/s", "cpu/wall"))
for (tool, typ), m in sorted(med.items()):
    print("%-8s %-5s %8.2f %13s %7.2f %7.2f %9.0f %10.0f %10.2f" % (
        tool, typ, m["wall"], "[%.2f-%.2f]" % m["range"], m["user"], m["sys"], m["rss"] / 1024,
        size / 1e6 / m["wall"], (m["user"] + m["sys"]) / m["wall"]))
for typ in sorted({t for _, t in med}):
    for other, what in (("llama", "llama_model_quantize"), ("baseline", "the baseline build")):
        if (other, typ) in med and ("qlinear", typ) in med:
            print("%s: qlinear is %.2fx faster than %s (median wall)" % (
                typ, med[(other, typ)]["wall"] / med[("qlinear", typ)]["wall"], what))
EOF
