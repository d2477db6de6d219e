// AVX-512 integer GEMM/GEMV on the packed panels of packed.hpp, the AVX2 level's layout: each
// 32-bit lane holds one weight row, and one `vpdpbusd` (unsigned codes × 4 broadcast activation
// bytes, summed into the lane's int32) does what the AVX2 kernels need `vpmaddubsw` + `vpmaddwd`
// for, with no 16-bit step to bound: the codes go in as stored (u = q + 128 for the signed 8-bit
// ones) and the block's offset comes off once as o·Σq.
//
// The GEMM (tiles of 4 activation rows) puts two neighbouring panels in one zmm register, lanes
// 0–7 the first and 8–15 the second, so a block of 16 rows × 32 inputs is 8 `vpdpbusd` per
// activation row, and takes two such registers per tile, so that each broadcast activation word
// serves 32 rows. The GEMV keeps one panel per ymm register (avx512_panels.hpp).
// The sums run in 8 independent chains (GEMM: 4 activation rows × 2 registers; GEMV: 4 per
// register) so that the instruction's latency stays hidden.
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c; nothing here may
// call an inline function of a shared header.

// GCC 12 reports the intrinsics' own "undefined" pass-through operands (_mm512_undefined_*, inside
// its avx512fintrin.h) as maybe-uninitialized once they are inlined here (GCC bug 105593, fixed
// in 13); set before any header so that it covers theirs.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/scalar_kernels.hpp"
#include "kernels/x86/avx2.hpp"
#include "kernels/x86/avx512.hpp"
#include "kernels/x86/avx512_panels.hpp"

#define QLINEAR_VNNI_NS avx512

#include "kernels/x86/vnni_gemm_int_body.hpp"
