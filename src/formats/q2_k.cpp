// q2_K: super-blocks of 256 weights in 16 sub-blocks of 16, w = d·s_j·q − dmin·m_j with q in [0, 3];
// scales[j] holds s_j in its low nibble and m_j in its high nibble. Codes: two halves of 128
// weights, byte l of a half's 32 holding weights l, l+32, l+64, l+96 at bits 0, 2, 4, 6.

#include "core/half.hpp"
#include "formats/kquant_scales.hpp"
#include "formats/nearest_int.hpp"
#include "formats/reference.hpp"
#include "formats/search_scale_min.hpp"

#include <algorithm>
#include <cmath>

namespace qlinear::formats {

namespace {

// Round every weight again with the stored scale and min, as dequantization will see them; a
// sub-block whose scale is 0 keeps the codes of its search.
void requantize_and_store_q2_K(const float* x, std::uint8_t* codes, block_q2_K& y) {
  const float d_all = core::fp16_to_fp32(y.d), dmin_all = core::fp16_to_fp32(y.dmin);
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * static_cast<float>(y.scales[j] & 0x0f);
    if (d == 0.0f) continue;
    const float m = dmin_all * static_cast<float>(y.scales[j] >> 4);
    for (int i = 0; i < 16; ++i) {
      codes[16 * j + i] = static_cast<std::uint8_t>(std::clamp(nearest_int((x[16 * j + i] + m) / d), 0, 3));
    }
  }
  for (int half = 0; half < 2; ++half) {
    const std::uint8_t* c = codes + 128 * half;
    for (int l = 0; l < 32; ++l) {
      y.qs[32 * half + l] = static_cast<std::uint8_t>(c[l] | (c[l + 32] << 2) | (c[l + 64] << 4) | (c[l + 96] << 6));
    }
  }
}

}  // namespace

// ggml's reference rule: per sub-block, the scale-and-min search minimizing the absolute error
// weighted by |x| (trials (3 − 0.5 + 0.1·k)/range, k = 0..15); the 4-bit scales and mins are the
// sub-block values rounded against the largest one (d = max scale / 15, dmin = max min / 15).
void quantize_row_q2_K_ref(const float* x, block_q2_K* y, std::size_t n) {
  std::uint8_t codes[256];
  float weights[256], scales[16], mins[16];
  ScaleMinFit fits[16];
  for (std::size_t b = 0; b < n / kBlock256; ++b, x += kBlock256) {
    for (int i = 0; i < 256; ++i) weights[i] = std::fabs(x[i]);
    search_scale_and_min_groups(x, weights, 16, 16, 3, codes, fits, {-0.5f, 0.1f, 15}, FitError::absolute);
    // Scales are positive once the min is taken off.
    const auto [max_scale, max_min] = split_fits(fits, 16, scales, mins);
    if (max_scale > 0) {
      const float iscale = 15.f / max_scale;
      for (int j = 0; j < 16; ++j) y[b].scales[j] = static_cast<std::uint8_t>(nearest_int(iscale * scales[j]));
      y[b].d = core::fp32_to_fp16(max_scale / 15.f);
    } else {
      for (int j = 0; j < 16; ++j) y[b].scales[j] = 0;
      y[b].d = core::fp32_to_fp16(0.f);
    }
    if (max_min > 0) {
      const float iscale = 15.f / max_min;
      for (int j = 0; j < 16; ++j) {
        y[b].scales[j] = static_cast<std::uint8_t>(y[b].scales[j] | (nearest_int(iscale * mins[j]) << 4));
      }
      y[b].dmin = core::fp32_to_fp16(max_min / 15.f);
    } else {
      y[b].dmin = core::fp32_to_fp16(0.f);
    }
    requantize_and_store_q2_K(x, codes, y[b]);
  }
}

// ggml's importance path: weights importance_i·sqrt(σ² + x_i²) with σ² = mean(x²) over the
// super-block, the squared-error search with trials (3 − 0.9 + 0.05·k)/range, k = 0..36, and the
// 4-bit scales and mins chosen by search_scale_of_positive_values weighted by each sub-block's
// total weight.
void quantize_row_q2_K_weighted_ref(const float* x, block_q2_K* y, std::size_t n, const float* importance) {
  std::uint8_t codes[256], ls[16], lm[16];
  float weights[256], scales[16], mins[16], sub_block_weight[16];
  ScaleMinFit fits[16];
  for (std::size_t b = 0; b < n / kBlock256; ++b, x += kBlock256, importance += kBlock256) {
    float sum_x2 = 0;
    for (int i = 0; i < 256; ++i) sum_x2 += x[i] * x[i];
    const float sigma2 = sum_x2 / 256;
    for (int i = 0; i < 256; ++i) weights[i] = importance[i] * std::sqrt(sigma2 + x[i] * x[i]);
    for (int j = 0; j < 16; ++j) {
      float sum_w = 0;
      for (int i = 0; i < 16; ++i) sum_w += weights[16 * j + i];
      sub_block_weight[j] = sum_w;
    }
    search_scale_and_min_groups(x, weights, 16, 16, 3, codes, fits, {-0.9f, 0.05f, 36}, FitError::squared);
    for (int j = 0; j < 16; ++j) {
      scales[j] = fits[j].scale;
      mins[j] = fits[j].min;
    }
    const float d = search_scale_of_positive_values(scales, sub_block_weight, 16, 15, ls);
    const float dmin = search_scale_of_positive_values(mins, sub_block_weight, 16, 15, lm);
    y[b].d = core::fp32_to_fp16(d);
    y[b].dmin = core::fp32_to_fp16(dmin);
    for (int j = 0; j < 16; ++j) y[b].scales[j] = static_cast<std::uint8_t>(ls[j] | (lm[j] << 4));
    requantize_and_store_q2_K(x, codes, y[b]);
  }
}

void dequantize_row_q2_K_ref(const block_q2_K* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock256; ++b) {
    const float d = core::fp16_to_fp32(x[b].d);
    const float dmin = core::fp16_to_fp32(x[b].dmin);
    const std::uint8_t* q = x[b].qs;
    std::size_t sub = 0;
    // Two halves of 128 weights; in each, byte l of the 32 holds weights l, l+32, l+64, l+96 (by 2 bits).
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part, ++sub) {
          const float dl = d * static_cast<float>(x[b].scales[sub] & 0x0f);
          const float ml = dmin * static_cast<float>(x[b].scales[sub] >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[16 * part + l] >> shift) & 3) - ml;
        }
      }
    }
  }
}

}  // namespace qlinear::formats
