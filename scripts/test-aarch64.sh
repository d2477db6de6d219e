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
# neon; cortex-a76: ARMv8.2 with dotprod, no i8mm). The tests on the real model data
# (MethodsRealData, BudgetRealData) are left out: under emulation they alone would take longer
# than everything else; the native runs cover them.
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build-aarch64}"
jobs="$(nproc)"

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
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j"$jobs"

echo "== the test suite under qemu-aarch64 -cpu max"
ctest --test-dir "$build" -j"$jobs" --output-on-failure --timeout 600 \
  -E '^(MethodsRealData|BudgetRealData)\.'

qemu=(qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib:/usr/lib/aarch64-linux-gnu)  # as in the toolchain file
for cpu in cortex-a53:neon cortex-a76:dotprod; do
  echo "== the kernel tests under qemu-aarch64 -cpu ${cpu%%:*} (highest level ${cpu##*:})"
  "${qemu[@]}" -cpu "${cpu%%:*}" "$build/tests/qlinear_tests" \
    --gtest_filter='Levels/Kernels.*:KernelLevels.*:Determinism.*' --gtest_brief=1 >"$build/qemu-${cpu%%:*}.log" 2>&1 ||
    { cat "$build/qemu-${cpu%%:*}.log"; exit 1; }
  tail -n 3 "$build/qemu-${cpu%%:*}.log"
  # The levels the detection found: the test list names each one the CPU has.
  listed="$("${qemu[@]}" -cpu "${cpu%%:*}" "$build/tests/qlinear_tests" --gtest_list_tests \
    --gtest_filter='Levels/Kernels.IntegerSumsAreExact/*' |
    sed -n 's|^ *IntegerSumsAreExact/\([a-z0-9]*\).*|\1|p' | tr '\n' ' ')"
  echo "levels: $listed"
  case "${cpu##*:}" in
    neon) expected="scalar neon " ;;
    dotprod) expected="scalar neon dotprod " ;;
  esac
  if [ "$listed" != "$expected" ]; then
    echo "error: expected the levels '$expected' on ${cpu%%:*}, the tests found '$listed'" >&2
    exit 1
  fi
done
echo "== aarch64: all passed"
