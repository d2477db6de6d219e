// The integer GEMM/GEMV loops of the two `vpdpbusd` levels, avx512 and avxvnni, for the legacy and
// affine formats: the body of avx512_gemm_int.cpp and avxvnni_gemm_int.cpp (and, through the latter,
// avxvnni_evex_gemm_int.cpp), which each include it once, after defining QLINEAR_VNNI_NS (their
// namespace) and including their panels header (avx512_panels.hpp or avxvnni_panels.hpp). That
// header supplies the register plans Gemv and Gemm the loops are written against; each includer is
// compiled with its own level's flags, and everything here has internal linkage or lives in the
// includer's namespace, so no copy compiled with one level's flags can serve another's.
// No include guard: included once per kernel file.

#include <immintrin.h>

#include <cstdint>

namespace qlinear::kernels::QLINEAR_VNNI_NS {
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

// The integer dots of one block, kGroups registers of rows × C activation rows: sum[c][g] lane r =
// Σ code·q over the block, before the offset. Each activation broadcast serves every register.
template <class P, class V, int C>
inline void block_dots(const Records<V>& rec, const std::byte* x, typename V::I (&sum)[C][V::kGroups]) {
  using I = typename V::I;
  constexpr int G = V::kGroups, K = V::kChains;
  constexpr std::size_t kCodes = P::layout.codes;
  I acc[C][G][K];
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    #pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      #pragma GCC unroll 4
      for (int k = 0; k < K; ++k) acc[c][g][k] = V::zero();
    }
  }
  // acc[c][g][chain] += codes[g] · the 4 activation bytes at x + 32c + at.
  auto dot_all = [&](const I (&codes)[G], std::size_t at, int chain_index) {
    #pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const I q = V::splat(x + 32 * c + at);
      #pragma GCC unroll 4
      for (int g = 0; g < G; ++g) {
        I& a = acc[c][g][chain_index % K];
        a = V::dot(a, codes[g], q);
        chain(a);
      }
    }
  };
  if constexpr (P::bits == CodeBits::eight) {
    #pragma GCC unroll 8
    for (int s = 0; s < 8; ++s) {
      I u[G];
      #pragma GCC unroll 4
      for (int g = 0; g < G; ++g) u[g] = V::load(rec.first(g) + kCodes + 32 * s, rec.last(g) + kCodes + 32 * s);
      dot_all(u, 4 * s, s);
    }
  } else {
    const I low4 = V::bytes(0x0f);
    #pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      I lo[G], hi[G];
      #pragma GCC unroll 4
      for (int g = 0; g < G; ++g) {
        const I v = V::load(rec.first(g) + kCodes + 32 * j, rec.last(g) + kCodes + 32 * j);
        lo[g] = V::land(v, low4);
        hi[g] = V::land(V::shift4(v), low4);
        if constexpr (P::bits == CodeBits::five) {
          const std::byte* high0 = rec.first(g) + P::layout.high;
          const std::byte* high1 = rec.last(g) + P::layout.high;
          lo[g] = V::fifth(lo[g], high0 + 4 * j, high1 + 4 * j);
          hi[g] = V::fifth(hi[g], high0 + 16 + 4 * j, high1 + 16 + 4 * j);
        }
      }
      dot_all(lo, 4 * j, 2 * j);
      dot_all(hi, 16 + 4 * j, 2 * j + 1);
    }
  }
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    #pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      I t = acc[c][g][0];
      #pragma GCC unroll 4
      for (int k = 1; k < K; ++k) t = V::add(t, acc[c][g][k]);
      sum[c][g] = t;
    }
  }
}

// One group of panels against one tile of C activation rows: out[c][g] lane r = the product of
// register g's row r with activation row c, bias not added.
template <class P, class V, int C>
inline void panel_tile(const PackedView& w, const std::size_t (&panels)[Records<V>::kCount], const std::byte* act,
                       std::size_t act_record, typename V::F (&out)[C][V::kGroups]) {
  using I = typename V::I;
  using F = typename V::F;
  constexpr int G = V::kGroups;
  constexpr RecordLayout L = P::layout;
  Records<V> rec(w, panels);
  F acc[C][G];
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    #pragma GCC unroll 4
    for (int g = 0; g < G; ++g) acc[c][g] = V::fzero();
  }
  I row_offset[G];
  #pragma GCC unroll 4
  for (int g = 0; g < G; ++g) {
    row_offset[g] = V::zero();
    if constexpr (P::offset == OffsetKind::per_row) {
      row_offset[g] = V::load(w.row_offsets + panels[g * V::kPanels] * 8,
                              w.row_offsets + panels[g * V::kPanels + V::kPanels - 1] * 8);
    }
  }
  for (std::size_t b = 0; b < w.blocks; ++b, rec.advance(L.bytes), act += act_record) {
    I sum[C][G];
    block_dots<P, V, C>(rec, act, sum);
    const std::byte* act_scale = act + C * 32;
    const std::byte* act_sum = act + C * 36;
    F wscale[G];
    I offset[G];
    #pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      wscale[g] = V::fzero();
      if constexpr (P::scale == ScaleKind::f16_per_block) wscale[g] = V::halves(rec.first(g), rec.last(g));
      if constexpr (P::scale == ScaleKind::f32_per_block) wscale[g] = V::floats(rec.first(g), rec.last(g));
      offset[g] = row_offset[g];
      if constexpr (P::offset == OffsetKind::per_block) {
        offset[g] = V::load(rec.first(g) + L.offsets, rec.last(g) + L.offsets);
      }
    }
    #pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const I total = V::splat(act_sum + 4 * c);
      const F dx = V::fsplat(act_scale + 4 * c);
      #pragma GCC unroll 4
      for (int g = 0; g < G; ++g) {
        I t = sum[c][g];
        if constexpr (P::offset == OffsetKind::constant) {
          static_assert(P::constant == 8 || P::constant == 16 || P::constant == 128);
          constexpr int kShift = P::constant == 8 ? 3 : P::constant == 16 ? 4 : 7;
          t = V::sub(t, V::template shl<kShift>(total));
        } else if constexpr (P::offset != OffsetKind::none) {
          t = V::sub(t, V::mul(offset[g], total));
        }
        const F scale = P::scale == ScaleKind::f32_per_row ? dx : V::fmul(wscale[g], dx);
        acc[c][g] = V::fma(V::to_float(t), scale, acc[c][g]);
      }
    }
    if constexpr (P::mins) {
      #pragma GCC unroll 4
      for (int g = 0; g < G; ++g) {
        const F m = V::halves(rec.first(g) + L.mins, rec.last(g) + L.mins);
        #pragma GCC unroll 16
        for (int c = 0; c < C; ++c) acc[c][g] = V::fma(m, V::fsplat(act + C * 40 + 4 * c), acc[c][g]);
      }
    }
  }
  #pragma GCC unroll 4
  for (int g = 0; g < G; ++g) {
    F s = V::fzero();
    if constexpr (P::scale == ScaleKind::f32_per_row) {
      s = V::floats(w.row_scales + panels[g * V::kPanels] * 8, w.row_scales + panels[g * V::kPanels + V::kPanels - 1] * 8);
    }
    #pragma GCC unroll 16
    for (int c = 0; c < C; ++c) out[c][g] = P::scale == ScaleKind::f32_per_row ? V::fmul(acc[c][g], s) : acc[c][g];
  }
}

template <class P, class V, int C>
void run(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
         std::size_t tile_end) {
  for_each_panel_and_tile<V, C>(
      a, row_begin, row_end, tile_begin, tile_end,
      [&](const std::size_t (&panels)[Records<V>::kCount], const std::byte* act, typename V::F (&out)[C][V::kGroups]) {
        panel_tile<P, V, C>(*a.packed, panels, act, a.act.record_bytes, out);
      });
}

using RunFn = void (*)(const GemmArgs&, std::size_t, std::size_t, std::size_t, std::size_t);

template <class P>
RunFn pick_tile(std::size_t tile_rows) {
  if (tile_rows == 1) return &run<P, Gemv, 1>;
  return tile_rows == kIntTileRows ? &run<P, Gemm, kIntTileRows> : nullptr;
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
    scalar::note_packed_fallback(a);
    avx2::gemm_quantized(a, row_begin, row_end, tile_begin, tile_end);
    return;
  }
  fn(a, row_begin, row_end, tile_begin, tile_end);
}

}  // namespace qlinear::kernels::QLINEAR_VNNI_NS
