// q4_0: blocks of 32, w = d·(q − 8) with q in [0, 15]. d = m / −8 where m is the weight of largest
// magnitude (the first one on ties), so that m itself maps to q = 0 exactly and the 16th level is
// spent on the side of m's sign. q = min(15, trunc(w/d + 8.5)); element j goes in the low nibble and
// element j+16 in the high nibble of qs[j].

#include "core/half.hpp"
#include "formats/block_stats.hpp"
#include "formats/reference.hpp"
#include "formats/search_scale.hpp"

#include <qlinear/error.hpp>

#include <algorithm>
#include <cmath>

namespace qlinear::formats {

void quantize_row_q4_0_ref(const float* x, block_q4_0* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock32; ++b, x += kBlock32) {
    const float extreme = signed_extreme(x, kBlock32);
    const float d = extreme / -8.0f;
    const float id = inverse_scale(d);
    const float offset = uninvertible_scale(d, id) ? 0.0f : 8.5f;  // code 0, as ggml stores there
    y[b].d = core::fp32_to_fp16(d);
    for (std::size_t j = 0; j < 16; ++j) {
      const int lo = std::min(15, static_cast<int>(x[j] * id + offset));
      const int hi = std::min(15, static_cast<int>(x[j + 16] * id + offset));
      y[b].qs[j] = static_cast<std::uint8_t>(lo | (hi << 4));
    }
  }
}

void dequantize_row_q4_0_ref(const block_q4_0* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock32; ++b, y += kBlock32) {
    const float d = core::fp16_to_fp32(x[b].d);
    for (std::size_t j = 0; j < 16; ++j) {
      y[j] = static_cast<float>((x[b].qs[j] & 0x0f) - 8) * d;
      y[j + 16] = static_cast<float>((x[b].qs[j] >> 4) - 8) * d;
    }
  }
}

// With importance, ggml replaces the max rule by the signed-scale search (search_scale.hpp).
void quantize_row_q4_0_weighted_ref(const float* x, block_q4_0* y, std::size_t n, const float* importance) {
  search_blocks_of_32_signed_weighted(x, n, importance, 8, [&](std::size_t b, float d, const std::int8_t* levels) {
    y[b].d = core::fp32_to_fp16(d);
    for (std::size_t j = 0; j < 16; ++j) {
      y[b].qs[j] = static_cast<std::uint8_t>(levels[j] | (levels[j + 16] << 4));
    }
  });
}

}  // namespace qlinear::formats
