// q5_1: blocks of 32, w = d·q + m with q in [0, 31], m = min(w), d = (max − min) / 31 (both fp16).
// q = trunc((w − m)/d + 0.5); bits laid out as q5_0.

#include "core/half.hpp"
#include "formats/block_stats.hpp"
#include "formats/reference.hpp"
#include "formats/search_scale_min.hpp"

#include <qlinear/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace qlinear::formats {

void quantize_row_q5_1_ref(const float* x, block_q5_1* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock32; ++b, x += kBlock32) {
    const auto [lo, hi] = min_max(x, kBlock32);
    const float d = (hi - lo) / 31.0f;
    const float id = inverse_scale(d);
    y[b].d = core::fp32_to_fp16(d);
    y[b].m = core::fp32_to_fp16(lo);
    std::uint32_t qh = 0;
    for (std::size_t j = 0; j < 16; ++j) {
      // (w − m)/d + 0.5 stays below 32 since w − m <= max − min = 31·d, so no clamp is needed.
      const auto q0 = static_cast<std::uint32_t>((x[j] - lo) * id + 0.5f);
      const auto q1 = static_cast<std::uint32_t>((x[j + 16] - lo) * id + 0.5f);
      y[b].qs[j] = static_cast<std::uint8_t>((q0 & 0x0f) | ((q1 & 0x0f) << 4));
      qh |= ((q0 >> 4) & 1u) << j;
      qh |= ((q1 >> 4) & 1u) << (j + 16);
    }
    std::memcpy(y[b].qh, &qh, sizeof qh);
  }
}

void dequantize_row_q5_1_ref(const block_q5_1* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock32; ++b, y += kBlock32) {
    const float d = core::fp16_to_fp32(x[b].d);
    const float m = core::fp16_to_fp32(x[b].m);
    std::uint32_t qh = 0;
    std::memcpy(&qh, x[b].qh, sizeof qh);
    for (std::size_t j = 0; j < 16; ++j) {
      const auto lo = (x[b].qs[j] & 0x0fu) | (((qh >> j) & 1u) << 4);
      const auto hi = (x[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4);
      y[j] = static_cast<float>(lo) * d + m;
      y[j + 16] = static_cast<float>(hi) * d + m;
    }
  }
}

// ggml's importance path: search_blocks_of_32_weighted (search_scale_min.hpp) with 31 levels.
void quantize_row_q5_1_weighted_ref(const float* x, block_q5_1* y, std::size_t n, const float* importance) {
  search_blocks_of_32_weighted(x, n, importance, 31, [&](std::size_t b, ScaleMinFit fit, const std::uint8_t* codes) {
    y[b].d = core::fp32_to_fp16(fit.scale);
    y[b].m = core::fp32_to_fp16(-fit.min);
    std::uint32_t qh = 0;
    for (std::size_t j = 0; j < 16; ++j) {
      y[b].qs[j] = static_cast<std::uint8_t>((codes[j] & 0x0f) | ((codes[j + 16] & 0x0f) << 4));
      qh |= static_cast<std::uint32_t>(codes[j] >> 4) << j;
      qh |= static_cast<std::uint32_t>(codes[j + 16] >> 4) << (j + 16);
    }
    std::memcpy(y[b].qh, &qh, sizeof qh);
  });
}

}  // namespace qlinear::formats
