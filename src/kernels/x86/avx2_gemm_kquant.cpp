// AVX2 GEMM/GEMV of the K-quants and i-quants on the packed super records of packed.hpp. As in
// avx2_gemm_int.cpp, each 32-bit lane holds one weight row of the 8-row panel and the activation
// bytes are broadcast, so one vpmaddubsw serves 8 rows.
//
// What stays integer (linear.hpp's forward()): the codes' products are added in 16 bits, then one
// vpmaddwd against the record's pairs (int8, sign-extended to int16) applies the sub-block scales
// (sc, sc) per row (for the 16-input sub-blocks of q2_K, q3_K and q6_K, sc₀ on the first half's
// sums and sc₁ on the second); offsets (q3_K 4, q6_K 32, taken off the unsigned codes) and mins
// come from one more vpmaddwd of (off·sc₀, off·sc₁) or (m₀, m₁) against the activation's half-block
// sums (S₀, S₁). The block's integer sums then meet d·d_x (and −dmin·d_x) in one float
// multiply-add each, as in the scalar kernel. 16-bit bounds, in pairs of products per lane: q4_K 8
// of 15·127 (30480), q5_K 4 of 31·127, q3_K and q2_K 4 of 7·127 per half, q6_K 2 of 63·127 per half
// (then a vpmaddwd); the iq4 grid (|g| <= 127) fills 16 bits with one pair, so each of its
// vpmaddubsw gets its own vpmaddwd (bench/README.md: what this costs against ggml).
// Compiled with -mavx2 -mfma -mf16c; nothing here may call an inline function of a shared header.

#include "formats/blocks.hpp"
#include "kernels/scalar_kernels.hpp"
#include "kernels/x86/avx2.hpp"
#include "kernels/x86/avx2_store.hpp"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace qlinear::kernels::avx2 {
namespace {

inline __m256i broadcast32(const std::byte* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

inline __m256 broadcast_float(const std::byte* p) {
  float v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_ps(v);
}

inline __m256i load256(const std::byte* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Keeps a running sum a chain (see avx2_gemm_int.cpp: GCC would otherwise build a tree and spill).
inline void chain(__m256i& v) { __asm__("" : "+x"(v)); }

// The record's 8 int8 pairs (a_r, b_r), sign-extended: lane r = (a_r, b_r) as int16.
inline __m256i load_pairs(const std::byte* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

// (a, b) int16 pairs → (a, a) and (b, b).
inline __m256i first_of_pairs(__m256i p) {
  return _mm256_shuffle_epi8(p, _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1, 0, 1, 4,
                                                 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13));
}
inline __m256i second_of_pairs(__m256i p) {
  return _mm256_shuffle_epi8(p, _mm256_setr_epi8(2, 3, 2, 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15, 2, 3, 2,
                                                 3, 6, 7, 6, 7, 10, 11, 10, 11, 14, 15, 14, 15));
}

template <Format F>
struct Traits {
  static constexpr KQuantLayout layout = kquant_layout(F);
  static constexpr bool mins = layout.head == 64;
  static constexpr bool grid = F == Format::iq4_xs || F == Format::iq4_nl;
  static constexpr bool halves = F == Format::q2_K || F == Format::q3_K || F == Format::q6_K;  // sub-blocks of 16
  static constexpr int offset_shift = F == Format::q6_K ? 5 : F == Format::q3_K ? 2 : -1;  // offset 32 or 4
  static constexpr bool needs_half_sums = mins || offset_shift >= 0;
};

// One block of 32, 8 rows × C activation rows: isum[c] lane r = Σ sc·(q − offset)·q_x over the block,
// msum[c] lane r = Σ m·q_x (formats with mins). `x` is the activation record, `s` the (S₀, S₁) pairs.
template <Format F, int C>
inline void block_sums(const std::byte* rec, const std::byte* x, const __m256i (&s)[C], __m256i (&isum)[C],
                       __m256i (&msum)[C]) {
  using T = Traits<F>;
  constexpr KQuantLayout L = T::layout;
  const std::byte* codes = rec + 16 * L.pairs + L.high;
  const __m256i pairs = L.pairs > 0 ? load_pairs(rec) : _mm256_set1_epi16(1);
  if constexpr (F == Format::q6_K) {
    // Nibbles plus two vectors of high bits, each serving two steps j (see packed.hpp); the 6-bit
    // codes fill 16 bits with two vpmaddubsw, so each half's sum meets its scale every two steps.
    const __m256i sc0 = first_of_pairs(pairs), sc1 = second_of_pairs(pairs);
    const __m256i low4 = _mm256_set1_epi8(0x0f), top2 = _mm256_set1_epi8(0x30);
    const std::byte* highs = rec + 16 * L.pairs;
    #pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m256i hb = load256(highs + 32 * h);
      __m256i acc0[C], acc1[C];
      #pragma GCC unroll 2
      for (int k = 0; k < 2; ++k) {
        const int j = 2 * h + k;
        const __m256i v = load256(codes + 32 * j);
        const __m256i lo = _mm256_or_si256(_mm256_and_si256(v, low4),
                                           _mm256_and_si256(k == 0 ? _mm256_slli_epi16(hb, 4) : hb, top2));
        const __m256i hb_hi = k == 0 ? _mm256_slli_epi16(hb, 2) : _mm256_srli_epi16(hb, 2);
        const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), low4), _mm256_and_si256(hb_hi, top2));
        #pragma GCC unroll 16
        for (int c = 0; c < C; ++c) {
          const __m256i plo = _mm256_maddubs_epi16(lo, broadcast32(x + 32 * c + 4 * j));
          const __m256i phi = _mm256_maddubs_epi16(hi, broadcast32(x + 32 * c + 16 + 4 * j));
          acc0[c] = k == 0 ? plo : _mm256_add_epi16(acc0[c], plo);
          acc1[c] = k == 0 ? phi : _mm256_add_epi16(acc1[c], phi);
          chain(acc0[c]);
          chain(acc1[c]);
        }
      }
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const __m256i d = _mm256_add_epi32(_mm256_madd_epi16(acc0[c], sc0), _mm256_madd_epi16(acc1[c], sc1));
        isum[c] = h == 0 ? d : _mm256_add_epi32(isum[c], d);
        chain(isum[c]);
      }
    }
  } else if constexpr (T::grid) {
    const __m256i grid =
        _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(formats::kIq4nlValues)));
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    #pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const __m256i v = load256(codes + 32 * j);
      const __m256i lo = _mm256_shuffle_epi8(grid, _mm256_and_si256(v, low4));
      const __m256i hi = _mm256_shuffle_epi8(grid, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4));
      const __m256i alo = _mm256_abs_epi8(lo), ahi = _mm256_abs_epi8(hi);
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {  // |g|·(x·sign g): the grid has no zero
        const __m256i plo = _mm256_maddubs_epi16(alo, _mm256_sign_epi8(broadcast32(x + 32 * c + 4 * j), lo));
        const __m256i phi = _mm256_maddubs_epi16(ahi, _mm256_sign_epi8(broadcast32(x + 32 * c + 16 + 4 * j), hi));
        const __m256i d = _mm256_add_epi32(_mm256_madd_epi16(plo, pairs), _mm256_madd_epi16(phi, pairs));
        isum[c] = j == 0 ? d : _mm256_add_epi32(isum[c], d);
        chain(isum[c]);
      }
    }
  } else {  // nibbles: q4_K, q5_K, q3_K; 2-bit fields: q2_K
    const __m256i low4 = _mm256_set1_epi8(0x0f), low2 = _mm256_set1_epi8(0x03);
    __m256i acc0[C], acc1[C];
    #pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      __m256i lo, hi;
      if constexpr (F == Format::q2_K) {  // bits 2j, 2j + 1 of the two vectors
        lo = _mm256_and_si256(_mm256_srli_epi16(load256(codes), 2 * j), low2);
        hi = _mm256_and_si256(_mm256_srli_epi16(load256(codes + 32), 2 * j), low2);
      } else {
        const __m256i v = load256(codes + 32 * j);
        lo = _mm256_and_si256(v, low4);
        hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
      }
      if constexpr (F == Format::q5_K) {  // bit j (low nibble's) and 4 + j (high's) to bit 4
        const __m256i plane = load256(rec + 16 * L.pairs), bit4 = _mm256_set1_epi8(0x10);
        lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(plane, 4 - j), bit4));
        hi = _mm256_or_si256(hi, _mm256_and_si256(j == 0 ? plane : _mm256_srli_epi16(plane, j), bit4));
      }
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const __m256i plo = _mm256_maddubs_epi16(lo, broadcast32(x + 32 * c + 4 * j));
        const __m256i phi = _mm256_maddubs_epi16(hi, broadcast32(x + 32 * c + 16 + 4 * j));
        if constexpr (T::halves) {  // low nibbles are inputs 0..15, high nibbles 16..31
          acc0[c] = j == 0 ? plo : _mm256_add_epi16(acc0[c], plo);
          acc1[c] = j == 0 ? phi : _mm256_add_epi16(acc1[c], phi);
          chain(acc0[c]);
          chain(acc1[c]);
        } else if constexpr (F == Format::q4_K) {
          const __m256i p = _mm256_add_epi16(plo, phi);
          acc0[c] = j == 0 ? p : _mm256_add_epi16(acc0[c], p);
          chain(acc0[c]);
        } else {  // q5_K: j 0, 1 into acc0, j 2, 3 into acc1
          const __m256i p = _mm256_add_epi16(plo, phi);
          __m256i& a = j < 2 ? acc0[c] : acc1[c];
          a = (j % 2 == 0) ? p : _mm256_add_epi16(a, p);
          chain(a);
        }
      }
    }
    const __m256i sc0 = first_of_pairs(pairs);
    const __m256i sc1 = T::halves ? second_of_pairs(pairs) : sc0;
    #pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      isum[c] = _mm256_madd_epi16(acc0[c], sc0);
      if constexpr (F != Format::q4_K) isum[c] = _mm256_add_epi32(isum[c], _mm256_madd_epi16(acc1[c], sc1));
    }
  }
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    if constexpr (T::offset_shift >= 0) {
      isum[c] = _mm256_sub_epi32(isum[c], _mm256_madd_epi16(_mm256_slli_epi16(pairs, T::offset_shift), s[c]));
    }
    if constexpr (F == Format::q2_K) msum[c] = _mm256_madd_epi16(load_pairs(rec + 16), s[c]);
    if constexpr (F == Format::q4_K || F == Format::q5_K) msum[c] = _mm256_madd_epi16(second_of_pairs(pairs), s[c]);
  }
}

// One panel against one tile of C activation rows: out[c] lane r = row r · activation row c.
template <Format F, int C>
inline void panel_tile(const PackedView& w, std::size_t panel, const std::byte* act, std::size_t act_record,
                       __m256 (&out)[C]) {
  using T = Traits<F>;
  constexpr KQuantLayout L = T::layout;
  constexpr std::size_t kScaleAt = act_scale_offset(C), kHalvesAt = act_half_sums_offset(C);
  const std::byte* super = w.data + panel * w.panel_bytes;
  __m256 acc[C];
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  const std::size_t supers = w.blocks / L.blocks_per_super;
  for (std::size_t sb = 0; sb < supers; ++sb, super += L.super) {
    const __m256 d = _mm256_loadu_ps(reinterpret_cast<const float*>(super));
    const __m256 neg_dmin = T::mins ? _mm256_loadu_ps(reinterpret_cast<const float*>(super + 32)) : d;
    const std::byte* rec = super + L.head;
    for (std::size_t b = 0; b < L.blocks_per_super; ++b, rec += L.block, act += act_record) {
      __m256i s[C], isum[C], msum[C];
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        s[c] = T::needs_half_sums ? broadcast32(act + kHalvesAt + 4 * c) : _mm256_setzero_si256();
      }
      block_sums<F, C>(rec, act, s, isum, msum);
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const __m256 dx = broadcast_float(act + kScaleAt + 4 * c);
        acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[c]), _mm256_mul_ps(d, dx), acc[c]);
        if constexpr (T::mins) {
          acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum[c]), _mm256_mul_ps(neg_dmin, dx), acc[c]);
        }
      }
    }
  }
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) out[c] = acc[c];
}

template <Format F, int C>
void run(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
         std::size_t tile_end) {
  for_each_panel_and_tile<C>(a, row_begin, row_end, tile_begin, tile_end,
                             [&](std::size_t panel, const std::byte* act, __m256 (&out)[C]) {
                               panel_tile<F, C>(*a.packed, panel, act, a.act.record_bytes, out);
                             });
}

using RunFn = void (*)(const GemmArgs&, std::size_t, std::size_t, std::size_t, std::size_t);

template <Format F>
RunFn pick_tile(std::size_t tile_rows) {
  return tile_rows == 1 ? &run<F, 1> : &run<F, kIntTileRows>;
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
  if (fn == nullptr) {
    scalar::gemm_quantized(a, row_begin, row_end, tile_begin, tile_end);
    return;
  }
  fn(a, row_begin, row_end, tile_begin, tile_end);
}

}  // namespace qlinear::kernels::avx2
