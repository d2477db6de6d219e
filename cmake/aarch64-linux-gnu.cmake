# Cross build for 64-bit ARM Linux with Debian's cross compiler (g++-aarch64-linux-gnu), the arm64
# libraries installed through Debian's multiarch (libopenblas-dev:arm64, libgtest-dev:arm64), and
# the tests run under qemu-aarch64 (qemu-user). scripts/test-aarch64.sh installs all of it.
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_OBJDUMP /usr/bin/aarch64-linux-gnu-objdump CACHE FILEPATH "")

# The compiler's own sysroot (/usr/aarch64-linux-gnu) plus the host root, where multiarch puts the
# arm64 packages under lib/aarch64-linux-gnu; only libraries and headers are taken from them, never
# programs.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# Test programs (and gtest_discover_tests' listing of them) run under user-mode qemu. `-cpu max`
# gives every extension qemu knows (dotprod and i8mm included), so the highest level runs; the lower
# ones are forced with QLINEAR_ISA. -L points qemu at the cross sysroot, whose dynamic loader runs the
# program. The C library must be the one that loader belongs to: the multiarch arm64 packages bring
# their own libc.so.6 (another Debian revision), and a loader of one revision with the C library of
# the other hangs in the first pthread_create. So the cross sysroot comes first on the library path,
# and the multiarch folder (OpenBLAS, GoogleTest) after it.
set(CMAKE_CROSSCOMPILING_EMULATOR
    /usr/bin/qemu-aarch64;-cpu;max;-L;/usr/aarch64-linux-gnu;-E;LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib:/usr/lib/aarch64-linux-gnu)

# The export check reads the ARM library with the cross binutils' nm.
set(QLINEAR_NM /usr/bin/aarch64-linux-gnu-nm CACHE FILEPATH "")
