#pragma once
// The ARM levels' GEMM/GEMV of the K-quants and i-quants (q2_K … q6_K, iq4_nl, iq4_xs) on the super
// records of packed.hpp, the x86 levels' layout: a step j of a block record is 32 bytes, the first
// 16 rows 0..3 and the next 16 rows 4..7 (byte 4·r + k), each byte holding row r's codes of inputs
// 4j + k (low nibble) and 16 + 4j + k (high nibble), so that 4 activation bytes in each 32-bit
// lane of a register (a broadcast, or the indexed sdot's lane) line up with every row's codes. Included by neon_gemm_kquant.cpp
// (kDot = false, ARMv8.0) and neon_gemm_kquant_dotprod.cpp (kDot = true, +dotprod) only.
//
// What stays integer, as on x86: the codes' dot products per sub-block (inputs 0..15 and 16..31
// apart for q2_K, q3_K and q6_K, whose sub-blocks of 16 have their own scales); the offsets (q3_K 4,
// q6_K 32) start those sums at −offset·S₀ and −offset·S₁, the activation's half-block sums; the
// record's int8 pairs, widened to int32 once per block for all tile rows, scale them (mul, mla);
// the mins meet S₀, S₁ (q2_K) or Σq (q4_K, q5_K) in one more mul. The block's integer sums then meet
// d·d_x (and −dmin·d_x) in one float multiply-add each.
//
// neon (ARMv8.0): smull/smlal into 16-bit lanes, one row's 4 inputs of a step per 4 lanes, then
// saddlp + addp into one int32 per row. 16-bit bounds per lane: q4_K 8 products of 15·127 (15240),
// q5_K 8 of 31·127 (31496), q6_K 4 of 63·127 per half (32004), q3_K/q2_K 4 of 7·127 or 3·127; the
// iq4 grid (|g| <= 127) fills 16 bits with 2 products, so each smull/smlal pair goes through a
// sadalp. To keep the 16-bit sums of a tile of 4 activation rows in registers, rows 0..3 and 4..7
// are two passes over the block. dotprod: one sdot per 4 inputs of 4 rows, int32 sums throughout.
//
// Instructions per 32 weights of one row (one block) and one activation row, counted from the code
// and checked against GCC 12's listing of the 4-row kernels. "arith" is what every activation row
// of a tile pays: the dots, their reduction to one int32 per row (neon), the offsets, the int32
// mul/mla of the sub-block scales and mins, and the float work (scvtf, fmul, fmla: 0.75, 1.5 with
// mins); "unpack" is the codes' unpacking (and, ushr, shl, orr, tbl), paid once per tile (C = 4
// rows) or once per row in the GEMV (C = 1). The dotprod level uses the indexed sdot against 16
// activation bytes in a register, so it needs no broadcasts; the neon level broadcasts 4 bytes per
// step (ldr + dup, shared by 4 rows, not counted). ggml's figures are per row (its vec_dot unpacks
// per row) from its ARM NEON code (ggml-cpu/arch/arm/quants.c), ~ where a part of the work is per
// super-block; ggml's ARMv8.0 path emulates each sdot with two smull, two saddlp and two add.
//            neon arith              dotprod arith         unpack   ggml ARMv8.0 / dotprod (all)
//   q2_K     4 smlal + 4.0 = 8.0     2 sdot + 2.5 = 4.5    3.5      ~17.5 / ~9.5
//   q3_K     4 smlal + 3.75 = 7.75   2 sdot + 1.75 = 3.75  2        ~23 / ~15
//   q4_K     4 smlal + 2.75 = 6.75   2 sdot + 2.0 = 4.0    2        ~14 / ~6
//   q5_K     4 smlal + 2.75 = 6.75   2 sdot + 2.0 = 4.0    7.75     ~21 / ~13
//   q6_K     4 smlal + 3.75 = 7.75   2 sdot + 1.75 = 3.75  7.5      ~23.5 / ~15.5
//   iq4_xs   6 smull/smlal/sadalp    2 sdot + 1.0 = 3.0    4        ~21 / ~13
//            + 1.25 = 7.25
//   iq4_nl   6 smull/smlal/sadalp    2 sdot + 0.75 = 2.75  4        ~18 / ~10
//            + 1.0 = 7.0
// So the dotprod GEMV (arith + unpack) is at or below ggml's count for every format (q4_K 6 / 6,
// q3_K 5.75 / 15: the packing merged q3_K's high bit and q6_K's top bits into fewer operations),
// and a tile of 4 rows shares the unpacking. ggml's paths reduce each sub-block's 4 lanes to one
// integer (addv) and scale it in a general-purpose register (madd); the panels do that per 8 rows
// with one mul/mla. The packed copy is larger than ggml's blocks (packed.hpp: q3_K 148 bytes per
// row and 256 inputs against 110), which a GEMV from DRAM pays in bandwidth.

#include "formats/blocks.hpp"
#include "kernels/arm/neon_store.hpp"

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace qlinear::kernels::neon {
namespace {

template <Format F>
struct KTraits {
  static constexpr KQuantLayout layout = kquant_layout(F);
  static constexpr bool mins = layout.head == 64;
  static constexpr bool grid = F == Format::iq4_xs || F == Format::iq4_nl;
  static constexpr bool halves = F == Format::q2_K || F == Format::q3_K || F == Format::q6_K;  // sub-blocks of 16
  static constexpr int offset = F == Format::q6_K ? 32 : F == Format::q3_K ? 4 : 0;
};

// 4 activation bytes in every 32-bit lane: the neon path's operand for 4 rows' codes.
inline int8x16_t broadcast_x4(const std::byte* p) { return vreinterpretq_s8_s32(vdupq_n_s32(load_i32(p))); }

// f(std::integral_constant<int, j>{}) for the steps j = 0..3 of a block: j a constant, for the lane
// of an indexed sdot and the shift counts.
template <typename Step>
inline void for_each_step(Step&& f) {
  f(std::integral_constant<int, 0>{});
  f(std::integral_constant<int, 1>{});
  f(std::integral_constant<int, 2>{});
  f(std::integral_constant<int, 3>{});
}

inline float32x4_t load_f32x4(const std::byte* p) { return vld1q_f32(reinterpret_cast<const float*>(p)); }

inline std::int32_t load_i16(const std::byte* p) {
  std::int16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Step j of a block record, row group g (rows 4g..4g + 3): lo = the codes of inputs 4j + k, hi those
// of 16 + 4j + k, as int8 (the unsigned codes are below 64; the iq4 grid values are signed).
template <Format F>
inline void unpack_step(const std::byte* rec, int j, int g, int8x16_t& lo, int8x16_t& hi) {
  constexpr KQuantLayout L = KTraits<F>::layout;
  const std::byte* codes = rec + 16 * L.pairs + L.high;
  const uint8x16_t low4 = vdupq_n_u8(0x0f);
  uint8x16_t l, h;
  if constexpr (F == Format::q2_K) {  // bits 2j, 2j + 1 of the two vectors
    const uint8x16_t low2 = vdupq_n_u8(0x03);
    const uint8x16_t v0 = load_u8(codes + 16 * g), v1 = load_u8(codes + 32 + 16 * g);
    const int8x16_t shift = vdupq_n_s8(static_cast<std::int8_t>(-2 * j));  // ushl by a negative count: a right shift
    l = vandq_u8(vshlq_u8(v0, shift), low2);
    h = vandq_u8(vshlq_u8(v1, shift), low2);
  } else {
    const uint8x16_t v = load_u8(codes + 32 * j + 16 * g);
    l = vandq_u8(v, low4);
    h = vshrq_n_u8(v, 4);
  }
  if constexpr (F == Format::q5_K) {  // bit j (low nibble's) and 4 + j (high nibble's) to bit 4
    const uint8x16_t plane = load_u8(rec + 16 * L.pairs + 16 * g), bit4 = vdupq_n_u8(0x10);
    const int8x16_t up = vdupq_n_s8(static_cast<std::int8_t>(4 - j)), down = vdupq_n_s8(static_cast<std::int8_t>(-j));
    l = vorrq_u8(l, vandq_u8(vshlq_u8(plane, up), bit4));
    h = vorrq_u8(h, vandq_u8(vshlq_u8(plane, down), bit4));
  }
  if constexpr (F == Format::q6_K) {  // bits 4, 5: fields 4·(j % 2) and 2 + 4·(j % 2) of vector j / 2
    const uint8x16_t hb = load_u8(rec + 16 * L.pairs + 32 * (j / 2) + 16 * g), top2 = vdupq_n_u8(0x30);
    const int odd = j % 2;
    const int8x16_t to_lo = vdupq_n_s8(static_cast<std::int8_t>(4 - 4 * odd));
    const int8x16_t to_hi = vdupq_n_s8(static_cast<std::int8_t>(2 - 4 * odd));
    l = vorrq_u8(l, vandq_u8(vshlq_u8(hb, to_lo), top2));
    h = vorrq_u8(h, vandq_u8(vshlq_u8(hb, to_hi), top2));
  }
  if constexpr (KTraits<F>::grid) {
    const int8x16_t values = vld1q_s8(formats::kIq4nlValues);
    lo = vqtbl1q_s8(values, l);
    hi = vqtbl1q_s8(values, h);
  } else {
    lo = vreinterpretq_s8_u8(l);
    hi = vreinterpretq_s8_u8(h);
  }
}

// One block of 32, rows 4g..4g + 3 × C activation rows, added to lo/hi (which the caller starts at
// the offsets' −offset·S): lo[c] lane i = row 4g + i's dot over inputs 0..15, hi[c] over 16..31, for
// the formats with sub-blocks of 16; for the others lo holds the whole block and hi is unused. The
// two row groups are two passes, so that a tile's sums stay in registers with its float sums.
template <bool kDot, Format F, int C>
inline void block_dots(const std::byte* rec, const std::byte* x, int g, int32x4_t (&lo)[C], int32x4_t (&hi)[C]) {
  using T = KTraits<F>;
  if constexpr (kDot) {
    // The indexed sdot multiplies each row's 4 codes by activation bytes 4j..4j + 3 of a register
    // holding 16 of them: no broadcasts.
    int8x16_t xl[C], xh[C];
    for (int c = 0; c < C; ++c) xl[c] = load_s8(x + 32 * c), xh[c] = load_s8(x + 32 * c + 16);
    for_each_step([&](auto step) {
      constexpr int j = decltype(step)::value;
      int8x16_t l, h;
      unpack_step<F>(rec, j, g, l, h);
      #pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        if constexpr (T::halves) {
          lo[c] = vdotq_laneq_s32(lo[c], l, xl[c], j);
          hi[c] = vdotq_laneq_s32(hi[c], h, xh[c], j);
        } else {
          lo[c] = vdotq_laneq_s32(vdotq_laneq_s32(lo[c], l, xl[c], j), h, xh[c], j);
        }
      }
    });
  } else if constexpr (T::grid) {
    // Two products fill 16 bits: each smull + smlal pair is widened at once (sadalp), rows 4g, 4g + 1
    // in acc[c][0] and 4g + 2, 4g + 3 in acc[c][1].
    int32x4_t acc[C][2];
    for (int c = 0; c < C; ++c) acc[c][0] = acc[c][1] = vdupq_n_s32(0);
    #pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      int8x16_t l, h;
      unpack_step<F>(rec, j, g, l, h);
      #pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        const int8x16_t xl = broadcast_x4(x + 32 * c + 4 * j), xh = broadcast_x4(x + 32 * c + 16 + 4 * j);
        acc[c][0] = vpadalq_s16(acc[c][0],
                                vmlal_s8(vmull_s8(vget_low_s8(l), vget_low_s8(xl)), vget_low_s8(h), vget_low_s8(xh)));
        acc[c][1] = vpadalq_s16(acc[c][1], vmlal_high_s8(vmull_high_s8(l, xl), h, xh));
      }
    }
    for (int c = 0; c < C; ++c) lo[c] = vaddq_s32(lo[c], vpaddq_s32(acc[c][0], acc[c][1]));
  } else {
    // 16-bit sums (bounds above), rows 4g, 4g + 1 in s[c][.][0] and 4g + 2, 4g + 3 in s[c][.][1]; the
    // formats without halves add both nibbles into s[c][0].
    constexpr int kSums = T::halves ? 2 : 1;
    int16x8_t s[C][kSums][2];
    for (int c = 0; c < C; ++c) {
      for (int k = 0; k < kSums; ++k) s[c][k][0] = s[c][k][1] = vdupq_n_s16(0);
    }
    #pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      int8x16_t l, h;
      unpack_step<F>(rec, j, g, l, h);
      #pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        const int8x16_t xl = broadcast_x4(x + 32 * c + 4 * j), xh = broadcast_x4(x + 32 * c + 16 + 4 * j);
        int16x8_t(&sh)[2] = s[c][kSums - 1];
        s[c][0][0] = vmlal_s8(s[c][0][0], vget_low_s8(l), vget_low_s8(xl));
        s[c][0][1] = vmlal_high_s8(s[c][0][1], l, xl);
        sh[0] = vmlal_s8(sh[0], vget_low_s8(h), vget_low_s8(xh));
        sh[1] = vmlal_high_s8(sh[1], h, xh);
      }
    }
    for (int c = 0; c < C; ++c) {
      lo[c] = vaddq_s32(lo[c], vpaddq_s32(vpaddlq_s16(s[c][0][0]), vpaddlq_s16(s[c][0][1])));
      if constexpr (T::halves) hi[c] = vaddq_s32(hi[c], vpaddq_s32(vpaddlq_s16(s[c][1][0]), vpaddlq_s16(s[c][1][1])));
    }
  }
}

// Rows 4g..4g + 3 of a vector of 8 int8 pairs (bytes 2r, 2r + 1 for row r) as int32: a lane i = the
// first of row 4g + i's pair, b the second.
inline void widen_pairs(const std::byte* p, int g, int32x4_t& a, int32x4_t& b) {
  const int16x8_t w = vmovl_s8(vld1_s8(reinterpret_cast<const std::int8_t*>(p) + 8 * g));
  a = vmovl_s16(vuzp1_s16(vget_low_s16(w), vget_high_s16(w)));
  b = vmovl_s16(vuzp2_s16(vget_low_s16(w), vget_high_s16(w)));
}

// One panel against one tile of C activation rows (C = 1: the GEMV, streaming the panels).
template <bool kDot, Format F, int C>
inline void kquant_panel_tile(const PackedView& w, std::size_t panel, const std::byte* act, std::size_t act_record,
                              Rows8 (&out)[C]) {
  using T = KTraits<F>;
  constexpr KQuantLayout L = T::layout;
  constexpr std::size_t kScaleAt = act_scale_offset(C), kSumAt = act_sum_offset(C), kHalvesAt = act_half_sums_offset(C);
  const std::byte* super = w.data + panel * w.panel_bytes;
  Rows8 acc[C];
  for (int c = 0; c < C; ++c) acc[c] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
  const std::size_t supers = w.blocks / L.blocks_per_super;
  for (std::size_t sb = 0; sb < supers; ++sb, super += L.super) {
    const std::byte* rec = super + L.head;
    for (std::size_t b = 0; b < L.blocks_per_super; ++b, rec += L.block, act += act_record) {
      #pragma GCC unroll 2
      for (int g = 0; g < 2; ++g) {
        // The second pass loads the activation again: kept from the first, its broadcasts would
        // take every register.
        __asm__ volatile("" ::: "memory");
        int32x4_t lo[C], hi[C];
        #pragma GCC unroll 4
        for (int c = 0; c < C; ++c) {
          lo[c] = vdupq_n_s32(T::offset ? -T::offset * load_i16(act + kHalvesAt + 4 * c) : 0);
          hi[c] = vdupq_n_s32(T::offset ? -T::offset * load_i16(act + kHalvesAt + 4 * c + 2) : 0);
        }
        block_dots<kDot, F, C>(rec, act, g, lo, hi);
        int32x4_t sa = vdupq_n_s32(1), sb2 = sa, ma = sa, mb = sa;
        if constexpr (L.pairs > 0) widen_pairs(rec, g, sa, sb2);
        if constexpr (F == Format::q2_K) widen_pairs(rec + 16, g, ma, mb);
        const float32x4_t d = load_f32x4(super + 16 * g);
        const float32x4_t neg_dmin = T::mins ? load_f32x4(super + 32 + 16 * g) : d;
        #pragma GCC unroll 4
        for (int c = 0; c < C; ++c) {
          const float dx = load_f32(act + kScaleAt + 4 * c);
          int32x4_t isum = lo[c];
          if constexpr (T::halves) {
            isum = vmlaq_s32(vmulq_s32(isum, sa), hi[c], sb2);
          } else if constexpr (L.pairs > 0) {
            isum = vmulq_s32(isum, sa);
          }
          float32x4_t& a = g == 0 ? acc[c].lo : acc[c].hi;
          a = vfmaq_f32(a, vcvtq_f32_s32(isum), vmulq_n_f32(d, dx));
          if constexpr (T::mins) {
            int32x4_t msum;
            if constexpr (F == Format::q2_K) {
              msum = vmlaq_n_s32(vmulq_n_s32(ma, load_i16(act + kHalvesAt + 4 * c)), mb,
                                 load_i16(act + kHalvesAt + 4 * c + 2));
            } else {  // q4_K, q5_K: (sc, m), one min over the block's Σq
              msum = vmulq_n_s32(sb2, load_i32(act + kSumAt + 4 * c));
            }
            a = vfmaq_f32(a, vcvtq_f32_s32(msum), vmulq_n_f32(neg_dmin, dx));
          }
        }
      }
    }
  }
  for (int c = 0; c < C; ++c) out[c] = acc[c];
}

template <bool kDot, Format F, int C>
void run_kquant(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
                std::size_t tile_end) {
  for_each_panel_and_tile<C>(a, row_begin, row_end, tile_begin, tile_end,
                             [&](std::size_t panel, const std::byte* act, Rows8 (&out)[C]) {
                               kquant_panel_tile<kDot, F, C>(*a.packed, panel, act, a.act.record_bytes, out);
                             });
}

using KQuantRunFn = void (*)(const GemmArgs&, std::size_t, std::size_t, std::size_t, std::size_t);

template <bool kDot, Format F>
KQuantRunFn pick_kquant_tile(bool gemv) {
  return gemv ? &run_kquant<kDot, F, 1> : &run_kquant<kDot, F, kIntTileRows>;
}

// The kernel for this layer, or null where the scalar one serves: no packed copy, or a tile height
// other than the two this level makes.
template <bool kDot>
KQuantRunFn pick_kquant(const GemmArgs& a) {
  if (a.packed == nullptr) return nullptr;
  const bool gemv = a.act.tile_rows == 1, tiled = a.act.tile_rows == kIntTileRows;
  if (!gemv && !tiled) return nullptr;
  switch (a.weight->format) {
    case Format::q2_K: return pick_kquant_tile<kDot, Format::q2_K>(gemv);
    case Format::q3_K: return pick_kquant_tile<kDot, Format::q3_K>(gemv);
    case Format::q4_K: return pick_kquant_tile<kDot, Format::q4_K>(gemv);
    case Format::q5_K: return pick_kquant_tile<kDot, Format::q5_K>(gemv);
    case Format::q6_K: return pick_kquant_tile<kDot, Format::q6_K>(gemv);
    case Format::iq4_nl: return pick_kquant_tile<kDot, Format::iq4_nl>(gemv);
    case Format::iq4_xs: return pick_kquant_tile<kDot, Format::iq4_xs>(gemv);
    default: return nullptr;
  }
}

}  // namespace
}  // namespace qlinear::kernels::neon
