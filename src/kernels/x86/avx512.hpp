#pragma once
// The AVX-512 level (AVX-512 F/BW/VL + VNNI, with the AVX2 level's AVX2/FMA/F16C). Defined in the
// avx512_*.cpp files, the only files compiled with those instruction sets; callers reach them
// through the kernel table once the CPU has been checked. Formats without a kernel here keep the
// AVX2 level's in the table (dispatch.cpp).

#include "kernels/kernel_table.hpp"

namespace qlinear::kernels::avx512 {

// The legacy formats and the affine ones on the packed panels of packed.hpp (the AVX2 layout:
// `vpdpbusd` takes the same unsigned codes against the signed activation bytes); the AVX2 kernel
// where the layer has no packed copy (avx512_gemm_int.cpp).
void gemm_quantized(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                    std::size_t tile_begin, std::size_t tile_end);
// The K-quants and i-quants on their packed super records (avx512_gemm_kquant.cpp).
void gemm_kquant(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                 std::size_t tile_begin, std::size_t tile_end);
// f32, f16 and bf16 on the 16-row float panels, one zmm register per input; the GEMV is the AVX2
// level's (avx512_gemm_float.cpp).
void gemm_float(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                std::size_t tile_begin, std::size_t tile_end);

// The integer activation tiles are the AVX2 level's (its kernels serve the formats that have none
// here and read the same tiles).
inline constexpr std::size_t kIntTileRows = 4;
// Float activation rows per tile: 16 accumulators of 16 rows each, one broadcast per FMA.
inline constexpr std::size_t kFloatTileRows = 16;

}  // namespace qlinear::kernels::avx512
