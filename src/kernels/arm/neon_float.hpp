#pragma once
// The neon level's float kernels and row conversions (ARMv8.0 Advanced SIMD): the f32/f16/bf16
// GEMM on the float panels (neon_gemm_float.cpp) and the quantizers, dequantizers and checks that
// run on every row of weights or activations (neon_quantize.cpp). The dotprod and i8mm levels use
// them as they are. Each is bit-identical to its reference under the default FPCR (round to nearest
// even, no flush to zero), which Linux gives every thread.

#include "kernels/kernel_table.hpp"

namespace qlinear::kernels::neon {

void gemm_float(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                std::size_t tile_begin, std::size_t tile_end);

// Block quantizers, byte-identical to the reference ones (registry.hpp's QuantizeRowFn).
void quantize_row_q8_0(const float* x, void* blocks, std::size_t n);
void quantize_row_q4_0(const float* x, void* blocks, std::size_t n);
void quantize_row_f16(const float* x, void* values, std::size_t n);
void quantize_row_bf16(const float* x, void* values, std::size_t n);

// Stored rows → f32, bit-identical to the reference dequantizers (NaNs included).
void dequantize_row_f16(const void* values, float* y, std::size_t n);
void dequantize_row_bf16(const void* values, float* y, std::size_t n);
void dequantize_row_q8_0(const void* blocks, float* y, std::size_t n);
void dequantize_row_q4_0(const void* blocks, float* y, std::size_t n);

bool any_out_of_range(const float* x, std::size_t n, std::uint32_t limit_bits);

void quantize_activation_row(const float* x, std::size_t cols, std::size_t blocks,
                             const ActivationRowOut& out);

// Activation rows per float tile: x86's AVX2 shape (16 rows × 6), which on ARM's 32 vector
// registers holds its 24 accumulators with room for the weights and activations.
inline constexpr std::size_t kFloatTileRows = 6;

}  // namespace qlinear::kernels::neon
