#pragma once
// The integer GEMM/GEMV of the ARM levels on the packed panels of packed.hpp, the x86 levels'
// layout: a step of a record is 4 inputs of each of the 8 rows, byte 4·r + i for row r, so its
// first 16 bytes are rows 0..3 and the next 16 rows 4..7, and 4 activation bytes broadcast to the
// 4 lanes of a register (dup) line up with every row's 4 codes. Included by neon_gemm_int.cpp
// (kDot = false, ARMv8.0) and neon_gemm_dotprod.cpp (kDot = true, +dotprod) only.
//
// Instructions per 32 weights of one row (one block) and one activation row in the inner loop; the
// unpacking of the codes (and, ushr or eor per 16 bytes) is shared by the C activation rows of a
// tile, the 4-byte activation broadcasts (dup) by the 8 rows of a panel, and neither is counted:
//                     neon (ARMv8.0)                    dotprod     ggml, ARMv8.0 / dotprod
//   q4_0 × q8_0       4 smlal + 0.75 saddlp/addp        2 sdot      12 (4 smull, 4 saddlp, 4 add) / 2 sdot
//   q8_0 × q8_0       4 smull + 4 sadalp + 0.25 addp    2 sdot      12 / 2 sdot
// (ggml's ARMv8.0 path emulates each sdot with two smull, two saddlp and two add.) The 16-bit sums
// of q4_0's smlal hold two rows per register and are widened once per block.

#include "kernels/arm/neon_store.hpp"

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

namespace qlinear::kernels::neon {
namespace {

inline int8x16_t broadcast4(const std::byte* p) { return vreinterpretq_s8_s32(vdupq_n_s32(load_i32(p))); }

// The integer dots of one q4_0 block (unsigned nibbles u, before the offset 8·Σq), 8 rows × C
// activation rows: lo[c] rows 0..3, hi[c] rows 4..7.
template <bool kDot, int C>
inline void dots_q4(const std::byte* codes, const std::byte* x, int32x4_t (&lo)[C], int32x4_t (&hi)[C]) {
  const uint8x16_t low4 = vdupq_n_u8(0x0f);
  if constexpr (kDot) {
    for (int c = 0; c < C; ++c) lo[c] = hi[c] = vdupq_n_s32(0);
    #pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const uint8x16_t v0 = load_u8(codes + 32 * j), v1 = load_u8(codes + 32 * j + 16);
      const int8x16_t l0 = vreinterpretq_s8_u8(vandq_u8(v0, low4)), h0 = vreinterpretq_s8_u8(vshrq_n_u8(v0, 4));
      const int8x16_t l1 = vreinterpretq_s8_u8(vandq_u8(v1, low4)), h1 = vreinterpretq_s8_u8(vshrq_n_u8(v1, 4));
      #pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        const int8x16_t al = broadcast4(x + 32 * c + 4 * j), ah = broadcast4(x + 32 * c + 16 + 4 * j);
        lo[c] = vdotq_s32(vdotq_s32(lo[c], l0, al), h0, ah);
        hi[c] = vdotq_s32(vdotq_s32(hi[c], l1, al), h1, ah);
      }
    }
  } else {
    // 16-bit sums, two rows per register: 8 products of at most 15·127 per lane (15240) fit.
    int16x8_t acc[C][4];
    for (int c = 0; c < C; ++c) acc[c][0] = acc[c][1] = acc[c][2] = acc[c][3] = vdupq_n_s16(0);
    #pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const uint8x16_t v0 = load_u8(codes + 32 * j), v1 = load_u8(codes + 32 * j + 16);
      const int8x16_t l0 = vreinterpretq_s8_u8(vandq_u8(v0, low4)), h0 = vreinterpretq_s8_u8(vshrq_n_u8(v0, 4));
      const int8x16_t l1 = vreinterpretq_s8_u8(vandq_u8(v1, low4)), h1 = vreinterpretq_s8_u8(vshrq_n_u8(v1, 4));
      #pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        const int8x16_t al = broadcast4(x + 32 * c + 4 * j), ah = broadcast4(x + 32 * c + 16 + 4 * j);
        acc[c][0] = vmlal_s8(vmlal_s8(acc[c][0], vget_low_s8(l0), vget_low_s8(al)), vget_low_s8(h0), vget_low_s8(ah));
        acc[c][1] = vmlal_high_s8(vmlal_high_s8(acc[c][1], l0, al), h0, ah);
        acc[c][2] = vmlal_s8(vmlal_s8(acc[c][2], vget_low_s8(l1), vget_low_s8(al)), vget_low_s8(h1), vget_low_s8(ah));
        acc[c][3] = vmlal_high_s8(vmlal_high_s8(acc[c][3], l1, al), h1, ah);
      }
    }
    for (int c = 0; c < C; ++c) {
      lo[c] = vpaddq_s32(vpaddlq_s16(acc[c][0]), vpaddlq_s16(acc[c][1]));
      hi[c] = vpaddq_s32(vpaddlq_s16(acc[c][2]), vpaddlq_s16(acc[c][3]));
    }
  }
}

// The same for a q8_0 block: the stored u = w + 128 are flipped back to the signed w (eor 0x80),
// so the dots need no offset.
template <bool kDot, int C>
inline void dots_q8(const std::byte* codes, const std::byte* x, int32x4_t (&lo)[C], int32x4_t (&hi)[C]) {
  const int8x16_t flip = vdupq_n_s8(static_cast<std::int8_t>(-128));
  if constexpr (kDot) {
    for (int c = 0; c < C; ++c) lo[c] = hi[c] = vdupq_n_s32(0);
    #pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {
      const int8x16_t w0 = veorq_s8(load_s8(codes + 32 * s), flip), w1 = veorq_s8(load_s8(codes + 32 * s + 16), flip);
      #pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        const int8x16_t a = broadcast4(x + 32 * c + 4 * s);
        lo[c] = vdotq_s32(lo[c], w0, a);
        hi[c] = vdotq_s32(hi[c], w1, a);
      }
    }
  } else {
    // A product reaches 128·127 = 16256 in magnitude: each pair of 16-bit products goes straight
    // into 32-bit sums (sadalp), two rows per register.
    int32x4_t acc[C][4];
    for (int c = 0; c < C; ++c) acc[c][0] = acc[c][1] = acc[c][2] = acc[c][3] = vdupq_n_s32(0);
    #pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {
      const int8x16_t w0 = veorq_s8(load_s8(codes + 32 * s), flip), w1 = veorq_s8(load_s8(codes + 32 * s + 16), flip);
      #pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        const int8x16_t a = broadcast4(x + 32 * c + 4 * s);
        acc[c][0] = vpadalq_s16(acc[c][0], vmull_s8(vget_low_s8(w0), vget_low_s8(a)));
        acc[c][1] = vpadalq_s16(acc[c][1], vmull_high_s8(w0, a));
        acc[c][2] = vpadalq_s16(acc[c][2], vmull_s8(vget_low_s8(w1), vget_low_s8(a)));
        acc[c][3] = vpadalq_s16(acc[c][3], vmull_high_s8(w1, a));
      }
    }
    for (int c = 0; c < C; ++c) {
      lo[c] = vpaddq_s32(acc[c][0], acc[c][1]);
      hi[c] = vpaddq_s32(acc[c][2], acc[c][3]);
    }
  }
}

// One panel against one tile of C activation rows (C = 1: the GEMV, streaming the panels).
template <bool kDot, bool kEight, int C>
inline void panel_tile(const PackedView& w, std::size_t panel, const std::byte* act, std::size_t act_record,
                       Rows8 (&out)[C]) {
  constexpr RecordLayout L = record_layout(kEight ? CodeBits::eight : CodeBits::four, ScaleKind::f16_per_block,
                                           false, OffsetKind::constant);
  const std::byte* rec = w.data + panel * w.panel_bytes;
  Rows8 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  for (std::size_t b = 0; b < w.blocks; ++b, rec += L.bytes, act += act_record) {
    int32x4_t lo[C], hi[C];
    if constexpr (kEight) {
      dots_q8<kDot, C>(rec + L.codes, act, lo, hi);
    } else {
      dots_q4<kDot, C>(rec + L.codes, act, lo, hi);
    }
    const Rows8 wscale = load_scales(rec);
    for (int c = 0; c < C; ++c) {
      const std::int32_t offset_sum = kEight ? 0 : 8 * load_i32(act + C * 36 + 4 * c);
      accumulate_block(acc[c], lo[c], hi[c], offset_sum, wscale, load_f32(act + C * 32 + 4 * c));
    }
  }
  for (int c = 0; c < C; ++c) out[c] = acc[c];
}

template <bool kDot, bool kEight, int C>
void run(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
         std::size_t tile_end) {
  for_each_panel_and_tile<C>(a, row_begin, row_end, tile_begin, tile_end,
                             [&](std::size_t panel, const std::byte* act, Rows8 (&out)[C]) {
                               panel_tile<kDot, kEight, C>(*a.packed, panel, act, a.act.record_bytes, out);
                             });
}

using RunFn = void (*)(const GemmArgs&, std::size_t, std::size_t, std::size_t, std::size_t);

// The kernel for this layer, or null where the scalar one serves: a format without a kernel here,
// or a tile height other than the two this level makes.
template <bool kDot>
RunFn pick(const GemmArgs& a) {
  if (a.packed == nullptr) return nullptr;
  const bool gemv = a.act.tile_rows == 1, tiled = a.act.tile_rows == kIntTileRows;
  if (!gemv && !tiled) return nullptr;
  switch (a.weight->format) {
    case Format::q4_0: return gemv ? &run<kDot, false, 1> : &run<kDot, false, kIntTileRows>;
    case Format::q8_0: return gemv ? &run<kDot, true, 1> : &run<kDot, true, kIntTileRows>;
    default: return nullptr;
  }
}

}  // namespace
}  // namespace qlinear::kernels::neon
