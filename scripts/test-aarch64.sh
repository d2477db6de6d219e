#!/usr/bin/env bash
# The 64-bit ARM build and its tests on an x86-64 Debian 12 machine: Debian's cross compiler, the
# arm64 libraries through Debian's multiarch, and the test suite under user-mode qemu.
#   scripts/test-aarch64.sh [build folder, default build-aarch64]
# Installs what it needs from Debian (as root, or with sudo) when it is missing. On ARM hardware
# none of this is needed: the README's usual commands build and test natively.
#
# Runs: the whole ctest suite at the highest level qemu offers (-cpu max: dotprod and i8mm), the
# forced lower levels among it (kernels.forced_*), then the kernel tests once more on CPUs qemu
# models without those extensions, which the run-time detection must see (cortex-a53: ARMv8.0,
# neon; cortex-a76: ARMv8.2 with dotprod, no i8mm).
#
# Left out of the qemu run (the native runs of .ci/run cover each), and why:
# - The tests on the real model data (every *RealData suite: MethodsRealData, BudgetRealData, ...):
#   under emulation they alone would take longer than everything else, for code paths the small
#   tests cover at every level.
# - The two heaviest end-to-end tests, CliQuantize.GptqBeatsReferenceOnTheBundledModel (216 s under
#   qemu) and Jobs.GptqAndSearchWithCalibrationGiveTheBytesOfOneJob (264 s): GPTQ and the search
#   through the tool and the job runner, float and BLAS code with no kernel of its own per level;
#   the second exists to run OpenBLAS's threads beside the jobs', and under qemu-user OpenBLAS runs
#   one thread (the toolchain file). Together a ninth of the suite's test time.
# - ModelStreaming.PeakMemoryGrowsByLessThanTwiceTheLargestTensor: it reads the tool's peak resident
#   memory, which under qemu-user includes the emulator's own translation buffers (measured: 25.7 MB
#   of growth against the 16.8 MB limit).
# - examples.kubernetes_local: its pod commands run `qlinear` by name from a shell, which cannot
#   execute an arm64 program unless binfmt_misc hands it to qemu (Debian's qemu-user-binfmt; not
#   installed here, and not needed by anything else).
# - From the cross build: the Python module, the Rust crate and the install-consumer test (a cross
#   build has no arm64 Python or cargo, and its consumer would be built for the host), the fuzz
#   targets (clang + libFuzzer) and the benchmarks: the configure line turns each off, so only the
#   library, the tool and the test programs are compiled.
#
# Time-bounded for CI (.ci/run, 2 cores): every test under ctest --timeout, and each stage under
# `timeout`, so that a hang under qemu (one was seen in pthread_create with a mismatched C library)
# fails the run instead of stalling it. The limits are environment variables (seconds):
#   QLINEAR_AARCH64_BUILD_LIMIT (default 2700), QLINEAR_AARCH64_SUITE_LIMIT (2700),
#   QLINEAR_AARCH64_TEST_LIMIT (600, one test), QLINEAR_AARCH64_LEVELS_LIMIT (900, per CPU model).
# Measured on a 2-core AMD EPYC (Zen 4) shared with other jobs: the suite under qemu -cpu max at
# -j2 with the cuts above, 11.6 min wall at load average 4–5 (before the cuts: 24 min wall and 14 min
# of CPU at load 6–10); the kernel tests on cortex-a53 and cortex-a76, 1–2 min each (run side by side); the whole
# script with the build up to date, 14.5 min. The cross build of the test programs at -j1: 9 min at
# load 6–7 with the library from ccache, 4.4 min at load 2–5 for the test files alone. ccache is
# used when installed.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-aarch64}"
jobs="$(nproc)"
build_limit="${QLINEAR_AARCH64_BUILD_LIMIT:-2700}"
suite_limit="${QLINEAR_AARCH64_SUITE_LIMIT:-2700}"
test_limit="${QLINEAR_AARCH64_TEST_LIMIT:-600}"
levels_limit="${QLINEAR_AARCH64_LEVELS_LIMIT:-900}"
started=$SECONDS
stage_time() { echo "   ($(( SECONDS - started )) s since the start)"; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $sudo dpkg --add-architecture arm64
  $sudo apt-get update -qq
fi
packages="cmake make pkgconf nlohmann-json3-dev libcli11-dev g++-aarch64-linux-gnu qemu-user \
libopenblas-dev:arm64 libgtest-dev:arm64 libgmock-dev:arm64"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "installing:$missing"
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  $sudo apt-get install -y -qq --no-install-recommends $missing
fi

echo "== cross build ($build)"
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release \
  -DQLINEAR_BUILD_BENCH=OFF -DQLINEAR_BUILD_FUZZ=OFF -DQLINEAR_BUILD_PYTHON=OFF "${launcher[@]}"
timeout --kill-after=30 "$build_limit" cmake --build "$build" -j"$jobs"
stage_time

echo "== the test suite under qemu-aarch64 -cpu max"
left_out=('RealData\.' '^CliQuantize\.GptqBeatsReferenceOnTheBundledModel$'
          '^Jobs\.GptqAndSearchWithCalibrationGiveTheBytesOfOneJob$'
          '^ModelStreaming\.PeakMemoryGrowsByLessThanTwiceTheLargestTensor$' '^examples\.kubernetes_local$')
# timeout signals the whole process group: ctest and the qemu processes it started.
timeout --kill-after=30 "$suite_limit" \
  ctest --test-dir "$build" -j"$jobs" --output-on-failure --timeout "$test_limit" \
  -E "$(IFS='|'; echo "${left_out[*]}")"
stage_time

qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib:/usr/lib/aarch64-linux-gnu)  # as in the toolchain file
cpus=(cortex-a53:neon cortex-a76:dotprod)
for cpu in "${cpus[@]}"; do
  # The levels the detection finds on the emulated CPU: the test list names each one it has.
  listed="$("${qemu[@]}" -cpu "${cpu%%:*}" "$build/tests/qlinear_tests" --gtest_list_tests \
    --gtest_filter='Levels/Kernels.IntegerSumsAreExact/*' |
    sed -n 's|^ *IntegerSumsAreExact/\([a-z0-9]*\).*|\1|p' | tr '\n' ' ')"
  echo "-cpu ${cpu%%:*}: levels $listed"
  case "${cpu##*:}" in
    neon) expected="scalar neon " ;;
    dotprod) expected="scalar neon dotprod " ;;
  esac
  if [ "$listed" != "$expected" ]; then
    echo "error: expected the levels '$expected' on ${cpu%%:*}, the tests found '$listed'" >&2
    exit 1
  fi
done

# The kernel tests on both emulated CPUs at once (one process each, one per core).
echo "== the kernel tests under qemu-aarch64 -cpu cortex-a53 (neon) and -cpu cortex-a76 (dotprod)"
pids=()
for cpu in "${cpus[@]}"; do
  timeout --kill-after=30 "$levels_limit" "${qemu[@]}" -cpu "${cpu%%:*}" "$build/tests/qlinear_tests" \
    --gtest_filter='Levels/Kernels.*:KernelLevels.*:KQuantKernels.*:Determinism.*:HalfRows.*:FusedKernels.*' \
    --gtest_brief=1 >"$build/qemu-${cpu%%:*}.log" 2>&1 &
  pids+=($!)
done
failed=0
for i in "${!cpus[@]}"; do
  cpu="${cpus[$i]}"
  if wait "${pids[$i]}"; then
    echo "-cpu ${cpu%%:*}: $(grep -E '^\[ *(PASSED|SKIPPED) *\]' "$build/qemu-${cpu%%:*}.log" | tr -s ' \n' ' ')"
  else
    cat "$build/qemu-${cpu%%:*}.log"
    failed=1
  fi
done
stage_time
[ "$failed" -eq 0 ] || exit 1
echo "== aarch64: all passed"
