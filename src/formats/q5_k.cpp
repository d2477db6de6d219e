// q5_K: as q4_K with q in [0, 31]: the low 4 bits of the codes laid out as q4_K's, and the fifth
// bit of sub-block j, element l in bit j of qh[l].

#include "core/half.hpp"
#include "formats/kquant_scales.hpp"
#include "formats/reference.hpp"
#include "formats/search_scale_min.hpp"

#include <cstring>

namespace qlinear::formats {

namespace {

void store_q5_K(const ScaleMinSuperBlock& s, block_q5_K& y) {
  y.d = s.d;
  y.dmin = s.dmin;
  std::memcpy(y.scales, s.scales, sizeof y.scales);
  std::memset(y.qh, 0, sizeof y.qh);
  for (int k = 0; k < 4; ++k) {
    const std::uint8_t* codes = s.codes + 64 * k;
    for (int l = 0; l < 32; ++l) {
      const int lo = codes[l], hi = codes[l + 32];
      y.qs[32 * k + l] = static_cast<std::uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
      y.qh[l] = static_cast<std::uint8_t>(y.qh[l] | ((lo >> 4) << (2 * k)) | ((hi >> 4) << (2 * k + 1)));
    }
  }
}

}  // namespace

// ggml's reference trials for q5_K: inverse scales (31 − 0.5 + 0.1·k)/range, k = 0..15.
void quantize_row_q5_K_ref(const float* x, block_q5_K* y, std::size_t n) {
  ScaleMinSuperBlock s;
  for (std::size_t b = 0; b < n / kBlock256; ++b, x += kBlock256) {
    quantize_scale_min_super_block(x, 31, {-0.5f, 0.1f, 15}, s);
    store_q5_K(s, y[b]);
  }
}

void quantize_row_q5_K_weighted_ref(const float* x, block_q5_K* y, std::size_t n, const float* importance) {
  ScaleMinSuperBlock s;
  for (std::size_t b = 0; b < n / kBlock256; ++b, x += kBlock256, importance += kBlock256) {
    quantize_scale_min_super_block_weighted(x, importance, 31, /*clamp_codes=*/true, s);
    store_q5_K(s, y[b]);
  }
}

void dequantize_row_q5_K_ref(const block_q5_K* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock256; ++b) {
    const float d = core::fp16_to_fp32(x[b].d);
    const float dmin = core::fp16_to_fp32(x[b].dmin);
    const std::uint8_t* q = x[b].qs;
    // As q4_K; the fifth bit of sub-block j, element l, is bit j of qh[l].
    for (int k = 0; k < 4; ++k, q += 32) {
      const ScaleMin lo = k_scale_min(x[b].scales, 2 * k), hi = k_scale_min(x[b].scales, 2 * k + 1);
      const float d1 = d * static_cast<float>(lo.scale), m1 = dmin * static_cast<float>(lo.min);
      const float d2 = d * static_cast<float>(hi.scale), m2 = dmin * static_cast<float>(hi.min);
      const unsigned bit_lo = 1u << (2 * k), bit_hi = 2u << (2 * k);
      for (int l = 0; l < 32; ++l) {
        *y++ = d1 * static_cast<float>((q[l] & 0x0f) + ((x[b].qh[l] & bit_lo) ? 16 : 0)) - m1;
      }
      for (int l = 0; l < 32; ++l) {
        *y++ = d2 * static_cast<float>((q[l] >> 4) + ((x[b].qh[l] & bit_hi) ? 16 : 0)) - m2;
      }
    }
  }
}

}  // namespace qlinear::formats
