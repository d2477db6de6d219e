#pragma once
// The integer GEMM/GEMV of the ARM levels on the packed panels of packed.hpp, the x86 levels'
// layout, for every legacy format (q4_0, q4_1, q5_0, q5_1, q8_0, q8_1) and the affine i8/i4 at
// every packed scale and offset kind. A step of a record is 4 inputs of each of the 8 rows, byte
// 4·r + i for row r, so its first 16 bytes are rows 0..3 and the next 16 rows 4..7, and 4
// activation bytes broadcast to the 4 lanes of a register (dup) line up with every row's 4 codes.
//
// The frame (records, offsets, scales, mins, the outer loop) is written once here, as the AVX2
// level's is over Packing<bits, scale, mins, offset>; each level supplies only the integer dots of
// one block, Level::block_dots<P, C>: Armv8 in neon_gemm_int.cpp (ARMv8.0), Dotprod in
// neon_gemm_dotprod.cpp (sdot), I8mm in neon_gemm_i8mm.cpp (smmla). Those three files alone include
// this header; everything in it has internal linkage, and the templates that hold a level's
// instructions name the level among their arguments (tests/check_arm_isolation.cmake reads that).
//
// Instructions per 32 weights (one block of one row) in the inner loops, bench/README.md's table:
// per row and activation row the multiplies and the activation loads, which the 8 rows of a panel
// share (two 16-byte loads per activation row and block, 0.25 per row; neon adds a dup by lane per
// step, dotprod's sdot takes the lane itself; i8mm two 8-byte loads per 2 activation rows × 8
// inputs, 0.5 per row), then per row, shared by the C activation rows of a tile, the unpacking.
//
//   per row × activation row   neon (ARMv8.0)                        dotprod          i8mm
//   4- and 5-bit codes         4 smlal + 0.75 ⁽¹⁾ + 1 dup + 0.25 ld    2 sdot + 0.25 ld  1 smmla + 0.5 ld + 0.25 uzp
//   8-bit codes                4 smull + 4 sadalp + 0.25 ⁽²⁾ + 1.25    2 sdot + 0.25 ld  1 smmla + 0.5 ld + 0.25 uzp
//   per row (unpacking)        q4_0, q4_1, i4: 3 (ld1, and, ushr); q5_0, q5_1: 10 (the same + per
//                              16 bytes tbl, ushl, bit; ld1r of the mask); q8_0, q8_1, i8: 4 (2 ld1,
//                              2 eor); i8mm: + 2 zip1/zip2
// (1) 16-bit sums, two rows per register (smlal/smlal2), widened once per block: saddlp + addp.
// (2) products of up to 128·127 go straight into 32-bit sums with sadalp.
// ggml's vec_dot for the same pairs, per row × activation row, loads and unpacking included (it
// shares nothing), float work left out as above: q4_0 19 / 9 / 6.5 (ARMv8.0 / dotprod / i8mm),
// q4_1 17 / 7 / 5.5, q8_0 16 / 6 / 5, q5_0 and q5_1 ≈35 / ≈25 / no i8mm path. Its ARMv8.0 path
// emulates each sdot with 2 smull, 2 saddlp and 2 add; its q5 paths rebuild the fifth bits with 4
// scalar lookups of 64-bit table entries per block, stored and reloaded. The per-block float work
// is one convert, one multiply and one fma per 4 rows here, against 3–4 instructions per row in ggml.
// GCC 12 keeps a 4-row tile's accumulators in registers at dotprod and i8mm bar a few spills; at
// neon (16 registers of 16-bit sums per tile) it spills about 20 vectors per block.

#include "kernels/arm/neon_store.hpp"

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace qlinear::kernels::neon {
namespace {

template <CodeBits kBits, ScaleKind kScale, bool kMins, OffsetKind kOffset, int kConstant>
struct Packing {
  static constexpr CodeBits bits = kBits;
  static constexpr ScaleKind scale = kScale;
  static constexpr bool mins = kMins;
  static constexpr OffsetKind offset = kOffset;
  static constexpr int constant = kConstant;  // 8, 16 or 128 for OffsetKind::constant
  static constexpr RecordLayout layout = record_layout(kBits, kScale, kMins, kOffset);
};


// The step (inputs 4·step .. 4·step + 3 of the block) that code vector i (0..3) of half h (0..1)
// of a block holds, as load_half() unpacks them. The 8-bit steps lie in order; a 32-byte group j of
// nibbles holds step j (low nibbles) and step 4 + j (high), so half h of the groups 2h, 2h + 1
// holds steps 2h, 2h + 1, 4 + 2h, 5 + 2h. Either way vectors 0, 1 and 2, 3 are consecutive steps,
// the pairs the smmla kernel joins into 8 inputs.
template <CodeBits kBits>
constexpr int step_of(int h, int i) {
  return kBits == CodeBits::eight ? 4 * h + i : (i < 2 ? 2 * h + i : 2 + 2 * h + i);
}

// The fifth bits of one step (a 32-bit mask, bit 4·r + i for row r, input i) as bit 4 of the 16
// bytes of rows 0..3 (upper = false) or 4..7: byte k takes mask byte k / 8 (tbl) and moves its bit
// k % 8 to bit 4 (ushl by 4 − k % 8); the caller keeps bit 4 alone (bit).
inline uint8x16_t fifth_bits(const std::byte* mask, bool upper) {
  const uint8x16_t m = vreinterpretq_u8_s32(vdupq_n_s32(load_i32(mask)));
  const uint8x16_t spread = vcombine_u8(vdup_n_u8(upper ? 2 : 0), vdup_n_u8(upper ? 3 : 1));
  const int8x16_t to_bit4 = vreinterpretq_s8_u64(vdupq_n_u64(0xfdfeff0001020304ull));  // 4, 3, …, −3
  return vshlq_u8(vqtbl1q_u8(m, spread), to_bit4);
}

// The codes of half h of a block as int8: v[i][0] the bytes of rows 0..3 of step step_of(h, i),
// v[i][1] those of rows 4..7. 4- and 5-bit codes keep their unsigned values (0..31 fit int8); the
// stored 8-bit u = c + 128 are flipped back to u − 128 (eor 0x80), the signed code of q8_0 and
// symmetric i8; the frame takes the other offsets o as o − 128 (panel_tile()).
template <class P>
inline void load_half(const std::byte* rec, int h, int8x16_t (&v)[4][2]) {
  const std::byte* codes = rec + P::layout.codes;
  if constexpr (P::bits == CodeBits::eight) {
    const int8x16_t flip = vdupq_n_s8(-128);
    #pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      v[i][0] = veorq_s8(load_s8(codes + 32 * (4 * h + i)), flip);
      v[i][1] = veorq_s8(load_s8(codes + 32 * (4 * h + i) + 16), flip);
    }
  } else {
    const uint8x16_t low4 = vdupq_n_u8(0x0f);
    #pragma GCC unroll 2
    for (int g = 0; g < 2; ++g) {
      const int j = 2 * h + g;
      #pragma GCC unroll 2
      for (int part = 0; part < 2; ++part) {
        const uint8x16_t u = load_u8(codes + 32 * j + 16 * part);
        uint8x16_t lo = vandq_u8(u, low4), hi = vshrq_n_u8(u, 4);
        if constexpr (P::bits == CodeBits::five) {
          const uint8x16_t bit4 = vdupq_n_u8(0x10);
          lo = vbslq_u8(bit4, fifth_bits(rec + P::layout.high + 4 * j, part == 1), lo);
          hi = vbslq_u8(bit4, fifth_bits(rec + P::layout.high + 16 + 4 * j, part == 1), hi);
        }
        v[g][part] = vreinterpretq_s8_u8(lo);
        v[2 + g][part] = vreinterpretq_s8_u8(hi);
      }
    }
  }
}

// The activation codes of one block for C rows, two registers per row: step s (inputs 4s..4s + 3)
// is 32-bit lane s % 4 of xs[c][s / 4], which the kernels take by lane (sdot by element, dup by
// lane) instead of loading and broadcasting each step apart.
template <int C>
inline void load_activations(const std::byte* x, int8x16_t (&xs)[C][2]) {
  for (int c = 0; c < C; ++c) xs[c][0] = load_s8(x + 32 * c), xs[c][1] = load_s8(x + 32 * c + 16);
}

// Calls f.template operator()<H, I>() for the 4 code vectors I of half H: the lane of a step must
// be a constant expression (at -O0 too), so the steps are template arguments, not loop counters.
template <int H, class F>
inline void for_each_step(F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    (f.template operator()<H, I>(), ...);
  }(std::make_integer_sequence<int, 4>{});
}

// Keeps the loads of a block's second half after the first half's multiplies: left alone, GCC 12
// unpacks all 16 code vectors of a block first, and with the accumulators of a 4-row tile that is
// more than 32 registers (spilled to the stack). An empty statement with a memory clobber: it
// emits nothing.
inline void half_barrier() { __asm__ volatile("" ::: "memory"); }

inline int32x4_t load_i32x4(const void* p) { return vld1q_s32(static_cast<const std::int32_t*>(p)); }
inline float32x4_t load_f32x4(const void* p) { return vld1q_f32(static_cast<const float*>(p)); }

// One panel against one tile of C activation rows: out[c] lane r = the product of row r of the
// panel with activation row c, bias not added. C = 1 is the GEMV: it streams the panels, which lie
// one after the other in memory. Level::block_dots gives each block's Σ code·q for the 8 rows (lo:
// rows 0..3, hi: 4..7); the offset o·Σq, the scales and the mins are applied here once per block,
// in float per 8 rows.
template <class Level, class P, int C>
inline void panel_tile(const PackedView& w, std::size_t panel, const std::byte* act, std::size_t act_record,
                       Rows8 (&out)[C]) {
  constexpr RecordLayout L = P::layout;
  constexpr bool kEight = P::bits == CodeBits::eight;
  const std::byte* rec = w.data + panel * w.panel_bytes;
  Rows8 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  // The 8-bit dots are Σ (u − 128)·q already: a zero point o is taken off as o − 128.
  const int32x4_t shift = vdupq_n_s32(kEight ? 128 : 0);
  int32x4_t row_offset_lo = vdupq_n_s32(0), row_offset_hi = row_offset_lo;
  if constexpr (P::offset == OffsetKind::per_row) {
    row_offset_lo = vsubq_s32(load_i32x4(w.row_offsets + panel * 8), shift);
    row_offset_hi = vsubq_s32(load_i32x4(w.row_offsets + panel * 8 + 4), shift);
  }
  for (std::size_t b = 0; b < w.blocks; ++b, rec += L.bytes, act += act_record) {
    int32x4_t lo[C], hi[C];
    Level::template block_dots<P, C>(rec, act, lo, hi);
    int32x4_t offset_lo = row_offset_lo, offset_hi = row_offset_hi;
    if constexpr (P::offset == OffsetKind::per_block) {
      offset_lo = vsubq_s32(load_i32x4(rec + L.offsets), shift);
      offset_hi = vsubq_s32(load_i32x4(rec + L.offsets + 16), shift);
    }
    Rows8 wscale{};
    if constexpr (P::scale == ScaleKind::f16_per_block) wscale = load_scales(rec);
    if constexpr (P::scale == ScaleKind::f32_per_block) wscale = {load_f32x4(rec), load_f32x4(rec + 16)};
    for (int c = 0; c < C; ++c) {
      const std::int32_t act_sum = load_i32(act + C * 36 + 4 * c);
      if constexpr (P::offset == OffsetKind::constant && kEight) {
        static_assert(P::constant == 128);  // taken off by the flip in load_half()
      } else if constexpr (P::offset == OffsetKind::constant) {
        static_assert(P::constant == 8 || P::constant == 16);
        const int32x4_t o = vdupq_n_s32(P::constant * act_sum);
        lo[c] = vsubq_s32(lo[c], o);
        hi[c] = vsubq_s32(hi[c], o);
      } else if constexpr (P::offset != OffsetKind::none) {
        lo[c] = vmlsq_n_s32(lo[c], offset_lo, act_sum);
        hi[c] = vmlsq_n_s32(hi[c], offset_hi, act_sum);
      }
      const float dx = load_f32(act + C * 32 + 4 * c);
      const float32x4_t fl = vcvtq_f32_s32(lo[c]), fh = vcvtq_f32_s32(hi[c]);
      if constexpr (P::scale == ScaleKind::f32_per_row) {
        acc[c].lo = vfmaq_n_f32(acc[c].lo, fl, dx);
        acc[c].hi = vfmaq_n_f32(acc[c].hi, fh, dx);
      } else {
        acc[c].lo = vfmaq_f32(acc[c].lo, fl, vmulq_n_f32(wscale.lo, dx));
        acc[c].hi = vfmaq_f32(acc[c].hi, fh, vmulq_n_f32(wscale.hi, dx));
      }
    }
    if constexpr (P::mins) {
      const Rows8 m = load_scales(rec + L.mins);
      for (int c = 0; c < C; ++c) {
        const float scaled_sum = load_f32(act + C * 40 + 4 * c);  // d·Σq
        acc[c].lo = vfmaq_n_f32(acc[c].lo, m.lo, scaled_sum);
        acc[c].hi = vfmaq_n_f32(acc[c].hi, m.hi, scaled_sum);
      }
    }
  }
  if constexpr (P::scale == ScaleKind::f32_per_row) {
    const float32x4_t s_lo = vld1q_f32(w.row_scales + panel * 8), s_hi = vld1q_f32(w.row_scales + panel * 8 + 4);
    for (int c = 0; c < C; ++c) acc[c] = {vmulq_f32(acc[c].lo, s_lo), vmulq_f32(acc[c].hi, s_hi)};
  }
  for (int c = 0; c < C; ++c) out[c] = acc[c];
}

template <class Level, class P, int C>
void run(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
         std::size_t tile_end) {
  for_each_panel_and_tile<C>(a, row_begin, row_end, tile_begin, tile_end,
                             [&](std::size_t panel, const std::byte* act, Rows8 (&out)[C]) {
                               panel_tile<Level, P, C>(*a.packed, panel, act, a.act.record_bytes, out);
                             });
}

using RunFn = void (*)(const GemmArgs&, std::size_t, std::size_t, std::size_t, std::size_t);

// The ggml formats, each against q8 activations (q8_0's codes and scales; the block sums serve the
// offset and the min): weights × activations, as DESIGN.md names kernels.
constexpr auto kF16 = ScaleKind::f16_per_block;
using q4_0_q8_0 = Packing<CodeBits::four, kF16, false, OffsetKind::constant, 8>;
using q4_1_q8_1 = Packing<CodeBits::four, kF16, true, OffsetKind::none, 0>;
using q5_0_q8_0 = Packing<CodeBits::five, kF16, false, OffsetKind::constant, 16>;
using q5_1_q8_1 = Packing<CodeBits::five, kF16, true, OffsetKind::none, 0>;
using q8_0_q8_0 = Packing<CodeBits::eight, kF16, false, OffsetKind::constant, 128>;  // q8_1 weights too

// The affine formats as pack.cpp packs them: a scale per row (per tensor too) with a zero point
// per row, or a scale per group of whole blocks with one per block; symmetric codes take the
// constant offset (8, or 128 for the signed 8-bit codes) instead. Other pairs are never packed.
template <class Level, int C, CodeBits kBits>
RunFn pick_affine(const PackedView& w) {
  constexpr int kConstant = kBits == CodeBits::eight ? 128 : 8;
  const bool per_row = w.scale == ScaleKind::f32_per_row;
  if (per_row && w.offset == OffsetKind::constant) {
    return &run<Level, Packing<kBits, ScaleKind::f32_per_row, false, OffsetKind::constant, kConstant>, C>;
  }
  if (per_row && w.offset == OffsetKind::per_row) {
    return &run<Level, Packing<kBits, ScaleKind::f32_per_row, false, OffsetKind::per_row, 0>, C>;
  }
  if (w.scale == ScaleKind::f32_per_block && w.offset == OffsetKind::constant) {
    return &run<Level, Packing<kBits, ScaleKind::f32_per_block, false, OffsetKind::constant, kConstant>, C>;
  }
  if (w.scale == ScaleKind::f32_per_block && w.offset == OffsetKind::per_block) {
    return &run<Level, Packing<kBits, ScaleKind::f32_per_block, false, OffsetKind::per_block, 0>, C>;
  }
  return nullptr;
}

template <class Level, int C>
RunFn pick_format(Format format, const PackedView& w) {
  switch (format) {
    case Format::q4_0: return &run<Level, q4_0_q8_0, C>;
    case Format::q4_1: return &run<Level, q4_1_q8_1, C>;
    case Format::q5_0: return &run<Level, q5_0_q8_0, C>;
    case Format::q5_1: return &run<Level, q5_1_q8_1, C>;
    case Format::q8_0:
    case Format::q8_1: return &run<Level, q8_0_q8_0, C>;
    case Format::i4: return pick_affine<Level, C, CodeBits::four>(w);
    case Format::i8: return pick_affine<Level, C, CodeBits::eight>(w);
    default: return nullptr;
  }
}

// The kernel of this level for tiles of C activation rows, or null where the scalar one serves: a
// layer without a packed copy, a tile height other than C, a format without a kernel here.
template <class Level, int C>
RunFn pick(const GemmArgs& a) {
  if (a.packed == nullptr || a.act.tile_rows != static_cast<std::size_t>(C)) return nullptr;
  return pick_format<Level, C>(a.weight->format, *a.packed);
}

}  // namespace
}  // namespace qlinear::kernels::neon
