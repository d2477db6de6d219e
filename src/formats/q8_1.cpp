// q8_1: q8_0 plus s = d·Σq (fp16). It is the activation format for weights with an offset (q4_1, q5_1,
// asymmetric affine): their per-block offset m contributes m·Σx ≈ m·s without touching the codes.

#include "core/half.hpp"
#include "formats/block_stats.hpp"
#include "formats/reference.hpp"

#include <cmath>

namespace qlinear::formats {

void quantize_row_q8_1_ref(const float* x, block_q8_1* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock32; ++b, x += kBlock32) {
    const float d = abs_max(x, kBlock32) / 127.0f;
    const float id = inverse_scale(d);
    y[b].d = core::fp32_to_fp16(d);
    int sum = 0;
    for (std::size_t j = 0; j < kBlock32; ++j) {
      y[b].qs[j] = static_cast<std::int8_t>(std::round(x[j] * id));
      sum += y[b].qs[j];
    }
    y[b].s = core::fp32_to_fp16(static_cast<float>(sum) * d);
  }
}

void dequantize_row_q8_1_ref(const block_q8_1* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock32; ++b, y += kBlock32) {
    const float d = core::fp16_to_fp32(x[b].d);
    for (std::size_t j = 0; j < kBlock32; ++j) y[j] = static_cast<float>(x[b].qs[j]) * d;
  }
}

}  // namespace qlinear::formats
