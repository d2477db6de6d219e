#pragma once
// The ggml block layouts, byte for byte. Scales are IEEE half (fp16) bit patterns, little-endian.
// The 4-bit formats put element j in the low nibble and element j+16 in the high nibble of qs[j];
// the 5-bit formats keep the fifth bit of element j in bit j of the 32-bit field qh.

#include <cstddef>
#include <cstdint>

namespace qlinear::formats {

inline constexpr std::size_t kBlock32 = 32;

struct block_q4_0 {       // w = d·(q − 8), q in [0, 15]
  std::uint16_t d;
  std::uint8_t qs[16];
};
struct block_q4_1 {       // w = d·q + m, q in [0, 15]
  std::uint16_t d;
  std::uint16_t m;
  std::uint8_t qs[16];
};
struct block_q5_0 {       // w = d·(q − 16), q in [0, 31]
  std::uint16_t d;
  std::uint8_t qh[4];
  std::uint8_t qs[16];
};
struct block_q5_1 {       // w = d·q + m, q in [0, 31]
  std::uint16_t d;
  std::uint16_t m;
  std::uint8_t qh[4];
  std::uint8_t qs[16];
};
struct block_q8_0 {       // w = d·q, q in [-127, 127]
  std::uint16_t d;
  std::int8_t qs[32];
};
struct block_q8_1 {       // as q8_0, plus s = d·Σq so that affine weights can fold their offsets
  std::uint16_t d;
  std::uint16_t s;
  std::int8_t qs[32];
};

static_assert(sizeof(block_q4_0) == 18);
static_assert(sizeof(block_q4_1) == 20);
static_assert(sizeof(block_q5_0) == 22);
static_assert(sizeof(block_q5_1) == 24);
static_assert(sizeof(block_q8_0) == 34);
static_assert(sizeof(block_q8_1) == 36);

}  // namespace qlinear::formats
