// q4_K: super-blocks of 256 weights in 8 sub-blocks of 32, w = d·s_j·q − dmin·m_j with q in [0, 15]
// and 6-bit s_j, m_j packed into 12 bytes (kquant_scales.hpp). Codes: 32 bytes per pair of
// sub-blocks, sub-block 2k in the low nibbles and 2k+1 in the high nibbles.

#include "core/half.hpp"
#include "formats/kquant_scales.hpp"
#include "formats/reference.hpp"
#include "formats/search_scale_min.hpp"

#include <cstring>

namespace qlinear::formats {

namespace {

void store_q4_K(const ScaleMinSuperBlock& s, block_q4_K& y) {
  y.d = s.d;
  y.dmin = s.dmin;
  std::memcpy(y.scales, s.scales, sizeof y.scales);
  for (int k = 0; k < 4; ++k) {
    const std::uint8_t* codes = s.codes + 64 * k;
    for (int l = 0; l < 32; ++l) y.qs[32 * k + l] = static_cast<std::uint8_t>(codes[l] | (codes[l + 32] << 4));
  }
}

}  // namespace

// ggml's reference trials for q4_K: inverse scales (15 − 1 + 0.1·k)/range, k = 0..20.
void quantize_row_q4_K_ref(const float* x, block_q4_K* y, std::size_t n) {
  ScaleMinSuperBlock s;
  for (std::size_t b = 0; b < n / kBlock256; ++b, x += kBlock256) {
    quantize_scale_min_super_block(x, 15, {-1.0f, 0.1f, 20}, s);
    store_q4_K(s, y[b]);
  }
}

void quantize_row_q4_K_weighted_ref(const float* x, block_q4_K* y, std::size_t n, const float* importance) {
  ScaleMinSuperBlock s;
  for (std::size_t b = 0; b < n / kBlock256; ++b, x += kBlock256, importance += kBlock256) {
    quantize_scale_min_super_block_weighted(x, importance, 15, /*clamp_codes=*/false, s);
    store_q4_K(s, y[b]);
  }
}

void dequantize_row_q4_K_ref(const block_q4_K* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock256; ++b) {
    const float d = core::fp16_to_fp32(x[b].d);
    const float dmin = core::fp16_to_fp32(x[b].dmin);
    const std::uint8_t* q = x[b].qs;
    // 32 bytes hold sub-blocks 2k (low nibbles) and 2k+1 (high nibbles).
    for (int k = 0; k < 4; ++k, q += 32) {
      const ScaleMin lo = k_scale_min(x[b].scales, 2 * k), hi = k_scale_min(x[b].scales, 2 * k + 1);
      const float d1 = d * static_cast<float>(lo.scale), m1 = dmin * static_cast<float>(lo.min);
      const float d2 = d * static_cast<float>(hi.scale), m2 = dmin * static_cast<float>(hi.min);
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

}  // namespace qlinear::formats
