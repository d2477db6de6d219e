#!/bin/bash
# The commands of examples/kubernetes/ run as their pods would run them, without Kubernetes: the
# plan Job's, then the Indexed Job's once per index (JOB_COMPLETION_INDEX = 0 .. N-1, each its own
# process, all at once), with the volume's /models replaced by a folder here, the 70B model by the
# bundled weights and 4G files by 1M ones (4 files). Every file must equal the one-process run's.
#   examples_kubernetes.sh QLINEAR_EXE SOURCE_DIR WORK_DIR      (needs python3 with yaml)
set -euo pipefail
qlinear="$1" source_dir="$2" work="$3"
examples="$source_dir/examples/kubernetes"
model="$source_dir/data/ppocrv4_rec_linear.safetensors"
fail() { echo "FAIL: $*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work/models" "$work/one" "$work/bin"
ln -s "$(realpath "$qlinear")" "$work/bin/qlinear"  # the image has qlinear on its PATH

# The container's `sh -c` script, with the volume and the model replaced.
command_of() {
  python3 - "$1" <<'PY' | sed -e "s|/models/Llama-3-70B|$model|g" -e "s|/models|$work/models|g" -e "s|--split-max-size 4G|--split-max-size 1M|"
import sys, yaml
job = yaml.safe_load(open(sys.argv[1]))
command = job["spec"]["template"]["spec"]["containers"][0]["command"]
assert command[:2] == ["sh", "-c"], command
print(command[2])
PY
}
plan_command="$(command_of "$examples/plan-job.yaml")"
quantize_command="$(command_of "$examples/quantize-job.yaml")"
echo "plan pod: $plan_command"
echo "quantize pods: $quantize_command"

summary="$(PATH="$work/bin:$PATH" sh -c "$plan_command")"
count="$(sed -n 's/^wrote .*: \([0-9][0-9]*\) file(s);.*/\1/p' <<< "$summary")"
[[ "$count" == 4 ]] || fail "the plan has ${count:-no} files, expected 4: $summary"

pids=()
for index in 3 2 0 1; do
  JOB_COMPLETION_INDEX="$index" PATH="$work/bin:$PATH" sh -c "$quantize_command" > "$work/pod$index.log" 2>&1 &
  pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid" || fail "a pod failed: $(cat "$work"/pod*.log)"; done

"$qlinear" quantize "$model" "$work/one/llama-70b-q4_0.gguf" --type q4_0 --split-max-size 1M -q > /dev/null
for k in 1 2 3 4; do
  name="llama-70b-q4_0-0000$k-of-00004.gguf"
  cmp "$work/one/$name" "$work/models/out/$name" || fail "$name differs from the one-process run's"
done
echo "4 pods wrote the one-process run's files"
