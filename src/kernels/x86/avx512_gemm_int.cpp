// AVX-512 integer GEMM/GEMV on the packed panels of packed.hpp, the AVX2 level's layout: each
// 32-bit lane holds one weight row, and one `vpdpbusd` (unsigned codes × 4 broadcast activation
// bytes, summed into the lane's int32) does what the AVX2 kernels need `vpmaddubsw` + `vpmaddwd`
// for, with no 16-bit step to bound: the codes go in as stored (u = q + 128 for the signed 8-bit
// ones) and the block's offset comes off once as o·Σq.
//
// The GEMM (tiles of 4 activation rows) puts two neighbouring panels in one zmm register, lanes
// 0–7 the first and 8–15 the second, so a block of 16 rows × 32 inputs is 8 `vpdpbusd` per
// activation row. The GEMV keeps one panel per ymm register (avx512_panels.hpp).
// Each activation row's sums run in two (GEMM) or four (GEMV) chains so that the instruction's
// latency stays hidden.
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c; nothing here may
// call an inline function of a shared header.

#include "kernels/x86/avx2.hpp"
#include "kernels/x86/avx512.hpp"
#include "kernels/x86/avx512_panels.hpp"

#include <immintrin.h>

#include <cstdint>

namespace qlinear::kernels::avx512 {
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

// The integer dots of one block, the register's rows × C activation rows: sum[c] lane r =
// Σ code·q over the block, before the offset. rec0/rec1: the two panels' records (the same for Ymm).
template <class P, class V, int C>
inline void block_dots(const std::byte* rec0, const std::byte* rec1, const std::byte* x,
                       typename V::I (&sum)[C]) {
  using I = typename V::I;
  constexpr int K = V::kChains;
  const std::byte* codes0 = rec0 + P::layout.codes;
  const std::byte* codes1 = rec1 + P::layout.codes;
  I acc[C][K];
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    #pragma GCC unroll 4
    for (int k = 0; k < K; ++k) acc[c][k] = V::zero();
  }
  if constexpr (P::bits == CodeBits::eight) {
    #pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {
      const I u = V::load(codes0 + 32 * s, codes1 + 32 * s);
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        acc[c][s % K] = V::dot(acc[c][s % K], u, V::splat(x + 32 * c + 4 * s));
        chain(acc[c][s % K]);
      }
    }
  } else {
    const I low4 = V::bytes(0x0f);
    #pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const I v = V::load(codes0 + 32 * j, codes1 + 32 * j);
      I lo = V::land(v, low4);
      I hi = V::land(V::shift4(v), low4);
      if constexpr (P::bits == CodeBits::five) {
        const std::byte* high0 = rec0 + P::layout.high;
        const std::byte* high1 = rec1 + P::layout.high;
        lo = V::fifth(lo, high0 + 4 * j, high1 + 4 * j);
        hi = V::fifth(hi, high0 + 16 + 4 * j, high1 + 16 + 4 * j);
      }
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        constexpr int kLo = 0;
        auto& a = acc[c][(2 * j + kLo) % K];
        a = V::dot(a, lo, V::splat(x + 32 * c + 4 * j));
        chain(a);
        auto& b = acc[c][(2 * j + 1) % K];
        b = V::dot(b, hi, V::splat(x + 32 * c + 16 + 4 * j));
        chain(b);
      }
    }
  }
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    I s = acc[c][0];
    #pragma GCC unroll 4
    for (int k = 1; k < K; ++k) s = V::add(s, acc[c][k]);
    sum[c] = s;
  }
}

// Panels p0 and p1 (p0 alone for Ymm) against one tile of C activation rows: out[c] lane r = the
// product of the register's row r with activation row c, bias not added.
template <class P, class V, int C>
inline void panel_tile(const PackedView& w, std::size_t p0, std::size_t p1, const std::byte* act,
                       std::size_t act_record, typename V::F (&out)[C]) {
  using I = typename V::I;
  using F = typename V::F;
  constexpr RecordLayout L = P::layout;
  const std::byte* rec0 = w.data + p0 * w.panel_bytes;
  const std::byte* rec1 = w.data + p1 * w.panel_bytes;
  F acc[C];
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) acc[c] = V::fzero();
  I row_offset = V::zero();
  if constexpr (P::offset == OffsetKind::per_row) row_offset = V::load(w.row_offsets + p0 * 8, w.row_offsets + p1 * 8);
  for (std::size_t b = 0; b < w.blocks; ++b, rec0 += L.bytes, rec1 += L.bytes, act += act_record) {
    I sum[C];
    block_dots<P, V, C>(rec0, rec1, act, sum);
    const std::byte* act_scale = act + C * 32;
    const std::byte* act_sum = act + C * 36;
    F wscale = V::fzero();
    if constexpr (P::scale == ScaleKind::f16_per_block) wscale = V::halves(rec0, rec1);
    if constexpr (P::scale == ScaleKind::f32_per_block) wscale = V::floats(rec0, rec1);
    I offset = row_offset;
    if constexpr (P::offset == OffsetKind::per_block) offset = V::load(rec0 + L.offsets, rec1 + L.offsets);
    #pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      if constexpr (P::offset == OffsetKind::constant) {
        static_assert(P::constant == 8 || P::constant == 16 || P::constant == 128);
        constexpr int kShift = P::constant == 8 ? 3 : P::constant == 16 ? 4 : 7;
        sum[c] = V::sub(sum[c], V::template shl<kShift>(V::splat(act_sum + 4 * c)));
      } else if constexpr (P::offset != OffsetKind::none) {
        sum[c] = V::sub(sum[c], V::mul(offset, V::splat(act_sum + 4 * c)));
      }
      const F dx = V::fsplat(act_scale + 4 * c);
      const F scale = P::scale == ScaleKind::f32_per_row ? dx : V::fmul(wscale, dx);
      acc[c] = V::fma(V::to_float(sum[c]), scale, acc[c]);
    }
    if constexpr (P::mins) {
      const F m = V::halves(rec0 + L.mins, rec1 + L.mins);
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) acc[c] = V::fma(m, V::fsplat(act + C * 40 + 4 * c), acc[c]);
    }
  }
  if constexpr (P::scale == ScaleKind::f32_per_row) {
    const F s = V::floats(w.row_scales + p0 * 8, w.row_scales + p1 * 8);
    #pragma GCC unroll 16
    for (int c = 0; c < C; ++c) acc[c] = V::fmul(acc[c], s);
  }
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) out[c] = acc[c];
}

template <class P, class V, int C>
void run(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
         std::size_t tile_end) {
  for_each_panel_and_tile<V, C>(a, row_begin, row_end, tile_begin, tile_end,
                                [&](std::size_t p0, std::size_t p1, const std::byte* act, typename V::F (&out)[C]) {
                                  panel_tile<P, V, C>(*a.packed, p0, p1, act, a.act.record_bytes, out);
                                });
}

using RunFn = void (*)(const GemmArgs&, std::size_t, std::size_t, std::size_t, std::size_t);

template <class P>
RunFn pick_tile(std::size_t tile_rows) {
  if (tile_rows == 1) return &run<P, Ymm, 1>;
  return tile_rows == kIntTileRows ? &run<P, Zmm, kIntTileRows> : nullptr;
}

template <CodeBits kBits, ScaleKind kScale>
RunFn pick_offset(const PackedView& w, std::size_t tile_rows) {
  constexpr int kConstant = kBits == CodeBits::eight ? 128 : 8;
  switch (w.offset) {
    case OffsetKind::none: return pick_tile<Packing<kBits, kScale, false, OffsetKind::none, 0>>(tile_rows);
    case OffsetKind::constant: return pick_tile<Packing<kBits, kScale, false, OffsetKind::constant, kConstant>>(tile_rows);
    case OffsetKind::per_block: return pick_tile<Packing<kBits, kScale, false, OffsetKind::per_block, 0>>(tile_rows);
    case OffsetKind::per_row: return pick_tile<Packing<kBits, kScale, false, OffsetKind::per_row, 0>>(tile_rows);
  }
  return nullptr;
}

// The ggml formats against q8 activations, as in avx2_gemm_int.cpp.
constexpr auto kF16 = ScaleKind::f16_per_block;
using q4_0_q8_0 = Packing<CodeBits::four, kF16, false, OffsetKind::constant, 8>;
using q4_1_q8_1 = Packing<CodeBits::four, kF16, true, OffsetKind::none, 0>;
using q5_0_q8_0 = Packing<CodeBits::five, kF16, false, OffsetKind::constant, 16>;
using q5_1_q8_1 = Packing<CodeBits::five, kF16, true, OffsetKind::none, 0>;
using q8_0_q8_0 = Packing<CodeBits::eight, kF16, false, OffsetKind::constant, 128>;  // q8_1 weights too

RunFn pick(Format format, const PackedView& w, std::size_t tile_rows) {
  switch (format) {
    case Format::q4_0: return pick_tile<q4_0_q8_0>(tile_rows);
    case Format::q4_1: return pick_tile<q4_1_q8_1>(tile_rows);
    case Format::q5_0: return pick_tile<q5_0_q8_0>(tile_rows);
    case Format::q5_1: return pick_tile<q5_1_q8_1>(tile_rows);
    case Format::q8_0:
    case Format::q8_1: return pick_tile<q8_0_q8_0>(tile_rows);
    case Format::i4:
      return w.scale == ScaleKind::f32_per_row ? pick_offset<CodeBits::four, ScaleKind::f32_per_row>(w, tile_rows)
                                               : pick_offset<CodeBits::four, ScaleKind::f32_per_block>(w, tile_rows);
    case Format::i8:
      return w.scale == ScaleKind::f32_per_row ? pick_offset<CodeBits::eight, ScaleKind::f32_per_row>(w, tile_rows)
                                               : pick_offset<CodeBits::eight, ScaleKind::f32_per_block>(w, tile_rows);
    default: return nullptr;
  }
}

}  // namespace

void gemm_quantized(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
                    std::size_t tile_end) {
  const RunFn fn = a.packed ? pick(a.weight->format, *a.packed, a.act.tile_rows) : nullptr;
  if (fn == nullptr) {  // no packed copy: the AVX2 kernel (which falls back to the scalar one)
    avx2::gemm_quantized(a, row_begin, row_end, tile_begin, tile_end);
    return;
  }
  fn(a, row_begin, row_end, tile_begin, tile_end);
}

}  // namespace qlinear::kernels::avx512
