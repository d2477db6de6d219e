#pragma once
// How the K-quants pack their sub-block scales (and mins) into 12 bytes.

#include <array>
#include <cstdint>
#include <cstring>

namespace qlinear::formats {

// q4_K and q5_K: eight 6-bit scales and eight 6-bit mins. Sub-blocks 0-3 keep scale and min in the
// low 6 bits of bytes j and j+4; sub-blocks 4-7 keep their low 4 bits in byte j+4 (scale low nibble,
// min high nibble) and their high 2 bits in the top bits of bytes j-4 (scale) and j (min).
struct ScaleMin {
  int scale, min;
};

inline ScaleMin k_scale_min(const std::uint8_t* q, int j) noexcept {
  if (j < 4) return {q[j] & 63, q[j + 4] & 63};
  return {(q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)};
}

// The inverse of k_scale_min for codes in [0, 63]: writes the 12 bytes from eight scales and eight
// mins. Codes above 63 (which ggml's quantizers never produce for real inputs) spill into the
// neighbouring bits exactly as ggml's packing lets them, so that even those give ggml's bytes.
inline void pack_k_scale_min(std::uint8_t* q, const std::uint8_t* scales, const std::uint8_t* mins) noexcept {
  for (int j = 0; j < 4; ++j) {
    q[j] = scales[j];
    q[j + 4] = mins[j];
  }
  for (int j = 4; j < 8; ++j) {
    q[j + 4] = static_cast<std::uint8_t>((scales[j] & 0x0f) | ((mins[j] & 0x0f) << 4));
    q[j - 4] = static_cast<std::uint8_t>(q[j - 4] | ((scales[j] >> 4) << 6));
    q[j] = static_cast<std::uint8_t>(q[j] | ((mins[j] >> 4) << 6));
  }
}

// q3_K: sixteen 6-bit scales (stored biased by 32): the low 4 bits of scale j in byte j % 8 (low
// nibble for j < 8, high nibble for j >= 8), the high 2 bits of scale j in byte 8 + j % 4 at bit
// 2·(j / 4).
inline std::array<std::int8_t, 16> unpack_q3_K_scales(const std::uint8_t* packed) noexcept {
  std::array<std::int8_t, 16> out{};
  for (int j = 0; j < 16; ++j) {
    const int low = (packed[j % 8] >> (j < 8 ? 0 : 4)) & 0x0f;
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    out[j] = static_cast<std::int8_t>(low | (high << 4));
  }
  return out;
}

// The inverse of unpack_q3_K_scales: `biased` holds the sixteen scales + 32, each in [0, 63].
inline void pack_q3_K_scales(const std::int8_t* biased, std::uint8_t* packed) noexcept {
  std::memset(packed, 0, 12);
  for (int j = 0; j < 16; ++j) {
    const int s = biased[j];
    packed[j % 8] |= static_cast<std::uint8_t>((s & 0x0f) << (j < 8 ? 0 : 4));
    packed[8 + j % 4] |= static_cast<std::uint8_t>((s >> 4) << (2 * (j / 4)));
  }
}

}  // namespace qlinear::formats
