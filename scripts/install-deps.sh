#!/bin/sh
# Installs the Debian 12 packages qlinear builds and tests with, only where some are missing.
# Run as root (or with sudo available). Nothing else is downloaded at build or test time.
set -eu

# The Python module (pybind11, numpy, its tests, qlinear.torch and pip installs from the checkout)
# needs the second and third lines, the Rust crate cargo and rustc; python3-torch is large (a few
# hundred MB with its libraries). shellcheck, yamllint and python3-yaml check the cluster examples
# (examples/).
packages="g++ cmake make pkgconf libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev \
nlohmann-json3-dev libopenblas-dev clang libclang-rt-14-dev \
pybind11-dev python3-dev python3-numpy python3-pytest python3-torch python3-venv python3-setuptools \
python3-wheel python3-pip cargo rustc shellcheck yamllint python3-yaml"

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "installing:$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
