// The integer GEMM/GEMV loops of the two `vpdpbusd` levels, avx512 and avxvnni, for the K-quants
// and i-quants: the body of avx512_gemm_kquant.cpp and avxvnni_gemm_kquant.cpp (and, through the latter,
// avxvnni_evex_gemm_kquant.cpp), which each include it once, after defining QLINEAR_VNNI_NS (their
// namespace) and including their panels header (avx512_panels.hpp or avxvnni_panels.hpp). That
// header supplies the register plans Gemv and Gemm the loops are written against; each includer is
// compiled with its own level's flags, and everything here has internal linkage or lives in the
// includer's namespace, so no copy compiled with one level's flags can serve another's.
// No include guard: included once per kernel file.

#include <immintrin.h>

#include <cstdint>

namespace qlinear::kernels::QLINEAR_VNNI_NS {
namespace {

template <Format F>
struct Traits {
  static constexpr KQuantLayout layout = kquant_layout(F);
  static constexpr bool mins = layout.head == 64;
  static constexpr bool grid = F == Format::iq4_xs || F == Format::iq4_nl;
  static constexpr bool halves = F == Format::q2_K || F == Format::q3_K || F == Format::q6_K;  // sub-blocks of 16
  static constexpr int offset_shift = F == Format::q6_K ? 5 : F == Format::q3_K ? 2 : -1;  // offset 32 or 4
};

// (a, b) int16 pairs → (b, b): the min of q4_K and q5_K against both half-block sums.
template <class V>
inline typename V::I second_of_pairs(typename V::I p) {
  alignas(16) static constexpr std::int8_t kSecond[16] = {2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15};
  return V::lookup(p, V::lanes16(kSecond));
}

// The codes of step j of one register (its panels' records at r0 and r1, the same one where a register
// holds one panel; `codes` and `high`:
// where they start in a record) as unsigned bytes: lo for inputs 4j..4j+3, hi for 16+4j..16+4j+3.
template <Format F, class V>
inline void step_codes(const std::byte* r0, const std::byte* r1, int j, typename V::I grid, typename V::I& lo,
                       typename V::I& hi) {
  using I = typename V::I;
  constexpr KQuantLayout L = Traits<F>::layout;
  constexpr std::size_t kHigh = 16 * L.pairs, kCodes = 16 * L.pairs + L.high;
  const I low4 = V::bytes(0x0f);
  if constexpr (F == Format::q2_K) {  // bits 2j, 2j + 1 of the two vectors
    const I low2 = V::bytes(0x03);
    lo = V::land(V::shr16(V::load(r0 + kCodes, r1 + kCodes), 2 * j), low2);
    hi = V::land(V::shr16(V::load(r0 + kCodes + 32, r1 + kCodes + 32), 2 * j), low2);
  } else {
    const I v = V::load(r0 + kCodes + 32 * j, r1 + kCodes + 32 * j);
    lo = V::land(v, low4);
    hi = V::land(V::shift4(v), low4);
  }
  if constexpr (F == Format::q5_K) {  // bit j (low nibble's) and 4 + j (high's) to bit 4
    const I plane = V::load(r0 + kHigh, r1 + kHigh), bit4 = V::bytes(0x10);
    lo = V::lor(lo, V::land(V::shl16(plane, 4 - j), bit4));
    hi = V::lor(hi, V::land(j == 0 ? plane : V::shr16(plane, j), bit4));
  }
  if constexpr (F == Format::q6_K) {  // bits 4 and 5 from the vector of steps 2h, 2h + 1 (packed.hpp)
    const int h = j / 2, k = j % 2;
    const I hb = V::load(r0 + kHigh + 32 * h, r1 + kHigh + 32 * h), top2 = V::bytes(0x30);
    lo = V::lor(lo, V::land(k == 0 ? V::shl16(hb, 4) : hb, top2));
    hi = V::lor(hi, V::land(k == 0 ? V::shl16(hb, 2) : V::shr16(hb, 2), top2));
  }
  if constexpr (Traits<F>::grid) {
    lo = V::lookup(grid, lo);
    hi = V::lookup(grid, hi);
  }
}

// One block of 32, kGroups registers of rows × C activation rows: isum[c][g] lane r =
// Σ sc·(q − offset)·q_x over the block, msum[c][g] lane r = Σ m·q_x (formats with mins). `x` is the
// activation record, `s` the (S₀, S₁) half-block sums and `total` the block's Σq_x, broadcast.
template <Format F, class V, int C>
inline void block_sums(const Records<V>& rec, const std::byte* x, const typename V::I (&s)[C],
                       const typename V::I (&total)[C], typename V::I (&isum)[C][V::kGroups],
                       typename V::I (&msum)[C][V::kGroups]) {
  using I = typename V::I;
  using T = Traits<F>;
  constexpr KQuantLayout L = T::layout;
  constexpr int G = V::kGroups;
  constexpr int KH = V::kChains < 2 ? 1 : V::kChains / 2;  // chains per half
  I grid = V::zero();
  if constexpr (T::grid) grid = V::lxor(V::lanes16(formats::kIq4nlValues), V::bytes(static_cast<char>(0x80)));
  I acc[C][G][2][KH];
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    #pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      #pragma GCC unroll 2
      for (int k = 0; k < KH; ++k) acc[c][g][0][k] = acc[c][g][1][k] = V::zero();
    }
  }
  #pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    I lo[G], hi[G];
    #pragma GCC unroll 4
    for (int g = 0; g < G; ++g) step_codes<F, V>(rec.first(g), rec.last(g), j, grid, lo[g], hi[g]);
    #pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const I qlo = V::splat(x + 32 * c + 4 * j), qhi = V::splat(x + 32 * c + 16 + 4 * j);
      #pragma GCC unroll 4
      for (int g = 0; g < G; ++g) {
        I& a = acc[c][g][0][j % KH];
        a = V::dot(a, lo[g], qlo);
        chain(a);
        // hi in a chain of its own where the registers allow it (one panel per register, or halves);
        // otherwise the GEMM's hi codes share lo's chain (one scale for the block, sparing 8
        // registers). Separate sums of lo and hi meet again below, before their scale.
        I& b = acc[c][g][T::halves || G == 1 ? 1 : 0][j % KH];
        b = V::dot(b, hi[g], qhi);
        chain(b);
      }
    }
  }
  #pragma GCC unroll 4
  for (int g = 0; g < G; ++g) {
    const I pairs = L.pairs > 0 ? V::pairs(rec.first(g), rec.last(g)) : V::zero();
    const I sc0 = V::low16(pairs), sc1 = V::high16(pairs);
    #pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      I a0 = acc[c][g][0][0], a1 = acc[c][g][1][0];
      #pragma GCC unroll 2
      for (int k = 1; k < KH; ++k) a0 = V::add(a0, acc[c][g][0][k]), a1 = V::add(a1, acc[c][g][1][k]);
      I t;
      if constexpr (T::grid) {
        t = V::sub(V::add(a0, a1), V::template shl<7>(total[c]));  // the codes were g + 128
        if constexpr (L.pairs > 0) t = V::mul(t, sc0);
      } else if constexpr (T::halves) {
        t = V::add(V::mul(a0, sc0), V::mul(a1, sc1));
      } else {  // q4_K, q5_K: (sc, m)
        t = V::mul(V::add(a0, a1), sc0);
      }
      if constexpr (T::offset_shift >= 0) t = V::sub(t, V::madd16(V::shl16(pairs, T::offset_shift), s[c]));
      isum[c][g] = t;
      if constexpr (F == Format::q2_K) msum[c][g] = V::madd16(V::pairs(rec.first(g) + 16, rec.last(g) + 16), s[c]);
      if constexpr (F == Format::q4_K || F == Format::q5_K) msum[c][g] = V::madd16(second_of_pairs<V>(pairs), s[c]);
    }
  }
}

// One group of panels against one tile of C activation rows: out[c][g] lane r = register g's row
// r · activation row c.
template <Format F, class V, int C>
inline void panel_tile(const PackedView& w, const std::size_t (&panels)[Records<V>::kCount], const std::byte* act,
                       std::size_t act_record, typename V::F (&out)[C][V::kGroups]) {
  using I = typename V::I;
  using FV = typename V::F;
  using T = Traits<F>;
  constexpr KQuantLayout L = T::layout;
  constexpr int G = V::kGroups;
  constexpr std::size_t kScaleAt = act_scale_offset(C), kSumAt = act_sum_offset(C), kHalvesAt = act_half_sums_offset(C);
  Records<V> super(w, panels);
  FV acc[C][G];
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    #pragma GCC unroll 4
    for (int g = 0; g < G; ++g) acc[c][g] = V::fzero();
  }
  const std::size_t supers = w.blocks / L.blocks_per_super;
  for (std::size_t sb = 0; sb < supers; ++sb, super.advance(L.super)) {
    FV d[G], neg_dmin[G];
    #pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      d[g] = V::floats(super.first(g), super.last(g));
      neg_dmin[g] = T::mins ? V::floats(super.first(g) + 32, super.last(g) + 32) : d[g];
    }
    Records<V> rec = super;
    rec.advance(L.head);
    for (std::size_t b = 0; b < L.blocks_per_super; ++b, rec.advance(L.block), act += act_record) {
      I s[C], total[C], isum[C][G], msum[C][G];
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        s[c] = V::splat(act + kHalvesAt + 4 * c);
        total[c] = V::splat(act + kSumAt + 4 * c);
      }
      block_sums<F, V, C>(rec, act, s, total, isum, msum);
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const FV dx = V::fsplat(act + kScaleAt + 4 * c);
        #pragma GCC unroll 4
        for (int g = 0; g < G; ++g) {
          acc[c][g] = V::fma(V::to_float(isum[c][g]), V::fmul(d[g], dx), acc[c][g]);
          if constexpr (T::mins) acc[c][g] = V::fma(V::to_float(msum[c][g]), V::fmul(neg_dmin[g], dx), acc[c][g]);
        }
      }
    }
  }
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    #pragma GCC unroll 4
    for (int g = 0; g < G; ++g) out[c][g] = acc[c][g];
  }
}

template <Format F, class V, int C>
void run(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
         std::size_t tile_end) {
  for_each_panel_and_tile<V, C>(
      a, row_begin, row_end, tile_begin, tile_end,
      [&](const std::size_t (&panels)[Records<V>::kCount], const std::byte* act, typename V::F (&out)[C][V::kGroups]) {
        panel_tile<F, V, C>(*a.packed, panels, act, a.act.record_bytes, out);
      });
}

using RunFn = void (*)(const GemmArgs&, std::size_t, std::size_t, std::size_t, std::size_t);

template <Format F>
RunFn pick_tile(std::size_t tile_rows) {
  if (tile_rows == 1) return &run<F, Gemv, 1>;
  return tile_rows == kIntTileRows ? &run<F, Gemm, kIntTileRows> : nullptr;
}

RunFn pick(Format format, std::size_t tile_rows) {
  switch (format) {
    case Format::q2_K: return pick_tile<Format::q2_K>(tile_rows);
    case Format::q3_K: return pick_tile<Format::q3_K>(tile_rows);
    case Format::q4_K: return pick_tile<Format::q4_K>(tile_rows);
    case Format::q5_K: return pick_tile<Format::q5_K>(tile_rows);
    case Format::q6_K: return pick_tile<Format::q6_K>(tile_rows);
    case Format::iq4_nl: return pick_tile<Format::iq4_nl>(tile_rows);
    case Format::iq4_xs: return pick_tile<Format::iq4_xs>(tile_rows);
    default: return nullptr;
  }
}

}  // namespace

void gemm_kquant(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
                 std::size_t tile_end) {
  const RunFn fn = a.packed ? pick(a.weight->format, a.act.tile_rows) : nullptr;
  if (fn == nullptr) {  // no packed copy: the AVX2 kernel (which falls back to the scalar one)
    scalar::note_packed_fallback(a);
    avx2::gemm_kquant(a, row_begin, row_end, tile_begin, tile_end);
    return;
  }
  fn(a, row_begin, row_end, tile_begin, tile_end);
}

}  // namespace qlinear::kernels::QLINEAR_VNNI_NS
