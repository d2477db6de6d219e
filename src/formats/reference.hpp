#pragma once
// Reference quantizers and dequantizers, one pair per format. `n` is the number of weights and a
// multiple of the format's block size. The block formats reproduce ggml's reference output exactly
// (same float operations in the same order, same rounding); the fast kernels are checked against these.

#include "formats/blocks.hpp"

#include <cstddef>
#include <cstdint>

namespace qlinear::formats {

void quantize_row_f32_ref(const float* x, float* y, std::size_t n);
void dequantize_row_f32_ref(const float* x, float* y, std::size_t n);
void quantize_row_f16_ref(const float* x, std::uint16_t* y, std::size_t n);
void dequantize_row_f16_ref(const std::uint16_t* x, float* y, std::size_t n);
void quantize_row_bf16_ref(const float* x, std::uint16_t* y, std::size_t n);
void dequantize_row_bf16_ref(const std::uint16_t* x, float* y, std::size_t n);

void quantize_row_q8_0_ref(const float* x, block_q8_0* y, std::size_t n);
void dequantize_row_q8_0_ref(const block_q8_0* x, float* y, std::size_t n);
void quantize_row_q8_1_ref(const float* x, block_q8_1* y, std::size_t n);
void dequantize_row_q8_1_ref(const block_q8_1* x, float* y, std::size_t n);
void quantize_row_q4_0_ref(const float* x, block_q4_0* y, std::size_t n);
void dequantize_row_q4_0_ref(const block_q4_0* x, float* y, std::size_t n);
void quantize_row_q4_1_ref(const float* x, block_q4_1* y, std::size_t n);
void dequantize_row_q4_1_ref(const block_q4_1* x, float* y, std::size_t n);
void quantize_row_q5_0_ref(const float* x, block_q5_0* y, std::size_t n);
void dequantize_row_q5_0_ref(const block_q5_0* x, float* y, std::size_t n);
void quantize_row_q5_1_ref(const float* x, block_q5_1* y, std::size_t n);
void dequantize_row_q5_1_ref(const block_q5_1* x, float* y, std::size_t n);

}  // namespace qlinear::formats
