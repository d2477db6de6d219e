// AVX-512 GEMM/GEMV of the K-quants and i-quants on the packed super records of packed.hpp (the
// AVX2 level's layout), with the registers of avx512_panels.hpp: Ymm (one panel) for the GEMV,
// Zmm (two panels) for the GEMM.
//
// `vpdpbusd` sums the unsigned codes' products with the activation bytes straight into int32, so
// the 16-bit bounds that shape the AVX2 kernel are gone: per block of 32 and activation row, the
// codes of inputs 0..15 (the low nibbles, q2_K's first vector) and of 16..31 go into two sums,
// which meet their sub-block scales with one vpmulld each (one for both where the scale covers the
// block), exact in int32 (at most 32·63·127·127 for q6_K). Offsets (q3_K 4, q6_K 32) and mins come
// from one vpmaddwd of the (sc₀, sc₁) or (m₀, m₁) pairs against the activation's half-block sums, as
// at the AVX2 level. The iq4 grid is signed, so its codes are looked up as g + 128 and 128·Σq comes
// off the block's sum. The float work is the AVX2 kernel's: isum·(d·d_x) and msum·(−dmin·d_x).
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c; nothing here may
// call an inline function of a shared header.

#include "formats/blocks.hpp"
#include "kernels/x86/avx2.hpp"
#include "kernels/x86/avx512.hpp"
#include "kernels/x86/avx512_panels.hpp"

#include <immintrin.h>

#include <cstdint>

namespace qlinear::kernels::avx512 {
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

// One block of 32, the register's rows × C activation rows: isum[c] lane r = Σ sc·(q − offset)·q_x
// over the block, msum[c] lane r = Σ m·q_x (formats with mins). `x` is the activation record, `s`
// the (S₀, S₁) half-block sums and `total` the block's Σq_x, broadcast.
template <Format F, class V, int C>
inline void block_sums(const std::byte* rec0, const std::byte* rec1, const std::byte* x,
                       const typename V::I (&s)[C], const typename V::I (&total)[C], typename V::I (&isum)[C],
                       typename V::I (&msum)[C]) {
  using I = typename V::I;
  using T = Traits<F>;
  constexpr KQuantLayout L = T::layout;
  constexpr int KH = V::kChains / 2;  // chains per half: the GEMM has 4 activation rows to interleave
  const std::byte* codes0 = rec0 + 16 * L.pairs + L.high;
  const std::byte* codes1 = rec1 + 16 * L.pairs + L.high;
  const I pairs = L.pairs > 0 ? V::pairs(rec0, rec1) : V::zero();
  const I low4 = V::bytes(0x0f);
  I grid = V::zero();
  if constexpr (T::grid) grid = V::lxor(V::lanes16(formats::kIq4nlValues), V::bytes(static_cast<char>(0x80)));
  I acc[C][2][KH];
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    #pragma GCC unroll 2
    for (int k = 0; k < KH; ++k) acc[c][0][k] = acc[c][1][k] = V::zero();
  }
  #pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    I lo, hi;
    if constexpr (F == Format::q2_K) {  // bits 2j, 2j + 1 of the two vectors
      const I low2 = V::bytes(0x03);
      lo = V::land(V::shr16(V::load(codes0, codes1), 2 * j), low2);
      hi = V::land(V::shr16(V::load(codes0 + 32, codes1 + 32), 2 * j), low2);
    } else {
      const I v = V::load(codes0 + 32 * j, codes1 + 32 * j);
      lo = V::land(v, low4);
      hi = V::land(V::shift4(v), low4);
    }
    if constexpr (F == Format::q5_K) {  // bit j (low nibble's) and 4 + j (high's) to bit 4
      const I plane = V::load(rec0 + 16 * L.pairs, rec1 + 16 * L.pairs), bit4 = V::bytes(0x10);
      lo = V::lor(lo, V::land(V::shl16(plane, 4 - j), bit4));
      hi = V::lor(hi, V::land(j == 0 ? plane : V::shr16(plane, j), bit4));
    }
    if constexpr (F == Format::q6_K) {  // bits 4 and 5 from the vector of steps 2h, 2h + 1 (packed.hpp)
      const int h = j / 2, k = j % 2;
      const I hb = V::load(rec0 + 16 * L.pairs + 32 * h, rec1 + 16 * L.pairs + 32 * h), top2 = V::bytes(0x30);
      lo = V::lor(lo, V::land(k == 0 ? V::shl16(hb, 4) : hb, top2));
      hi = V::lor(hi, V::land(k == 0 ? V::shl16(hb, 2) : V::shr16(hb, 2), top2));
    }
    if constexpr (T::grid) {
      lo = V::lookup(grid, lo);
      hi = V::lookup(grid, hi);
    }
    #pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      I& a = acc[c][0][j % KH];
      a = V::dot(a, lo, V::splat(x + 32 * c + 4 * j));
      chain(a);
      I& b = acc[c][1][j % KH];
      b = V::dot(b, hi, V::splat(x + 32 * c + 16 + 4 * j));
      chain(b);
    }
  }
  const I sc0 = V::low16(pairs), sc1 = V::high16(pairs);
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    I a0 = acc[c][0][0], a1 = acc[c][1][0];
    #pragma GCC unroll 2
    for (int k = 1; k < KH; ++k) a0 = V::add(a0, acc[c][0][k]), a1 = V::add(a1, acc[c][1][k]);
    if constexpr (T::grid) {
      const I t = V::sub(V::add(a0, a1), V::template shl<7>(total[c]));  // the codes were g + 128
      isum[c] = L.pairs > 0 ? V::mul(t, sc0) : t;
    } else if constexpr (T::halves) {
      isum[c] = V::add(V::mul(a0, sc0), V::mul(a1, sc1));
    } else {  // q4_K, q5_K: (sc, m)
      isum[c] = V::mul(V::add(a0, a1), sc0);
    }
    if constexpr (T::offset_shift >= 0) isum[c] = V::sub(isum[c], V::madd16(V::shl16(pairs, T::offset_shift), s[c]));
    if constexpr (F == Format::q2_K) msum[c] = V::madd16(V::pairs(rec0 + 16, rec1 + 16), s[c]);
    if constexpr (F == Format::q4_K || F == Format::q5_K) msum[c] = V::madd16(second_of_pairs<V>(pairs), s[c]);
  }
}

// Panels p0 and p1 (p0 alone for Ymm) against one tile of C activation rows: out[c] lane r = the
// register's row r · activation row c.
template <Format F, class V, int C>
inline void panel_tile(const PackedView& w, std::size_t p0, std::size_t p1, const std::byte* act,
                       std::size_t act_record, typename V::F (&out)[C]) {
  using I = typename V::I;
  using FV = typename V::F;
  using T = Traits<F>;
  constexpr KQuantLayout L = T::layout;
  constexpr std::size_t kScaleAt = act_scale_offset(C), kSumAt = act_sum_offset(C), kHalvesAt = act_half_sums_offset(C);
  const std::byte* super0 = w.data + p0 * w.panel_bytes;
  const std::byte* super1 = w.data + p1 * w.panel_bytes;
  FV acc[C];
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) acc[c] = V::fzero();
  const std::size_t supers = w.blocks / L.blocks_per_super;
  for (std::size_t sb = 0; sb < supers; ++sb, super0 += L.super, super1 += L.super) {
    const FV d = V::floats(super0, super1);
    const FV neg_dmin = T::mins ? V::floats(super0 + 32, super1 + 32) : d;
    const std::byte* rec0 = super0 + L.head;
    const std::byte* rec1 = super1 + L.head;
    for (std::size_t b = 0; b < L.blocks_per_super; ++b, rec0 += L.block, rec1 += L.block, act += act_record) {
      I s[C], total[C], isum[C], msum[C];
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        s[c] = V::splat(act + kHalvesAt + 4 * c);
        total[c] = V::splat(act + kSumAt + 4 * c);
      }
      block_sums<F, V, C>(rec0, rec1, act, s, total, isum, msum);
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const FV dx = V::fsplat(act + kScaleAt + 4 * c);
        acc[c] = V::fma(V::to_float(isum[c]), V::fmul(d, dx), acc[c]);
        if constexpr (T::mins) acc[c] = V::fma(V::to_float(msum[c]), V::fmul(neg_dmin, dx), acc[c]);
      }
    }
  }
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) out[c] = acc[c];
}

template <Format F, class V, int C>
void run(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
         std::size_t tile_end) {
  for_each_panel_and_tile<V, C>(a, row_begin, row_end, tile_begin, tile_end,
                                [&](std::size_t p0, std::size_t p1, const std::byte* act, typename V::F (&out)[C]) {
                                  panel_tile<F, V, C>(*a.packed, p0, p1, act, a.act.record_bytes, out);
                                });
}

using RunFn = void (*)(const GemmArgs&, std::size_t, std::size_t, std::size_t, std::size_t);

template <Format F>
RunFn pick_tile(std::size_t tile_rows) {
  if (tile_rows == 1) return &run<F, Ymm, 1>;
  return tile_rows == kIntTileRows ? &run<F, Zmm, kIntTileRows> : nullptr;
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
    avx2::gemm_kquant(a, row_begin, row_end, tile_begin, tile_end);
    return;
  }
  fn(a, row_begin, row_end, tile_begin, tile_end);
}

}  // namespace qlinear::kernels::avx512
