#pragma once
// The AVX2 level (AVX2 + FMA + F16C). Defined in the avx2_*.cpp files, the only files compiled
// with those instruction sets; callers reach them through the kernel table once the CPU has been
// checked.

#include "kernels/kernel_table.hpp"

namespace qlinear::kernels::avx2 {

// Block quantizers, byte-identical to the reference ones (registry.hpp's QuantizeRowFn).
void quantize_row_q8_0(const float* x, void* blocks, std::size_t n);
void quantize_row_q8_1(const float* x, void* blocks, std::size_t n);
void quantize_row_q4_0(const float* x, void* blocks, std::size_t n);
void quantize_row_q4_1(const float* x, void* blocks, std::size_t n);
void quantize_row_q5_0(const float* x, void* blocks, std::size_t n);
void quantize_row_q5_1(const float* x, void* blocks, std::size_t n);
void quantize_row_q3_K(const float* x, void* blocks, std::size_t n);  // avx2_quantize_kquant.cpp
void quantize_row_q6_K(const float* x, void* blocks, std::size_t n);
void quantize_row_f16(const float* x, void* values, std::size_t n);
void quantize_row_bf16(const float* x, void* values, std::size_t n);

bool any_out_of_range(const float* x, std::size_t n, std::uint32_t limit_bits);

void quantize_activation_row(const float* x, std::size_t cols, std::size_t blocks,
                             const ActivationRowOut& out);

// Integer formats on the packed panels; the scalar kernel where the layer has no packed copy.
void gemm_quantized(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                    std::size_t tile_begin, std::size_t tile_end);
// The K-quants and i-quants on their packed super records (avx2_gemm_kquant.cpp).
void gemm_kquant(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                 std::size_t tile_begin, std::size_t tile_end);
void gemm_float(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                std::size_t tile_begin, std::size_t tile_end);

// Stored rows → f32, bit-identical to the reference dequantizers (avx2_dequantize.cpp).
void dequantize_row_f16(const void* values, float* y, std::size_t n);
void dequantize_row_bf16(const void* values, float* y, std::size_t n);
void dequantize_row_q8_0(const void* blocks, float* y, std::size_t n);
void dequantize_row_q4_0(const void* blocks, float* y, std::size_t n);
void dequantize_row_q4_1(const void* blocks, float* y, std::size_t n);
void dequantize_row_q5_0(const void* blocks, float* y, std::size_t n);
void dequantize_row_q5_1(const void* blocks, float* y, std::size_t n);

// The statistics' sums, bit-identical to formats::accumulate_error_ref (avx2_error_sums.cpp).
void accumulate_error(const float* original, const float* restored, std::size_t n, formats::ErrorLanes& lanes);

// Activation rows per integer tile. Measured on the benchmark machine, 4096×4096, batch 120,
// 1 thread, best of 3 (ms) for 2 / 3 / 4 / 5 / 6 rows: q4_0 19.2 / 18.0 / 17.8 / 17.5 / 17.4,
// q8_0 28.0 / 26.3 / 26.2 / 26.0 / 25.0. Four is within 5% of the best and, unlike 5 and 6, wastes
// nothing on batches of 8, 32, 128 or 512 rows (a last partial tile is computed in full).
inline constexpr std::size_t kIntTileRows = 4;
inline constexpr std::size_t kFloatTileRows = 6;

}  // namespace qlinear::kernels::avx2
