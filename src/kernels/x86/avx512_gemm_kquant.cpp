// AVX-512 GEMM/GEMV of the K-quants and i-quants on the packed super records of packed.hpp (the
// AVX2 level's layout), with the registers of avx512_panels.hpp: Ymm (one panel) for the GEMV,
// two Zmm (four panels) for the GEMM.
//
// `vpdpbusd` sums the unsigned codes' products with the activation bytes straight into int32, so
// the 16-bit bounds that shape the AVX2 kernel are gone: per block of 32 and activation row, the
// codes of inputs 0..15 (the low nibbles, q2_K's first vector) and of 16..31 go into two sums,
// which meet their sub-block scales with one vpmulld each (one for both where the scale covers the
// block), exact in int32 (at most 32·63·127·127 for q6_K). Offsets (q3_K 4, q6_K 32) and mins come
// from one vpmaddwd of the (sc₀, sc₁) or (m₀, m₁) pairs against the activation's half-block sums, as
// at the AVX2 level. The iq4 grid is signed, so its codes are looked up as g + 128 and 128·Σq comes
// off the block's sum. The float work is the AVX2 kernel's: isum·(d·d_x) and msum·(−dmin·d_x).
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c; nothing here may
// call an inline function of a shared header.

// GCC 12 reports the intrinsics' own "undefined" pass-through operands (_mm512_undefined_*, inside
// its avx512fintrin.h) as maybe-uninitialized once they are inlined here (GCC bug 105593, fixed
// in 13); set before any header so that it covers theirs.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "formats/blocks.hpp"
#include "kernels/scalar_kernels.hpp"
#include "kernels/x86/avx2.hpp"
#include "kernels/x86/avx512.hpp"
#include "kernels/x86/avx512_panels.hpp"

#define QLINEAR_VNNI_NS avx512

#include "kernels/x86/vnni_gemm_kquant_body.hpp"
