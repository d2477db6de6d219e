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

// The K-quants: super-blocks of 256 weights cut into sub-blocks of 16 or 32, each with a small
// integer scale (and min) that the super-block's fp16 d (and dmin) multiply.
inline constexpr std::size_t kBlock256 = 256;

struct block_q2_K {       // 16 sub-blocks of 16: w = d·(scales[j] & 15)·q − dmin·(scales[j] >> 4), q in [0, 3]
  std::uint8_t scales[16];
  std::uint8_t qs[64];    // 2 bits each
  std::uint16_t d;
  std::uint16_t dmin;
};
struct block_q3_K {       // 16 sub-blocks of 16: w = d·(s_j − 32)·(q − 4), q in [0, 7], s_j 6 bits
  std::uint8_t hmask[32]; // the third bits
  std::uint8_t qs[64];    // the low 2 bits
  std::uint8_t scales[12];
  std::uint16_t d;
};
struct block_q4_K {       // 8 sub-blocks of 32: w = d·s_j·q − dmin·m_j, q in [0, 15], s_j and m_j 6 bits
  std::uint16_t d;
  std::uint16_t dmin;
  std::uint8_t scales[12];
  std::uint8_t qs[128];
};
struct block_q5_K {       // as q4_K with q in [0, 31]
  std::uint16_t d;
  std::uint16_t dmin;
  std::uint8_t scales[12];
  std::uint8_t qh[32];    // the fifth bits
  std::uint8_t qs[128];   // the low 4 bits
};
struct block_q6_K {       // 16 sub-blocks of 16: w = d·scales[j]·(q − 32), q in [0, 63]
  std::uint8_t ql[128];   // the low 4 bits
  std::uint8_t qh[64];    // the high 2 bits
  std::int8_t scales[16];
  std::uint16_t d;
};

// The i-quants with a non-linear grid of 16 values (kIq4nlValues): iq4_nl is q4_0 with the grid,
// iq4_xs a super-block of 256 with 8 sub-blocks of 32 and 6-bit sub-scales.
inline constexpr std::int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                                 1,    13,   25,  38,  53,  69,  89,  113};
struct block_iq4_nl {     // w = d·grid[q]
  std::uint16_t d;
  std::uint8_t qs[16];
};
struct block_iq4_xs {     // w = d·(ls_j − 32)·grid[q], ls_j = low 4 bits | 2 high bits << 4
  std::uint16_t d;
  std::uint16_t scales_h; // the high 2 bits of sub-block j at bits 2j, 2j+1
  std::uint8_t scales_l[4];  // the low 4 bits: sub-block 2k in the low nibble of byte k, 2k+1 high
  std::uint8_t qs[128];
};

static_assert(sizeof(block_q2_K) == 84);
static_assert(sizeof(block_q3_K) == 110);
static_assert(sizeof(block_q4_K) == 144);
static_assert(sizeof(block_q5_K) == 176);
static_assert(sizeof(block_q6_K) == 210);
static_assert(sizeof(block_iq4_nl) == 18);
static_assert(sizeof(block_iq4_xs) == 136);
static_assert(sizeof(block_q4_0) == 18);
static_assert(sizeof(block_q4_1) == 20);
static_assert(sizeof(block_q5_0) == 22);
static_assert(sizeof(block_q5_1) == 24);
static_assert(sizeof(block_q8_0) == 34);
static_assert(sizeof(block_q8_1) == 36);

}  // namespace qlinear::formats
