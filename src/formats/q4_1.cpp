// q4_1: blocks of 32, w = d·q + m with q in [0, 15], m = min(w), d = (max − min) / 15 (both fp16).
// q = min(15, trunc((w − m)/d + 0.5)); nibble order as q4_0.

#include "core/half.hpp"
#include "formats/block_stats.hpp"
#include "formats/reference.hpp"
#include "formats/search_scale_min.hpp"

#include <qlinear/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace qlinear::formats {

void quantize_row_q4_1_ref(const float* x, block_q4_1* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock32; ++b, x += kBlock32) {
    const auto [lo, hi] = min_max(x, kBlock32);
    const float d = (hi - lo) / 15.0f;
    const float id = inverse_scale(d);
    y[b].d = core::fp32_to_fp16(d);
    y[b].m = core::fp32_to_fp16(lo);
    for (std::size_t j = 0; j < 16; ++j) {
      const int q0 = std::min(15, static_cast<int>((x[j] - lo) * id + 0.5f));
      const int q1 = std::min(15, static_cast<int>((x[j + 16] - lo) * id + 0.5f));
      y[b].qs[j] = static_cast<std::uint8_t>(q0 | (q1 << 4));
    }
  }
}

void dequantize_row_q4_1_ref(const block_q4_1* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock32; ++b, y += kBlock32) {
    const float d = core::fp16_to_fp32(x[b].d);
    const float m = core::fp16_to_fp32(x[b].m);
    for (std::size_t j = 0; j < 16; ++j) {
      y[j] = static_cast<float>(x[b].qs[j] & 0x0f) * d + m;
      y[j + 16] = static_cast<float>(x[b].qs[j] >> 4) * d + m;
    }
  }
}

// ggml's importance path: search_blocks_of_32_weighted (search_scale_min.hpp) with 15 levels.
void quantize_row_q4_1_weighted_ref(const float* x, block_q4_1* y, std::size_t n, const float* importance) {
  search_blocks_of_32_weighted(x, n, importance, 15, [&](std::size_t b, ScaleMinFit fit, const std::uint8_t* codes) {
    y[b].d = core::fp32_to_fp16(fit.scale);
    y[b].m = core::fp32_to_fp16(-fit.min);
    for (std::size_t j = 0; j < 16; ++j) y[b].qs[j] = static_cast<std::uint8_t>(codes[j] | (codes[j + 16] << 4));
  });
}

}  // namespace qlinear::formats
