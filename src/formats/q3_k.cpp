// q3_K: super-blocks of 256 in 16 sub-blocks of 16, w = d·(s_j − 32)·(q − 4) with q in [0, 7], s_j
// a 6-bit sub-scale and d an fp16 super-scale. The sub-blocks' scales are searched first (weighted
// by x², or by importance·√(σ² + x²) with σ² twice the block's mean square); the sixteen scales are
// then themselves quantized to 6 bits (plainly against the largest without importance; by the same
// weighted search, each weighted by its sub-block's total weight, with it), and every weight is
// rounded again against the scale it will actually be dequantized with.

#include "core/half.hpp"
#include "formats/kquant_scales.hpp"
#include "formats/nearest_int.hpp"
#include "formats/reference.hpp"
#include "formats/search_scale.hpp"

#include <algorithm>
#include <cmath>

namespace qlinear::formats {
namespace {

// Rounds every weight against its stored sub-scale, then packs the levels: the third bit of element
// i goes in bit i / 32 of hmask[i % 32], the low 2 bits of element l + 32·k of each half (k = 0…3)
// in bits 2k of qs[32·half + l]. A sub-block whose stored scale is 0 keeps the searched levels (they
// dequantize to 0 anyway, and ggml stores them as they are).
void round_and_pack_q3_K(const float* x, std::int8_t* levels, block_q3_K& y) noexcept {
  const float d = core::fp16_to_fp32(y.d);
  const std::array<std::int8_t, 16> scales = unpack_q3_K_scales(y.scales);
  for (int j = 0; j < 16; ++j) {
    const float dl = d * static_cast<float>(scales[j] - 32);
    if (dl == 0.0f) continue;
    // The integer form of the rounding on purpose: when the fp16 super-scale overflows, x/dl is NaN
    // or infinite, and ggml's bit trick then gives a definite level that the float form would not.
    for (int i = 16 * j; i < 16 * j + 16; ++i) {
      levels[i] = static_cast<std::int8_t>(std::max(-4, std::min(3, nearest_int(x[i] / dl))) + 4);
    }
  }
  std::fill(y.hmask, y.hmask + 32, std::uint8_t{0});
  for (int i = 0; i < 256; ++i) {
    if (levels[i] > 3) {
      y.hmask[i % 32] |= static_cast<std::uint8_t>(1u << (i / 32));
      levels[i] -= 4;
    }
  }
  for (int half = 0; half < 2; ++half) {
    const std::int8_t* q = levels + 128 * half;
    for (int l = 0; l < 32; ++l) {
      y.qs[32 * half + l] =
          static_cast<std::uint8_t>(q[l] | (q[l + 32] << 2) | (q[l + 64] << 4) | (q[l + 96] << 6));
    }
  }
}

void quantize_block_q3_K(const float* x, block_q3_K& y) noexcept {
  std::int8_t levels[kBlock256];
  float scales[16];
  float max_scale = 0.0f, max_abs_scale = 0.0f;
  for (int j = 0; j < 16; ++j) {
    scales[j] = refine_signed_scale_per_value(x + 16 * j, 16, 4, levels + 16 * j);
    if (std::fabs(scales[j]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  std::int8_t biased[16] = {};
  if (max_scale != 0.0f) {
    const float inverse_scale = -32.0f / max_scale;
    for (int j = 0; j < 16; ++j) {
      biased[j] = static_cast<std::int8_t>(std::max(-32, std::min(31, nearest_int(inverse_scale * scales[j]))) + 32);
    }
    pack_q3_K_scales(biased, y.scales);
    y.d = core::fp32_to_fp16(1.0f / inverse_scale);
  } else {
    std::fill(y.scales, y.scales + 12, std::uint8_t{0});  // scales of −32 times d = 0
    y.d = core::fp32_to_fp16(0.0f);
  }
  round_and_pack_q3_K(x, levels, y);
}

void quantize_block_q3_K_weighted(const float* x, block_q3_K& y, const float* importance) noexcept {
  std::int8_t levels[kBlock256];
  float sum_x2 = 0.0f;
  for (int i = 0; i < 256; ++i) sum_x2 += x[i] * x[i];
  const float sigma2 = 2.0f * sum_x2 / 256.0f;

  float scales[16], sub_block_weight[16];
  for (int j = 0; j < 16; ++j) {
    float weight[16];
    float total = 0.0f;
    for (int i = 0; i < 16; ++i) {
      const float v = x[16 * j + i];
      weight[i] = importance[16 * j + i] * std::sqrt(sigma2 + v * v);
    }
    for (int i = 0; i < 16; ++i) total += weight[i];
    sub_block_weight[j] = total;
    scales[j] = search_signed_scale(x + 16 * j, 16, 4, weight, levels + 16 * j);
  }
  std::int8_t biased[16];
  const float d = search_signed_scale(scales, 16, 32, sub_block_weight, biased);
  pack_q3_K_scales(biased, y.scales);
  y.d = core::fp32_to_fp16(d);
  round_and_pack_q3_K(x, levels, y);
}

}  // namespace

void quantize_row_q3_K_ref(const float* x, block_q3_K* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock256; ++b) quantize_block_q3_K(x + b * kBlock256, y[b]);
}

void quantize_row_q3_K_weighted_ref(const float* x, block_q3_K* y, std::size_t n, const float* importance) {
  for (std::size_t b = 0; b < n / kBlock256; ++b) {
    quantize_block_q3_K_weighted(x + b * kBlock256, y[b], importance + b * kBlock256);
  }
}

void dequantize_row_q3_K_ref(const block_q3_K* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock256; ++b) {
    const float d = core::fp16_to_fp32(x[b].d);
    const std::array<std::int8_t, 16> scales = unpack_q3_K_scales(x[b].scales);
    const std::uint8_t* q = x[b].qs;
    std::size_t sub = 0;
    unsigned mask = 1;  // the bit of hmask that holds the third bit of this pass
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, mask <<= 1) {
        for (int part = 0; part < 2; ++part, ++sub) {
          const float dl = d * static_cast<float>(scales[sub] - 32);
          for (int l = 16 * part; l < 16 * part + 16; ++l) {
            const int low = (q[l] >> shift) & 3;
            const int value = low - ((x[b].hmask[l] & mask) ? 0 : 4);
            *y++ = dl * static_cast<float>(value);
          }
        }
      }
    }
  }
}

}  // namespace qlinear::formats
