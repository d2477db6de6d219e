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

// ggml's importance path: per block, the squared-error scale-and-min search (search_scale_min.hpp,
// trials (15 − 0.9 + 0.05·k)/range, k = 0..36) with weights importance_j·sqrt(σ² + x_j²), σ² the
// mean square of the whole row. Unlike the plain rule, the min may sit below the block's smallest
// weight and the scale away from range / 15 when that lowers the weighted error.
void quantize_row_q4_1_weighted_ref(const float* x, block_q4_1* y, std::size_t n, const float* importance) {
  float sum_x2 = 0;
  for (std::size_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  const float sigma2 = sum_x2 / static_cast<float>(n);
  // Eight blocks at a time: the search runs them side by side.
  constexpr std::size_t kChunk = 8;
  float weights[kChunk * kBlock32];
  std::uint8_t chunk_codes[kChunk * kBlock32];
  ScaleMinFit fits[kChunk];
  const std::size_t blocks = n / kBlock32;
  for (std::size_t b = 0; b < blocks; ++b, x += kBlock32) {
    const std::size_t k = b % kChunk;
    if (k == 0) {
      const std::size_t count = std::min(kChunk, blocks - b);
      for (std::size_t j = 0; j < count * kBlock32; ++j) {
        weights[j] = importance[b * kBlock32 + j] * std::sqrt(sigma2 + x[j] * x[j]);
      }
      search_scale_and_min_groups(x, weights, static_cast<int>(count), static_cast<int>(kBlock32), 15, chunk_codes,
                                  fits, {-0.9f, 0.05f, 36}, FitError::squared);
    }
    const ScaleMinFit fit = fits[k];
    const std::uint8_t* codes = chunk_codes + k * kBlock32;
    y[b].d = core::fp32_to_fp16(fit.scale);
    y[b].m = core::fp32_to_fp16(-fit.min);
    for (std::size_t j = 0; j < 16; ++j) y[b].qs[j] = static_cast<std::uint8_t>(codes[j] | (codes[j + 16] << 4));
  }
}

}  // namespace qlinear::formats
