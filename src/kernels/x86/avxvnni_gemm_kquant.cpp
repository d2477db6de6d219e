// avxvnni GEMM/GEMV of the K-quants and i-quants on the packed super records of packed.hpp (the
// AVX2 level's layout), with the ymm registers of avxvnni_panels.hpp: one panel per register, tiles
// of 4 activation rows for the GEMM, 4 chains for the GEMV.
//
// As in avx512_gemm_kquant.cpp, `vpdpbusd` sums the unsigned codes' products with the activation
// bytes straight into int32: per block of 32 and activation row, the codes of inputs 0..15 and of
// 16..31 go into two sums, which meet their sub-block scales with one vpmulld each, exact in int32
// (at most 32·63·127·127 for q6_K). Offsets (q3_K 4, q6_K 32) and mins come from one vpmaddwd of
// the (sc₀, sc₁) or (m₀, m₁) pairs against the activation's half-block sums. The iq4 grid is
// signed, so its codes are looked up as g + 128 and 128·Σq comes off the block's sum.
//
// Compiled twice, as avxvnni_gemm_int.cpp is (avxvnni.hpp): here into namespace avxvnni, through
// avxvnni_evex_gemm_kquant.cpp into avxvnni_evex. Nothing here may call an inline function of a
// shared header.

#if !defined(QLINEAR_VNNI_NS)
#define QLINEAR_VNNI_NS avxvnni
#endif

#include "formats/blocks.hpp"
#include "kernels/scalar_kernels.hpp"
#include "kernels/x86/avx2.hpp"
#include "kernels/x86/avxvnni.hpp"
#include "kernels/x86/avxvnni_panels.hpp"

#include "kernels/x86/vnni_gemm_kquant_body.hpp"
