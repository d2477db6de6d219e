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

void quantize_row_q2_K_ref(const float* x, block_q2_K* y, std::size_t n);
void dequantize_row_q2_K_ref(const block_q2_K* x, float* y, std::size_t n);
void quantize_row_q3_K_ref(const float* x, block_q3_K* y, std::size_t n);
void dequantize_row_q3_K_ref(const block_q3_K* x, float* y, std::size_t n);
void quantize_row_q4_K_ref(const float* x, block_q4_K* y, std::size_t n);
void dequantize_row_q4_K_ref(const block_q4_K* x, float* y, std::size_t n);
void quantize_row_q5_K_ref(const float* x, block_q5_K* y, std::size_t n);
void dequantize_row_q5_K_ref(const block_q5_K* x, float* y, std::size_t n);
void quantize_row_q6_K_ref(const float* x, block_q6_K* y, std::size_t n);
void dequantize_row_q6_K_ref(const block_q6_K* x, float* y, std::size_t n);
void quantize_row_iq4_nl_ref(const float* x, block_iq4_nl* y, std::size_t n);
void dequantize_row_iq4_nl_ref(const block_iq4_nl* x, float* y, std::size_t n);
void quantize_row_iq4_xs_ref(const float* x, block_iq4_xs* y, std::size_t n);
void dequantize_row_iq4_xs_ref(const block_iq4_xs* x, float* y, std::size_t n);

// Importance-weighted quantizers: `importance` holds one weight >= 0 per input of the row (n values),
// what llama.cpp's importance matrix gives per column. Byte-identical to ggml's quantizers called with
// quant_weights; formats ggml does not weight (f32, f16, bf16, q8_0, q8_1) have none.
void quantize_row_q4_0_weighted_ref(const float* x, block_q4_0* y, std::size_t n, const float* importance);
void quantize_row_q4_1_weighted_ref(const float* x, block_q4_1* y, std::size_t n, const float* importance);
void quantize_row_q5_0_weighted_ref(const float* x, block_q5_0* y, std::size_t n, const float* importance);
void quantize_row_q5_1_weighted_ref(const float* x, block_q5_1* y, std::size_t n, const float* importance);
void quantize_row_q2_K_weighted_ref(const float* x, block_q2_K* y, std::size_t n, const float* importance);
void quantize_row_q3_K_weighted_ref(const float* x, block_q3_K* y, std::size_t n, const float* importance);
void quantize_row_q4_K_weighted_ref(const float* x, block_q4_K* y, std::size_t n, const float* importance);
void quantize_row_q5_K_weighted_ref(const float* x, block_q5_K* y, std::size_t n, const float* importance);
void quantize_row_q6_K_weighted_ref(const float* x, block_q6_K* y, std::size_t n, const float* importance);
void quantize_row_iq4_nl_weighted_ref(const float* x, block_iq4_nl* y, std::size_t n, const float* importance);
void quantize_row_iq4_xs_weighted_ref(const float* x, block_iq4_xs* y, std::size_t n, const float* importance);

}  // namespace qlinear::formats
