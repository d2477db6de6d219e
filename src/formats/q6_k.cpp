// q6_K: super-blocks of 256 in 16 sub-blocks of 16, w = d·s_j·(q − 32) with q in [0, 63], s_j a
// signed 8-bit sub-scale and d an fp16 super-scale. Each sub-block's scale is searched alone
// (search_signed_scale, weighted by x² or by the importance); the sub-scales are then quantized to
// 8 bits against the one of largest magnitude (mapped to −128), and every weight is rounded again
// against the scale it will actually be dequantized with.

#include "core/half.hpp"
#include "formats/kquant_scales.hpp"
#include "formats/nearest_int.hpp"
#include "formats/reference.hpp"
#include "formats/search_scale.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace qlinear::formats {
namespace {

// Low 4 bits of element l + 32·k (k = 0…3) of each half: k = 0, 1 in the low nibbles of ql[l] and
// ql[l + 32], k = 2, 3 in their high nibbles; the high 2 bits of all four in qh[l], k-th pair at 2k.
void pack_q6_K_levels(const std::int8_t* levels, block_q6_K& y) noexcept {
  for (int half = 0; half < 2; ++half) {
    const std::int8_t* q = levels + 128 * half;
    std::uint8_t* ql = y.ql + 64 * half;
    std::uint8_t* qh = y.qh + 32 * half;
    for (int l = 0; l < 32; ++l) {
      ql[l] = static_cast<std::uint8_t>((q[l] & 0x0f) | ((q[l + 64] & 0x0f) << 4));
      ql[l + 32] = static_cast<std::uint8_t>((q[l + 32] & 0x0f) | ((q[l + 96] & 0x0f) << 4));
      qh[l] = static_cast<std::uint8_t>((q[l] >> 4) | ((q[l + 32] >> 4) << 2) | ((q[l + 64] >> 4) << 4) |
                                        ((q[l + 96] >> 4) << 6));
    }
  }
}

// `importance` is this block's 256 weights, or null for ggml's unweighted rule (x² inside the search).
void quantize_block_q6_K(const float* x, block_q6_K& y, const float* importance) noexcept {
  std::int8_t levels[kBlock256];
  float scales[16];
  float max_scale = 0.0f, max_abs_scale = 0.0f;
  for (int j = 0; j < 16; ++j) {
    scales[j] = search_signed_scale(x + 16 * j, 16, 32, importance ? importance + 16 * j : nullptr,
                                    levels + 16 * j);
    if (std::fabs(scales[j]) > max_abs_scale) {
      max_abs_scale = std::fabs(scales[j]);
      max_scale = scales[j];
    }
  }
  if (max_abs_scale < kNegligibleGroupMax) {
    std::memset(&y, 0, sizeof y);
    return;
  }
  const float inverse_scale = -128.0f / max_scale;
  y.d = core::fp32_to_fp16(1.0f / inverse_scale);
  const float d = core::fp16_to_fp32(y.d);
  for (int j = 0; j < 16; ++j) {
    y.scales[j] = static_cast<std::int8_t>(std::min(127, nearest_int(inverse_scale * scales[j])));
    const float dl = d * static_cast<float>(y.scales[j]);
    // A sub-block whose scale rounds to 0 keeps its searched levels: they dequantize to 0 anyway,
    // and ggml stores them as they are.
    if (dl == 0.0f) continue;
    // The integer form of the rounding on purpose: when the fp16 super-scale overflows, x/dl is NaN
    // or infinite, and ggml's bit trick then gives a definite level that the float form would not.
    for (int i = 16 * j; i < 16 * j + 16; ++i) {
      levels[i] = static_cast<std::int8_t>(std::max(-32, std::min(31, nearest_int(x[i] / dl))) + 32);
    }
  }
  pack_q6_K_levels(levels, y);
}

}  // namespace

void quantize_row_q6_K_ref(const float* x, block_q6_K* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock256; ++b) quantize_block_q6_K(x + b * kBlock256, y[b], nullptr);
}

// ggml weights each sub-block's search by the importance alone here (not by importance·√(σ² + x²)
// as for q3_K, q4_0 and q5_0).
void quantize_row_q6_K_weighted_ref(const float* x, block_q6_K* y, std::size_t n, const float* importance) {
  for (std::size_t b = 0; b < n / kBlock256; ++b) {
    quantize_block_q6_K(x + b * kBlock256, y[b], importance + b * kBlock256);
  }
}

void dequantize_row_q6_K_ref(const block_q6_K* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock256; ++b, y += kBlock256) {
    const float d = core::fp16_to_fp32(x[b].d);
    // Two halves of 128: ql byte l (l < 64) holds elements l (low nibble) and l+64 (high), qh byte
    // l (l < 32) holds the high bits of elements l, l+32, l+64, l+96 (2 bits each, in that order).
    for (int half = 0; half < 2; ++half) {
      const std::uint8_t* ql = x[b].ql + 64 * half;
      const std::uint8_t* qh = x[b].qh + 32 * half;
      const std::int8_t* sc = x[b].scales + 8 * half;
      float* out = y + 128 * half;
      for (int l = 0; l < 32; ++l) {
        const int s = l / 16;
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        out[l] = d * static_cast<float>(sc[s]) * static_cast<float>(q1);
        out[l + 32] = d * static_cast<float>(sc[s + 2]) * static_cast<float>(q2);
        out[l + 64] = d * static_cast<float>(sc[s + 4]) * static_cast<float>(q3);
        out[l + 96] = d * static_cast<float>(sc[s + 6]) * static_cast<float>(q4);
      }
    }
  }
}

}  // namespace qlinear::formats
