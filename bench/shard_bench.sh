#!/bin/bash
# Throughput of `qlinear quantize` on a sharded bf16 model (issue 11): a synthetic model written by
# make_sharded_bf16.py (4 GiB in 4 safetensors shards by default), read with `cat` and quantized to
# q4_0 with --threads 2 and --jobs 1 and 2, the output on /dev/shm (memory) and on the input's disk;
# each figure the median of RUNS runs, in GB/s of input, with the load average when it was taken.
#
#   bench/shard_bench.sh QLINEAR_EXE [WORK_DIR]     (WORK_DIR on the disk to measure; default ./shard-bench)
#
# Cold runs drop the page cache first (echo 3 > /proc/sys/vm/drop_caches: root only, and it drops
# every process's cache); where that is not permitted they are left out and the script says so.
# Environment: SIZE_GIB (4), SHARDS (4), RUNS (3), THREADS (2). The model is deleted at the end.
set -euo pipefail
qlinear="$(realpath "$1")"
work="$(realpath -m "${2:-shard-bench}")"
size_gib="${SIZE_GIB:-4}" shards="${SHARDS:-4}" runs="${RUNS:-3}" threads="${THREADS:-2}"
here="$(cd "$(dirname "$0")" && pwd)"
model="$work/model" shm="/dev/shm/qlinear-shard-bench"

cleanup() { rm -rf "$model" "$work/out.gguf" "$shm"; }
trap cleanup EXIT
mkdir -p "$work" "$shm"
df -h "$work" /dev/shm
/usr/bin/python3 "$here/make_sharded_bf16.py" "$model" "$size_gib" "$shards"
files=("$model"/*.safetensors)
bytes="$(stat -c %s "${files[@]}" | awk '{ s += $1 } END { printf "%.0f", s }')"
sync

cold=1
if ! (echo 3 > /proc/sys/vm/drop_caches) 2> /dev/null; then
  cold=0
  echo "cannot drop the page cache here (not root, or /proc/sys read-only): cold runs left out"
fi

# median of the arguments
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }

# measure NAME COLD COMMAND...: RUNS timings, then one line: the median wall time and the input
# rate it gives, the median CPU time (user + system) and the input per CPU-second, each run's wall
# time and the load average (1 minute) when it started.
measure() {
  local name="$1" drop="$2" walls=() cpus=() loads=() t
  shift 2
  for ((r = 0; r < runs; ++r)); do
    if [[ "$drop" == 1 ]]; then sync; echo 3 > /proc/sys/vm/drop_caches; else cat "${files[@]}" > /dev/null; fi
    loads+=("$(cut -d' ' -f1 /proc/loadavg)")
    t="$( { TIMEFORMAT='%R %U %S'; time "$@" > /dev/null; } 2>&1 )"
    walls+=("$(awk '{ print $1 }' <<< "$t")")
    cpus+=("$(awk '{ print $2 + $3 }' <<< "$t")")
  done
  local wall cpu
  wall="$(median "${walls[@]}")" cpu="$(median "${cpus[@]}")"
  awk -v n="$name" -v b="$bytes" -v w="$wall" -v c="$cpu" -v each="${walls[*]}" -v l="${loads[*]}" \
    'BEGIN { printf "| %s | %.2f s | %.2f GB/s | %.2f s | %.2f GB/s | %s | %s |\n", n, w, b / w / 1e9, c, b / c / 1e9, each, l }'
}

lscpu | grep -E '^(Model name|CPU\(s\))'
echo "input: $bytes bytes in ${#files[@]} files; $runs runs each; --threads $threads"
echo "| what | wall (median) | input / wall | CPU (median) | input / CPU-second | each run's wall (s) | load average |"
echo "|---|---|---|---|---|---|---|"
quantize() { "$qlinear" quantize "$model" "$1" --type q4_0 --threads "$threads" --jobs "$2" -q; }
cat_all() { cat "${files[@]}" > /dev/null; }
if [[ "$cold" == 1 ]]; then measure "cat, cold" 1 cat_all; fi
measure "cat, page cache" 0 cat_all
for jobs in 1 2; do
  measure "quantize --jobs $jobs, page cache → /dev/shm" 0 quantize "$shm/out.gguf" "$jobs"
  measure "quantize --jobs $jobs, page cache → disk" 0 quantize "$work/out.gguf" "$jobs"
  if [[ "$cold" == 1 ]]; then measure "quantize --jobs $jobs, cold → /dev/shm" 1 quantize "$shm/out.gguf" "$jobs"; fi
done
