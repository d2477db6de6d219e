// AVX2 K-quant row quantizers, byte-identical to the reference ones (test_kernels checks every byte).
// Compiled with -mavx2 -mfma -mf16c and -ffp-contract=off; nothing here may call an inline function
// of a shared header (std::min, std::fabs and the formats layer's helpers included), so the few
// helpers needed are restated below.
//
// q6_K: each of a block's 16 sub-blocks tries 19 candidate scales and keeps the one whose levels
// reduce the error most (formats/search_scale.hpp). The reference runs the candidates side by side;
// here the lanes are 8 sub-blocks instead, so each lane performs exactly the float operations of
// the reference for its sub-block, in the same order (one candidate after the other, the values of
// a candidate's sums added left to right, the same comparisons), and the maxima, the divisions
// and the choice of the winner vectorize as well, with no lane wasted (19 candidates fill 3 vectors
// of 8 only to 79%). q3_K's per-value refinement is laid out the same way (refine_scales_q3).

#include "formats/blocks.hpp"
#include "formats/reference.hpp"
#include "kernels/x86/avx2.hpp"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace qlinear::kernels::avx2 {
namespace {

using formats::block_q6_K;

constexpr int kSubBlock = 16;  // values per sub-block of q6_K
constexpr int kNmax = 32;      // q6_K levels l in [−32, 31], stored as l + 32
// search_scale.hpp's kNegligibleGroupMax, restated: a group below it has scale 0.
constexpr float kNegligibleGroupMax = 1e-15f;

// formats::nearest_int, restated: 1.5·2^23 added, the integer read from the mantissa bits. Exactly
// ggml's rounding for every input, NaN and infinities included (they give definite levels).
inline int nearest_int(float v) {
  const float shifted = v + 12582912.0f;
  std::int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

inline __m256i nearest_int(__m256 v) {
  const __m256i bits = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.0f)));
  return _mm256_sub_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x007fffff)), _mm256_set1_epi32(0x00400000));
}

inline std::uint16_t to_half(float f) { return static_cast<std::uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)); }
inline float from_half(std::uint16_t h) { return _cvtsh_ss(h); }

// Rows r[0..7] of an 8×8 matrix become its columns.
inline void transpose8(__m256 (&r)[8]) {
  __m256 t[8], s[8];
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
    t[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
  }
  for (int k = 0; k < 2; ++k) {
    s[4 * k + 0] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], 0x44);
    s[4 * k + 1] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], 0xee);
    s[4 * k + 2] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0x44);
    s[4 * k + 3] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0xee);
  }
  for (int k = 0; k < 4; ++k) {
    r[k] = _mm256_permute2f128_ps(s[k], s[k + 4], 0x20);
    r[k + 4] = _mm256_permute2f128_ps(s[k], s[k + 4], 0x31);
  }
}

// Eight sub-blocks of 16 values, lane s holding sub-block s: value i, its weight x² (q6_K's
// unweighted rule) and weight·x, grouped as the reference groups them.
struct Lanes {
  __m256 x[kSubBlock], w[kSubBlock], wx[kSubBlock];
};

inline void load_lanes(const float* x, Lanes& g) {
  for (int half = 0; half < 2; ++half) {
    __m256 r[8];
    for (int s = 0; s < 8; ++s) r[s] = _mm256_loadu_ps(x + kSubBlock * s + 8 * half);
    transpose8(r);
    for (int i = 0; i < 8; ++i) g.x[8 * half + i] = r[i];
  }
  for (int i = 0; i < kSubBlock; ++i) {
    g.w[i] = _mm256_mul_ps(g.x[i], g.x[i]);
    g.wx[i] = _mm256_mul_ps(g.w[i], g.x[i]);
  }
}

// Each lane's first value of largest magnitude, as ggml's strict "greater than" scan keeps it, and
// a mask of the lanes whose magnitude is negligible.
struct Extremes {
  __m256 value, negligible;
};
inline Extremes first_extremes(const Lanes& g) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 magnitude = _mm256_setzero_ps(), extreme = _mm256_setzero_ps();
  for (int i = 0; i < kSubBlock; ++i) {
    const __m256 a = _mm256_andnot_ps(sign, g.x[i]);
    const __m256 larger = _mm256_cmp_ps(a, magnitude, _CMP_GT_OQ);
    magnitude = _mm256_blendv_ps(magnitude, a, larger);
    extreme = _mm256_blendv_ps(extreme, g.x[i], larger);
  }
  return {extreme, _mm256_cmp_ps(magnitude, _mm256_set1_ps(kNegligibleGroupMax), _CMP_LT_OQ)};
}

// Σw·x·l and Σw·l² of C candidates at once (independent chains hide the adds' latency), each
// added over the values in order. The reference rounds with clamped_nearest, (v + 1.5·2^23) −
// 1.5·2^23; _mm256_round_ps gives the same integer for |v| <= 2^22 (the scaled values here are
// within 32.9 of 0 in magnitude), at most with the other sign of zero, which changes no sum: the
// products are then ±0 and the sums start at +0. The clamps keep NaN as std::max/std::min do.
template <int C>
inline void candidate_sums(const Lanes& g, const __m256* inverse, __m256* sum_xl, __m256* sum_l2) {
  const __m256 lowest = _mm256_set1_ps(static_cast<float>(-kNmax));
  const __m256 highest = _mm256_set1_ps(static_cast<float>(kNmax - 1));
  __m256 xl[C], l2[C];
  for (int c = 0; c < C; ++c) xl[c] = l2[c] = _mm256_setzero_ps();
  for (int i = 0; i < kSubBlock; ++i) {
    for (int c = 0; c < C; ++c) {
      const __m256 rounded = _mm256_round_ps(_mm256_mul_ps(inverse[c], g.x[i]), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
      const __m256 l = _mm256_min_ps(highest, _mm256_max_ps(lowest, rounded));
      xl[c] = _mm256_add_ps(xl[c], _mm256_mul_ps(g.wx[i], l));
      l2[c] = _mm256_add_ps(l2[c], _mm256_mul_ps(_mm256_mul_ps(g.w[i], l), l));
    }
  }
  for (int c = 0; c < C; ++c) {
    sum_xl[c] = xl[c];
    sum_l2[c] = l2[c];
  }
}

// search_signed_scale(x, 16, 32, nullptr, …)'s scale for 8 sub-blocks (lane s: sub-block s, from
// x + 16·s); 0 in the lanes of negligible sub-blocks. The levels are not needed: q6_K rounds every
// value again against its final scale (and the block goes to the reference where that scale is 0).
__m256 search_scales(const float* x) {
  Lanes g;
  load_lanes(x, g);
  const Extremes e = first_extremes(g);
  const __m256 extreme = e.value, negligible = e.negligible;

  // Candidates in ggml's order: k = 0, then −9…−1, 1…9; inverse scale −(32 + 0.1·k)/extreme.
  // (Negligible lanes may divide by 0 here; their results are discarded below.)
  constexpr int kCandidates = 19;
  constexpr float kTenths[kCandidates] = {0, -9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  __m256 inverse[kCandidates], sum_xl[kCandidates], sum_l2[kCandidates];
  for (int c = 0; c < kCandidates; ++c) {
    const float numerator = -(static_cast<float>(kNmax) + 0.1f * kTenths[c]);
    inverse[c] = _mm256_div_ps(_mm256_set1_ps(numerator), extreme);
  }
  for (int c = 0; c < 16; c += 4) candidate_sums<4>(g, inverse + c, sum_xl + c, sum_l2 + c);
  candidate_sums<3>(g, inverse + 16, sum_xl + 16, sum_l2 + 16);

  // ggml's comparisons, in its order: a later candidate wins only by a strictly larger
  // (Σw·x·l)²/Σw·l², compared without dividing.
  const __m256 zero = _mm256_setzero_ps();
  __m256 scale = _mm256_and_ps(_mm256_div_ps(sum_xl[0], sum_l2[0]), _mm256_cmp_ps(sum_l2[0], zero, _CMP_NEQ_UQ));
  __m256 best = _mm256_mul_ps(scale, sum_xl[0]);
  for (int c = 1; c < kCandidates; ++c) {
    const __m256 wins = _mm256_and_ps(
        _mm256_cmp_ps(sum_l2[c], zero, _CMP_GT_OQ),
        _mm256_cmp_ps(_mm256_mul_ps(sum_xl[c], sum_xl[c]), _mm256_mul_ps(best, sum_l2[c]), _CMP_GT_OQ));
    const __m256 candidate_scale = _mm256_div_ps(sum_xl[c], sum_l2[c]);
    scale = _mm256_blendv_ps(scale, candidate_scale, wins);
    best = _mm256_blendv_ps(best, _mm256_mul_ps(candidate_scale, sum_xl[c]), wins);
  }
  return _mm256_andnot_ps(negligible, scale);
}

// Four vectors of int32 in [0, 63] to 32 bytes in element order.
inline __m256i pack_bytes(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
  return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// The levels clamp(nearest_int(x/dl), −nmax, nmax − 1) + nmax of 8 values (x + 8·half).
inline __m256i stored_levels(const float* x, float dl, int half, int nmax = kNmax) {
  const __m256 divisor = _mm256_set1_ps(dl);
  const __m256i level = nearest_int(_mm256_div_ps(_mm256_loadu_ps(x + 8 * half), divisor));
  const __m256i clamped = _mm256_min_epi32(_mm256_set1_epi32(nmax - 1), _mm256_max_epi32(_mm256_set1_epi32(-nmax), level));
  return _mm256_add_epi32(clamped, _mm256_set1_epi32(nmax));
}

// The 256 levels of a block, one byte each, rounded against the sub-blocks' scales dl.
inline void all_stored_levels(const float* x, const float* dl, int nmax, std::uint8_t* levels) {
  for (int j = 0; j < 16; j += 2) {
    const float* v = x + kSubBlock * j;
    const __m256i bytes = pack_bytes(stored_levels(v, dl[j], 0, nmax), stored_levels(v, dl[j], 1, nmax),
                                     stored_levels(v + kSubBlock, dl[j + 1], 0, nmax),
                                     stored_levels(v + kSubBlock, dl[j + 1], 1, nmax));
    _mm256_store_si256(reinterpret_cast<__m256i*>(levels + kSubBlock * j), bytes);
  }
}

// Levels q (one byte each, 0…63) to q6_K's ql and qh, half by half (see q6_k.cpp): of the four
// runs of 32 levels a, b, c, d in a half, ql holds a|c<<4 then b|d<<4 (low nibbles) and qh the
// high 2 bits of a, b, c, d at bits 0, 2, 4, 6.
inline void pack_levels(const std::uint8_t* levels, block_q6_K& y) {
  const __m256i low4 = _mm256_set1_epi8(0x0f), low2 = _mm256_set1_epi8(0x03);
  const auto high2 = [&](__m256i v, int shift) {
    // Bytes shifted within 16-bit words: the bits that cross into a neighbour are masked off.
    return _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), low2), shift);
  };
  for (int half = 0; half < 2; ++half) {
    const std::uint8_t* q = levels + 128 * half;
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32));
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 64));
    const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 96));
    const __m256i ql0 = _mm256_or_si256(_mm256_and_si256(a, low4), _mm256_slli_epi16(_mm256_and_si256(c, low4), 4));
    const __m256i ql1 = _mm256_or_si256(_mm256_and_si256(b, low4), _mm256_slli_epi16(_mm256_and_si256(d, low4), 4));
    const __m256i qh = _mm256_or_si256(_mm256_or_si256(high2(a, 0), high2(b, 2)), _mm256_or_si256(high2(c, 4), high2(d, 6)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y.ql + 64 * half), ql0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y.ql + 64 * half + 32), ql1);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y.qh + 32 * half), qh);
  }
}

// The sub-scale of largest magnitude (the first on ties) and that magnitude, as the references
// pick it.
struct LargestScale {
  float value, magnitude;
};
inline LargestScale largest_magnitude(const float (&scales)[16]) {
  LargestScale out{0.0f, 0.0f};
  for (int j = 0; j < 16; ++j) {
    const float magnitude = __builtin_fabsf(scales[j]);
    if (magnitude > out.magnitude) out = {scales[j], magnitude};
  }
  return out;
}

void quantize_block_q6_K(const float* x, block_q6_K& y) {
  alignas(32) float scales[16];
  _mm256_store_ps(scales, search_scales(x));
  _mm256_store_ps(scales + 8, search_scales(x + 8 * kSubBlock));
  const auto [max_scale, max_abs_scale] = largest_magnitude(scales);
  if (max_abs_scale < kNegligibleGroupMax) {
    std::memset(&y, 0, sizeof y);
    return;
  }
  const float inverse_scale = -128.0f / max_scale;
  y.d = to_half(1.0f / inverse_scale);
  const float d = from_half(y.d);
  float dl[16];
  for (int j = 0; j < 16; ++j) {
    const int sc = nearest_int(inverse_scale * scales[j]);
    y.scales[j] = static_cast<std::int8_t>(sc < 127 ? sc : 127);
    dl[j] = d * static_cast<float>(y.scales[j]);
    // A sub-block whose scale is 0 keeps the levels of its search, which this file does not
    // compute: such blocks (a sub-block 256 times smaller than the largest one, or an fp16
    // super-scale that underflows) go to the reference whole.
    if (dl[j] == 0.0f) {
      formats::quantize_row_q6_K_ref(x, &y, 256);
      return;
    }
  }
  alignas(32) std::uint8_t levels[256];
  all_stored_levels(x, dl, kNmax, levels);
  pack_levels(levels, y);
}

// q3_K: refine_signed_scale_per_value(x, 16, 4, …)'s scale for 8 sub-blocks (lane s: sub-block s,
// from x + 16·s); 0 in the lanes of negligible sub-blocks. Each lane makes the reference's moves in
// its order, with its operations; a lane whose pass changed nothing would change nothing in a
// further pass either, so the passes continue while any lane changes (at most five, as there).
constexpr int kNmaxQ3 = 4;
__m256 refine_scales_q3(const float* x) {
  Lanes g;
  load_lanes(x, g);
  const Extremes e = first_extremes(g);
  const __m256 lowest = _mm256_set1_ps(static_cast<float>(-kNmaxQ3));
  const __m256 highest = _mm256_set1_ps(static_cast<float>(kNmaxQ3 - 1));
  // The first levels, from −4/extreme; the rounding as in candidate_sums (|v| <= 4 here).
  const __m256 inverse = _mm256_div_ps(_mm256_set1_ps(static_cast<float>(-kNmaxQ3)), e.value);
  __m256 l[kSubBlock];
  __m256 sum_xl = _mm256_setzero_ps(), sum_l2 = _mm256_setzero_ps();
  for (int i = 0; i < kSubBlock; ++i) {
    const __m256 rounded = _mm256_round_ps(_mm256_mul_ps(inverse, g.x[i]), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    l[i] = _mm256_min_ps(highest, _mm256_max_ps(lowest, rounded));
    sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(g.wx[i], l[i]));
    sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(_mm256_mul_ps(g.w[i], l[i]), l[i]));
  }
  const __m256 zero = _mm256_setzero_ps();
  const __m256i low_level = _mm256_set1_epi32(-kNmaxQ3), high_level = _mm256_set1_epi32(kNmaxQ3 - 1);
  for (int pass = 0; pass < 5; ++pass) {
    __m256 changed = zero;
    for (int i = 0; i < kSubBlock; ++i) {
      // The sums without value i; its best level for their scale is x_i·Σ'w·l² / Σ'w·x·l, rounded
      // by ggml's integer form (the quotient may be huge or infinite when Σ'w·x·l is tiny).
      const __m256 xl = _mm256_sub_ps(sum_xl, _mm256_mul_ps(g.wx[i], l[i]));
      const __m256 l2 = _mm256_sub_ps(sum_l2, _mm256_mul_ps(_mm256_mul_ps(g.w[i], l[i]), l[i]));
      const __m256i level = nearest_int(_mm256_div_ps(_mm256_mul_ps(g.x[i], l2), xl));
      const __m256 moved = _mm256_cvtepi32_ps(_mm256_min_epi32(high_level, _mm256_max_epi32(low_level, level)));
      const __m256 new_xl = _mm256_add_ps(xl, _mm256_mul_ps(g.wx[i], moved));
      const __m256 new_l2 = _mm256_add_ps(l2, _mm256_mul_ps(_mm256_mul_ps(g.w[i], moved), moved));
      const __m256 gain = _mm256_cmp_ps(_mm256_mul_ps(_mm256_mul_ps(new_xl, new_xl), sum_l2),
                                        _mm256_mul_ps(_mm256_mul_ps(sum_xl, sum_xl), new_l2), _CMP_GT_OQ);
      const __m256 accept = _mm256_and_ps(
          _mm256_and_ps(_mm256_cmp_ps(xl, zero, _CMP_GT_OQ), _mm256_cmp_ps(moved, l[i], _CMP_NEQ_UQ)),
          _mm256_and_ps(_mm256_cmp_ps(new_l2, zero, _CMP_GT_OQ), gain));
      l[i] = _mm256_blendv_ps(l[i], moved, accept);
      sum_xl = _mm256_blendv_ps(sum_xl, new_xl, accept);
      sum_l2 = _mm256_blendv_ps(sum_l2, new_l2, accept);
      changed = _mm256_or_ps(changed, accept);
    }
    if (_mm256_movemask_ps(changed) == 0) break;
  }
  const __m256 scale = _mm256_and_ps(_mm256_div_ps(sum_xl, sum_l2), _mm256_cmp_ps(sum_l2, zero, _CMP_GT_OQ));
  return _mm256_andnot_ps(e.negligible, scale);
}

// Levels q (one byte each, 0…7) to q3_K's hmask and qs (see q3_k.cpp): the third bit of element i
// in bit i / 32 of hmask[i % 32], the low 2 bits of element l + 32·k of each half in bits 2k of
// qs[32·half + l].
inline void pack_levels_q3(const std::uint8_t* levels, formats::block_q3_K& y) {
  const __m256i one = _mm256_set1_epi8(1), low2 = _mm256_set1_epi8(3);
  __m256i run[8];
  __m256i hmask = _mm256_setzero_si256();
  for (int r = 0; r < 8; ++r) {
    run[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(levels + 32 * r));
    // Within 16-bit words; the bits that cross into a neighbouring byte are masked off.
    hmask = _mm256_or_si256(hmask, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(run[r], 2), one), r));
    run[r] = _mm256_and_si256(run[r], low2);
  }
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(y.hmask), hmask);
  for (int half = 0; half < 2; ++half) {
    const __m256i* q = run + 4 * half;
    const __m256i qs = _mm256_or_si256(_mm256_or_si256(q[0], _mm256_slli_epi16(q[1], 2)),
                                       _mm256_or_si256(_mm256_slli_epi16(q[2], 4), _mm256_slli_epi16(q[3], 6)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y.qs + 32 * half), qs);
  }
}

void quantize_block_q3_K(const float* x, formats::block_q3_K& y) {
  alignas(32) float scales[16];
  _mm256_store_ps(scales, refine_scales_q3(x));
  _mm256_store_ps(scales + 8, refine_scales_q3(x + 8 * kSubBlock));
  const auto [max_scale, max_abs_scale] = largest_magnitude(scales);
  // A stored sub-scale of 0 (all of them when max_scale is 0) keeps the levels of its search,
  // which this file does not compute: such blocks go to the reference whole.
  if (max_scale == 0.0f) {
    formats::quantize_row_q3_K_ref(x, &y, 256);
    return;
  }
  const float inverse_scale = -32.0f / max_scale;
  float dl[16];
  std::memset(y.scales, 0, sizeof y.scales);
  y.d = to_half(1.0f / inverse_scale);
  const float d = from_half(y.d);
  for (int j = 0; j < 16; ++j) {
    const int n = nearest_int(inverse_scale * scales[j]);
    const int biased = (n < -32 ? -32 : n > 31 ? 31 : n) + 32;
    // kquant_scales.hpp's layout: low 4 bits in byte j % 8 (high nibble for j >= 8), high 2 bits in
    // byte 8 + j % 4 at bit 2·(j / 4).
    y.scales[j % 8] |= static_cast<std::uint8_t>((biased & 0x0f) << (j < 8 ? 0 : 4));
    y.scales[8 + j % 4] |= static_cast<std::uint8_t>((biased >> 4) << (2 * (j / 4)));
    dl[j] = d * static_cast<float>(biased - 32);
    if (dl[j] == 0.0f) {
      formats::quantize_row_q3_K_ref(x, &y, 256);
      return;
    }
  }
  alignas(32) std::uint8_t levels[256];
  all_stored_levels(x, dl, kNmaxQ3, levels);
  pack_levels_q3(levels, y);
}

}  // namespace

void quantize_row_q3_K(const float* x, void* blocks, std::size_t n) {
  auto* y = static_cast<formats::block_q3_K*>(blocks);
  for (std::size_t b = 0; b < n / 256; ++b) quantize_block_q3_K(x + 256 * b, y[b]);
}

void quantize_row_q6_K(const float* x, void* blocks, std::size_t n) {
  auto* y = static_cast<block_q6_K*>(blocks);
  for (std::size_t b = 0; b < n / 256; ++b) quantize_block_q6_K(x + 256 * b, y[b]);
}

}  // namespace qlinear::kernels::avx2
