#pragma once
// The avxvnni level (AVX2 + FMA + F16C + 256-bit VNNI). Its kernels come from one source compiled
// twice, each build in its own namespace with its own flags (src/CMakeLists.txt):
//   avxvnni       -mavx2 -mfma -mf16c -mavxvnni: the VEX-encoded `vpdpbusd` of AVX-VNNI (Alder
//                 Lake and later Intel desktops, Zen 5); no AVX-512 instruction anywhere.
//   avxvnni_evex  -mavx2 -mfma -mf16c -mavx512vl -mavx512vnni: the same 256-bit `vpdpbusd`,
//                 EVEX-encoded, for CPUs with AVX-512 VNNI + VL but no AVX-VNNI (Ice Lake, Zen 4)
//                 where this level is forced (QLINEAR_ISA / set_isa) or asked for.
// dispatch.cpp picks the VEX build when the CPU has AVX-VNNI, else the EVEX one. Only the integer
// GEMM/GEMV are here; the quantizers, dequantizers, statistics and float kernels are the AVX2
// level's, and so are the integer activation tiles (kIntTileRows), which those kernels read too.

#include "kernels/kernel_table.hpp"

namespace qlinear::kernels {

namespace avxvnni {
// The legacy and affine formats on the packed panels of packed.hpp (avxvnni_gemm_int.cpp); the
// AVX2 kernel where the layer has no packed copy.
void gemm_quantized(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                    std::size_t tile_begin, std::size_t tile_end);
// The K-quants and i-quants on their packed super records (avxvnni_gemm_kquant.cpp).
void gemm_kquant(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                 std::size_t tile_begin, std::size_t tile_end);
inline constexpr std::size_t kIntTileRows = 4;
}  // namespace avxvnni

namespace avxvnni_evex {
void gemm_quantized(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                    std::size_t tile_begin, std::size_t tile_end);
void gemm_kquant(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                 std::size_t tile_begin, std::size_t tile_end);
inline constexpr std::size_t kIntTileRows = 4;
}  // namespace avxvnni_evex

}  // namespace qlinear::kernels
