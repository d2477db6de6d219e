// avxvnni integer GEMM/GEMV on the packed panels of packed.hpp, the AVX2 level's layout: each
// 32-bit lane holds one weight row, and one 256-bit `vpdpbusd` (unsigned codes × 4 broadcast
// activation bytes, summed into the lane's int32) replaces the AVX2 kernels' `vpmaddubsw` +
// `vpmaddwd`, with no 16-bit step to bound: the codes go in as stored (u = q + 128 for q8_0, q8_1
// and the signed 8-bit affine codes, so no sign trick) and the block's offset comes off once as
// o·Σq, 128·Σq included. The loops are the avx512 level's (vnni_gemm_int_body.hpp) on ymm registers only
// (avxvnni_panels.hpp): the GEMM takes one panel against tiles of 4 activation rows (the AVX2
// level's tiles), the GEMV one panel in 4 chains.
//
// This file is compiled twice (avxvnni.hpp): as itself, with -mavx2 -mfma -mf16c -mavxvnni, into
// namespace avxvnni, and through avxvnni_evex_gemm_int.cpp, with -mavx2 -mfma -mf16c -mavx512vl
// -mavx512vnni, into namespace avxvnni_evex. Nothing here may call an inline function of a shared
// header.

#if !defined(QLINEAR_VNNI_NS)
#define QLINEAR_VNNI_NS avxvnni
#endif

#include "kernels/scalar_kernels.hpp"
#include "kernels/x86/avx2.hpp"
#include "kernels/x86/avxvnni.hpp"
#include "kernels/x86/avxvnni_panels.hpp"

#include "kernels/x86/vnni_gemm_int_body.hpp"
