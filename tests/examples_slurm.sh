#!/bin/bash
# examples/slurm/quantize-plan.sbatch run as Slurm would, without Slurm: the submission (with
# SBATCH=echo: the plan, then the sbatch command it would run), then each array task as its own
# process (SLURM_ARRAY_TASK_ID set), all at once, in reverse order; every file must equal the
# one-process run's, and a rerun of a task must skip its complete file.
#   examples_slurm.sh QLINEAR_EXE SOURCE_DIR WORK_DIR
set -euo pipefail
qlinear="$1" source_dir="$2" work="$3"
script="$source_dir/examples/slurm/quantize-plan.sbatch"
model="$source_dir/data/ppocrv4_rec_linear.safetensors"  # 29 tensors: 3 files of at most 10
options="--type q4_0 --split-max-tensors 10"

rm -rf "$work"
mkdir -p "$work/one" "$work/pieces"
fail() { echo "FAIL: $*" >&2; exit 1; }

submitted="$(MODEL="$model" OUTPUT="$work/pieces/m.gguf" QUANTIZE="$options" QLINEAR="$qlinear" SBATCH=echo \
  bash "$script")"
echo "$submitted"
grep -q -- "^--array=1-3 --export=ALL,PLAN=$work/pieces/plan.json,JOBS=2,QLINEAR=$qlinear $script\$" \
  <<< "$submitted" || fail "the submission is not a 3-task array of the script"
[[ -f "$work/pieces/plan.json" ]] || fail "no plan written"
ls "$work/pieces"/*.gguf 2>/dev/null && fail "the submission wrote output files"

pids=()
for task in 3 2 1; do
  SLURM_ARRAY_TASK_ID="$task" SLURM_CPUS_PER_TASK=1 PLAN="$work/pieces/plan.json" QLINEAR="$qlinear" \
    bash "$script" > "$work/task$task.log" 2>&1 &
  pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid" || fail "a task failed: $(cat "$work"/task*.log)"; done

# shellcheck disable=SC2086  # the options are words
"$qlinear" quantize "$model" "$work/one/m.gguf" $options -q > /dev/null
for k in 1 2 3; do
  name="m-0000$k-of-00003.gguf"
  cmp "$work/one/$name" "$work/pieces/$name" || fail "$name differs from the one-process run's"
done

SLURM_ARRAY_TASK_ID=2 PLAN="$work/pieces/plan.json" QLINEAR="$qlinear" bash "$script" > "$work/rerun.log"
grep -q "complete already: $work/pieces/m-00002-of-00003.gguf" "$work/rerun.log" || fail "a rerun did not skip its file"
echo "3 array tasks wrote the one-process run's files; a rerun skipped its complete file"
