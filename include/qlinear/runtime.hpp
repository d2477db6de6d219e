#pragma once
// Process-wide runtime settings: which instruction-set level the kernels use and how many threads
// a forward pass or a quantization may use.
//
// Results never depend on the thread count: each output element is computed by exactly one thread,
// in the same order of operations whatever the count, so 1, 2, 3 or 8 threads give identical bits.
// Results may differ in the last bits between instruction-set levels (their float sums run in a
// different order); every level stays within the documented error of the product it computes.

#include <qlinear/export.h>
#include <cstddef>
#include <string_view>

namespace qlinear {

// Kernel levels. `scalar` runs on any CPU. x86-64, lowest first: `avx2` needs AVX2, FMA and F16C;
// `avxvnni` adds a 256-bit `vpdpbusd`, AVX-VNNI's (Alder Lake and later desktops, Zen 5) or, on
// CPUs without it, AVX-512 VNNI + VL's; `avx512` needs AVX2, FMA, F16C and AVX-512 F, BW, VL and
// VNNI (512-bit registers). 64-bit ARM, lowest first: `neon` needs Advanced SIMD (every ARMv8-A
// CPU); `dotprod` adds the ARMv8.2 dot-product instructions (`sdot`/`udot`); `i8mm` adds the int8
// matrix multiply (`smmla`). The levels of one architecture are never supported on the other.
// Formats without a kernel of their own at a level run the next lower level's. The numeric values
// are kept from release to release (a level added later is appended), so they do not follow the
// order of the levels.
enum class Isa { scalar = 0, avx2 = 1, avx512 = 2, neon = 3, dotprod = 4, i8mm = 5, avxvnni = 6 };

QLINEAR_API std::string_view isa_name(Isa isa) noexcept;
// "scalar", "avx2", "avxvnni", "avx512", "neon", "dotprod" or "i8mm"; Error(invalid_argument) otherwise.
QLINEAR_API Isa parse_isa(std::string_view name);

// The highest level this CPU and this build support.
QLINEAR_API Isa best_isa() noexcept;

// Whether this CPU and this build can run the level: scalar, or a level of this architecture at or
// below best_isa() (avxvnni: wherever the CPU has AVX-VNNI or AVX-512 VNNI + VL, so also below
// avx512).
QLINEAR_API bool isa_supported(Isa isa) noexcept;

// The level in use: best_isa(), lowered by the environment variable QLINEAR_ISA (a level name, read
// once; a level above best_isa() or of another architecture leaves best_isa()) or by set_isa(). Throws Error(invalid_argument) while QLINEAR_ISA holds an unknown name.
QLINEAR_API Isa active_isa();

// Forces a supported level (isa_supported(); Error(unsupported) otherwise). Affects calls that start
// afterwards; a call already running finishes at the level it started with.
QLINEAR_API void set_isa(Isa isa);

// Threads that forward() and quantize() may use, the calling thread included. 0 restores the
// default: QLINEAR_NUM_THREADS when set, else the number of hardware threads. Threads are created
// once and reused; a call made while another call is using them runs on the calling thread alone.
QLINEAR_API void set_num_threads(std::size_t count);

// The count in use; Error(invalid_argument) while QLINEAR_NUM_THREADS is not a count in 1..1024.
QLINEAR_API std::size_t num_threads();

}  // namespace qlinear
