// q8_0: blocks of 32 weights, w = d·q with q = round(w/d) in [-127, 127] and d = max|w| / 127 (fp16).
// ggml rounds with roundf (half away from zero) on w · (1/d), where 1/d is taken in float.

#include "core/half.hpp"
#include "formats/block_stats.hpp"
#include "formats/reference.hpp"

#include <cmath>

namespace qlinear::formats {

void quantize_row_q8_0_ref(const float* x, block_q8_0* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock32; ++b, x += kBlock32) {
    const float d = abs_max(x, kBlock32) / 127.0f;
    const float id = inverse_scale(d);
    y[b].d = core::fp32_to_fp16(d);
    for (std::size_t j = 0; j < kBlock32; ++j) {
      y[b].qs[j] = static_cast<std::int8_t>(std::round(x[j] * id));
    }
  }
}

void dequantize_row_q8_0_ref(const block_q8_0* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock32; ++b, y += kBlock32) {
    const float d = core::fp16_to_fp32(x[b].d);
    for (std::size_t j = 0; j < kBlock32; ++j) y[j] = static_cast<float>(x[b].qs[j]) * d;
  }
}

}  // namespace qlinear::formats
