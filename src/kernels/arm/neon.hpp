#pragma once
// The ARM levels (64-bit ARM). Defined in the neon_*.cpp files, the only files compiled for their
// extensions (neon_gemm_dotprod.cpp and neon_gemm_kquant_dotprod.cpp with +dotprod, neon_gemm_i8mm.cpp
// with +i8mm); callers reach
// them through the kernel table once the CPU has been checked.

#include "kernels/kernel_table.hpp"

namespace qlinear::kernels::neon {

// The integer formats (q4_0, q4_1, q5_0, q5_1, q8_0, q8_1, i8, i4) on the packed panels of
// packed.hpp (the x86 levels' layout); the scalar kernel where the layer has no packed copy.
// ARMv8.0 Advanced SIMD: widening multiplies (smull/smlal) and pairwise adds (neon_gemm_int.cpp).
void gemm_quantized(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                    std::size_t tile_begin, std::size_t tile_end);
// The same with the ARMv8.2 dot product, one sdot per 4 inputs of 4 rows (neon_gemm_dotprod.cpp).
void gemm_quantized_dotprod(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                            std::size_t tile_begin, std::size_t tile_end);
// The same with the int8 matrix multiply, one smmla per 8 inputs of 2 rows × 2 activation rows, for
// tiles of activation rows; the GEMV is dotprod's (neon_gemm_i8mm.cpp).
void gemm_quantized_i8mm(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                         std::size_t tile_begin, std::size_t tile_end);

// Activation rows per integer tile: the x86 levels' 4, so that the panels, tiles and threading
// of `qlinear bench` on ARM are those measured on x86.
inline constexpr std::size_t kIntTileRows = 4;

// q2_K … q6_K, iq4_nl and iq4_xs on the packed super records of packed.hpp, the scalar kernel where
// the layer has no packed copy: ARMv8.0 (neon_gemm_kquant.cpp) and sdot (neon_gemm_kquant_dotprod.cpp).
void gemm_kquant(const GemmArgs& args, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
                 std::size_t tile_end);
void gemm_kquant_dotprod(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                         std::size_t tile_begin, std::size_t tile_end);

}  // namespace qlinear::kernels::neon
