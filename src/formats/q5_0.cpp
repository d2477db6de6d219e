// q5_0: blocks of 32, w = d·(q − 16) with q in [0, 31] and d = m / −16, m the weight of largest
// magnitude (as q4_0). The low 4 bits go in nibbles as q4_0; bit 4 of element j is bit j of qh
// (a little-endian 32-bit field).

#include "core/half.hpp"
#include "formats/block_stats.hpp"
#include "formats/reference.hpp"
#include "formats/search_scale.hpp"

#include <qlinear/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace qlinear::formats {

void quantize_row_q5_0_ref(const float* x, block_q5_0* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock32; ++b, x += kBlock32) {
    const float extreme = signed_extreme(x, kBlock32);
    const float d = extreme / -16.0f;
    const float id = inverse_scale(d);
    const float offset = uninvertible_scale(d, id) ? 0.0f : 16.5f;  // code 0, as ggml stores there
    y[b].d = core::fp32_to_fp16(d);
    std::uint32_t qh = 0;
    for (std::size_t j = 0; j < 16; ++j) {
      const auto lo = static_cast<std::uint32_t>(std::min(31, static_cast<int>(x[j] * id + offset)));
      const auto hi =
          static_cast<std::uint32_t>(std::min(31, static_cast<int>(x[j + 16] * id + offset)));
      y[b].qs[j] = static_cast<std::uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
      qh |= ((lo >> 4) & 1u) << j;
      qh |= ((hi >> 4) & 1u) << (j + 16);
    }
    std::memcpy(y[b].qh, &qh, sizeof qh);
  }
}

void dequantize_row_q5_0_ref(const block_q5_0* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock32; ++b, y += kBlock32) {
    const float d = core::fp16_to_fp32(x[b].d);
    std::uint32_t qh = 0;
    std::memcpy(&qh, x[b].qh, sizeof qh);
    for (std::size_t j = 0; j < 16; ++j) {
      const int lo = static_cast<int>((x[b].qs[j] & 0x0fu) | (((qh >> j) & 1u) << 4));
      const int hi = static_cast<int>((x[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1u) << 4));
      y[j] = static_cast<float>(lo - 16) * d;
      y[j + 16] = static_cast<float>(hi - 16) * d;
    }
  }
}

// With importance, ggml replaces the max rule by the signed-scale search (search_scale.hpp).
void quantize_row_q5_0_weighted_ref(const float* x, block_q5_0* y, std::size_t n, const float* importance) {
  search_blocks_of_32_signed_weighted(x, n, importance, 16, [&](std::size_t b, float d, const std::int8_t* levels) {
    y[b].d = core::fp32_to_fp16(d);
    std::uint32_t qh = 0;
    for (std::size_t j = 0; j < 16; ++j) {
      y[b].qs[j] = static_cast<std::uint8_t>((levels[j] & 0x0f) | ((levels[j + 16] & 0x0f) << 4));
      qh |= static_cast<std::uint32_t>((levels[j] >> 4) & 1) << j;
      qh |= static_cast<std::uint32_t>((levels[j + 16] >> 4) & 1) << (j + 16);
    }
    std::memcpy(y[b].qh, &qh, sizeof qh);
  });
}

}  // namespace qlinear::formats
