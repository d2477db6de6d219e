// AVX2 quantizers: the same float operations as the reference quantizers, in the same order, eight
// lanes at a time, so the bytes are identical (the golden tests and test_kernels check every one).
// Compiled with -mavx2 -mfma -mf16c; nothing here may call an inline function of a shared header.

#include "formats/blocks.hpp"
#include "kernels/x86/avx2.hpp"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace qlinear::kernels::avx2 {
namespace {

using formats::block_q4_0;
using formats::block_q4_1;
using formats::block_q5_0;
using formats::block_q5_1;
using formats::block_q8_0;
using formats::block_q8_1;

struct Floats32 {
  __m256 v[4];
};

inline Floats32 load32(const float* x) {
  return {{_mm256_loadu_ps(x), _mm256_loadu_ps(x + 8), _mm256_loadu_ps(x + 16), _mm256_loadu_ps(x + 24)}};
}

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

inline float hmax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline float hmin(__m256 v) {
  __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_min_ps(m, _mm_movehl_ps(m, m));
  m = _mm_min_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

inline std::int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

inline float max_abs(const Floats32& x) {
  return hmax(_mm256_max_ps(_mm256_max_ps(abs_ps(x.v[0]), abs_ps(x.v[1])),
                            _mm256_max_ps(abs_ps(x.v[2]), abs_ps(x.v[3]))));
}

// Bit i of the result: lane i of the 32 lanes compares equal to `value`.
inline std::uint32_t equal_mask(const Floats32& x, float value) {
  const __m256 v = _mm256_set1_ps(value);
  std::uint32_t m = 0;
  for (int i = 0; i < 4; ++i) {
    m |= static_cast<std::uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(x.v[i], v, _CMP_EQ_OQ))) << (8 * i);
  }
  return m;
}

// The first element of largest magnitude, as the reference's strict `amax < |x|` scan finds it;
// 0.0f (not a -0.0f) when all are zero. Branch-free: where the maximum sits is random, and a
// loop that stops at the vector holding it mispredicts (measured: q4_0 rows 5.5 → 10 ms).
inline float first_extreme(const float* x, const Floats32& v) {
  const Floats32 a{{abs_ps(v.v[0]), abs_ps(v.v[1]), abs_ps(v.v[2]), abs_ps(v.v[3])}};
  const float amax = hmax(_mm256_max_ps(_mm256_max_ps(a.v[0], a.v[1]), _mm256_max_ps(a.v[2], a.v[3])));
  if (amax == 0.0f) return 0.0f;
  return x[__builtin_ctz(equal_mask(a, amax))];
}

// min or max of a block with the sign of zero the reference's scan keeps: std::min/std::max keep
// the first of equal values, so a zero result is the first ±0 of the block.
inline float first_zero_fix(const float* x, const Floats32& v, float extreme) {
  return extreme == 0.0f ? x[__builtin_ctz(equal_mask(v, 0.0f))] : extreme;
}

// roundf (half away from zero) for |v| <= 256: trunc(v ± (0.5 − 2^-25)). Checked against roundf for
// every float in [−256, 256]; q8 codes never leave [−127.5, 127.5].
inline __m256i round_away(__m256 v) {
  const __m256 half = _mm256_or_ps(_mm256_and_ps(v, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(0.49999997f));
  return _mm256_cvttps_epi32(_mm256_add_ps(v, half));
}

// formats::inverse_scale, restated here (this file may not call a shared header's inline function):
// 1/d, or 0 when d is 0 or so small that 1/d is not finite, so such a block stores the codes of zero.
inline float inverse_scale(float d) {
  const float inverse = 1.0f / d;
  return __builtin_isfinite(inverse) ? inverse : 0.0f;
}

inline std::uint16_t to_half(float f) { return static_cast<std::uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT)); }
inline float from_half(std::uint16_t h) { return _cvtsh_ss(h); }

// Four vectors of int32 in [-128, 255] to 32 bytes in element order.
inline __m256i pack_bytes(__m256i a, __m256i b, __m256i c, __m256i d, bool is_unsigned) {
  const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
  const __m256i bytes = is_unsigned ? _mm256_packus_epi16(ab, cd) : _mm256_packs_epi16(ab, cd);
  return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// 16 bytes: byte j = lo[j] | hi[j] << 4, from elements 0..15 (lo) and 16..31 (hi) of q; codes of
// more than 4 bits (q5) are cut to their low nibble.
template <bool kOnlyNibbles>
inline __m128i pack_nibbles(const __m256i (&q)[4]) {
  const __m256i low4 = _mm256_set1_epi32(15);
  const auto nib = [&](__m256i v) { return kOnlyNibbles ? v : _mm256_and_si256(v, low4); };
  const __m256i c0 = _mm256_or_si256(nib(q[0]), _mm256_slli_epi32(nib(q[2]), 4));
  const __m256i c1 = _mm256_or_si256(nib(q[1]), _mm256_slli_epi32(nib(q[3]), 4));
  const __m256i words = _mm256_packs_epi32(c0, c1);
  const __m256i bytes = _mm256_packus_epi16(words, words);
  return _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

// The fifth bits of 32 codes in [0, 31] as ggml's qh field.
inline std::uint32_t fifth_bits(const __m256i (&q)[4]) {
  std::uint32_t h = 0;
  for (int i = 0; i < 4; ++i) {
    h |= static_cast<std::uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_slli_epi32(q[i], 27))))
         << (8 * i);
  }
  return h;
}

struct Q8 {
  float d;         // unrounded, as the reference keeps it for q8_1's sum
  __m256i codes;   // 32 int8 in element order
  std::int32_t sum;
};

inline Q8 quantize_q8(const float* x) {
  const Floats32 v = load32(x);
  const float d = max_abs(v) / 127.0f;
  const float id = inverse_scale(d);
  const __m256 mul = _mm256_set1_ps(id);
  __m256i q[4];
  for (int i = 0; i < 4; ++i) q[i] = round_away(_mm256_mul_ps(v.v[i], mul));
  const std::int32_t sum = hsum(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
  return {d, pack_bytes(q[0], q[1], q[2], q[3], false), sum};
}

// q4_0 / q5_0: d = extreme / −levels, q = min(top, trunc(x/d + levels + 0.5)).
template <int kLevels>
inline void quantize_signed_offset(const float* x, std::uint16_t& d_out, __m256i (&q)[4]) {
  const Floats32 v = load32(x);
  const float d = first_extreme(x, v) / static_cast<float>(-kLevels);
  const float id = inverse_scale(d);
  d_out = to_half(d);
  // A scale too small to invert stores code 0, as the reference does (formats/block_stats.hpp).
  const bool uninvertible = d != 0.0f && id == 0.0f;
  const __m256 mul = _mm256_set1_ps(id);
  const __m256 add = _mm256_set1_ps(uninvertible ? 0.0f : static_cast<float>(kLevels) + 0.5f);
  const __m256i top = _mm256_set1_epi32(2 * kLevels - 1);
  for (int i = 0; i < 4; ++i) {
    q[i] = _mm256_min_epi32(top, _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v.v[i], mul), add)));
  }
}

// q4_1 / q5_1: m = min, d = (max − min) / top, q = trunc((x − m)/d + 0.5) (clamped to top for q4_1).
template <int kTop, bool kClamp>
inline void quantize_min_offset(const float* x, std::uint16_t& d_out, std::uint16_t& m_out, __m256i (&q)[4]) {
  const Floats32 v = load32(x);
  const float lo = first_zero_fix(
      x, v, hmin(_mm256_min_ps(_mm256_min_ps(v.v[0], v.v[1]), _mm256_min_ps(v.v[2], v.v[3]))));
  const float hi = first_zero_fix(
      x, v, hmax(_mm256_max_ps(_mm256_max_ps(v.v[0], v.v[1]), _mm256_max_ps(v.v[2], v.v[3]))));
  const float d = (hi - lo) / static_cast<float>(kTop);
  const float id = inverse_scale(d);
  d_out = to_half(d);
  m_out = to_half(lo);
  const __m256 mn = _mm256_set1_ps(lo), mul = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f);
  for (int i = 0; i < 4; ++i) {
    q[i] = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v.v[i], mn), mul), half));
    if (kClamp) q[i] = _mm256_min_epi32(_mm256_set1_epi32(kTop), q[i]);
  }
}

}  // namespace

void quantize_row_q8_0(const float* x, void* blocks, std::size_t n) {
  auto* y = static_cast<block_q8_0*>(blocks);
  for (std::size_t b = 0; b < n / 32; ++b, x += 32) {
    const Q8 q = quantize_q8(x);
    y[b].d = to_half(q.d);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), q.codes);
  }
}

void quantize_row_q8_1(const float* x, void* blocks, std::size_t n) {
  auto* y = static_cast<block_q8_1*>(blocks);
  for (std::size_t b = 0; b < n / 32; ++b, x += 32) {
    const Q8 q = quantize_q8(x);
    y[b].d = to_half(q.d);
    y[b].s = to_half(static_cast<float>(q.sum) * q.d);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y[b].qs), q.codes);
  }
}

void quantize_row_q4_0(const float* x, void* blocks, std::size_t n) {
  auto* y = static_cast<block_q4_0*>(blocks);
  for (std::size_t b = 0; b < n / 32; ++b, x += 32) {
    __m256i q[4];
    quantize_signed_offset<8>(x, y[b].d, q);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs), pack_nibbles<true>(q));
  }
}

void quantize_row_q5_0(const float* x, void* blocks, std::size_t n) {
  auto* y = static_cast<block_q5_0*>(blocks);
  for (std::size_t b = 0; b < n / 32; ++b, x += 32) {
    __m256i q[4];
    quantize_signed_offset<16>(x, y[b].d, q);
    const std::uint32_t h = fifth_bits(q);
    std::memcpy(y[b].qh, &h, sizeof h);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs), pack_nibbles<false>(q));
  }
}

void quantize_row_q4_1(const float* x, void* blocks, std::size_t n) {
  auto* y = static_cast<block_q4_1*>(blocks);
  for (std::size_t b = 0; b < n / 32; ++b, x += 32) {
    __m256i q[4];
    quantize_min_offset<15, true>(x, y[b].d, y[b].m, q);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs), pack_nibbles<true>(q));
  }
}

void quantize_row_q5_1(const float* x, void* blocks, std::size_t n) {
  auto* y = static_cast<block_q5_1*>(blocks);
  for (std::size_t b = 0; b < n / 32; ++b, x += 32) {
    __m256i q[4];
    quantize_min_offset<31, false>(x, y[b].d, y[b].m, q);
    const std::uint32_t h = fifth_bits(q);
    std::memcpy(y[b].qh, &h, sizeof h);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y[b].qs), pack_nibbles<false>(q));
  }
}

void quantize_row_f16(const float* x, void* values, std::size_t n) {
  auto* y = static_cast<std::uint16_t*>(values);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) y[i] = to_half(x[i]);
}

void quantize_row_bf16(const float* x, void* values, std::size_t n) {
  auto* y = static_cast<std::uint16_t*>(values);
  std::size_t i = 0;
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
  for (; i + 8 <= n; i += 8) {
    const __m256i bits = _mm256_castps_si256(_mm256_loadu_ps(x + i));
    // Round to nearest even on the 16 bits dropped; a NaN stays a (quiet) NaN.
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    const __m256i rounded =
        _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd)), 16);
    const __m256i nan = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x40));
    const __m256i is_nan = _mm256_cmpgt_epi32(_mm256_and_si256(bits, abs_mask), inf);
    const __m256i r = _mm256_blendv_epi8(rounded, nan, is_nan);
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_castsi256_si128(packed));
  }
  for (; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, 4);
    y[i] = (bits & 0x7fffffffu) > 0x7f800000u
               ? static_cast<std::uint16_t>((bits >> 16) | 0x40u)
               : static_cast<std::uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  }
}

bool any_out_of_range(const float* x, std::size_t n, std::uint32_t limit_bits) {
  // Unsigned |bits| >= limit as a signed compare: both sides are below 2^31.
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff), below = _mm256_set1_epi32(static_cast<int>(limit_bits - 1));
  __m256i bad = _mm256_setzero_si256();
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i bits = _mm256_and_si256(_mm256_castps_si256(_mm256_loadu_ps(x + i)), abs_mask);
    bad = _mm256_or_si256(bad, _mm256_cmpgt_epi32(bits, below));
  }
  bool any = !_mm256_testz_si256(bad, bad);
  for (; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, 4);
    any = any || (bits & 0x7fffffffu) >= limit_bits;
  }
  return any;
}

void quantize_activation_row(const float* x, std::size_t cols, std::size_t blocks,
                             const ActivationRowOut& out) {
  auto* codes = reinterpret_cast<std::byte*>(out.codes);
  auto* scale = reinterpret_cast<std::byte*>(out.scale);
  auto* sum = reinterpret_cast<std::byte*>(out.sum);
  auto* scaled = reinterpret_cast<std::byte*>(out.scaled_sum);
  auto* halves_out = reinterpret_cast<std::byte*>(out.half_sums);
  alignas(32) float tail[32];
  for (std::size_t b = 0; b < blocks; ++b) {
    const float* src = x + b * 32;
    if ((b + 1) * 32 > cols) {  // the last, partial block: zeros after the row
      for (std::size_t i = 0; i < 32; ++i) tail[i] = b * 32 + i < cols ? src[i] : 0.0f;
      src = tail;
    }
    const Q8 q = quantize_q8(src);
    const float d = from_half(to_half(q.d));
    const float s = d * static_cast<float>(q.sum);
    const std::size_t at = b * out.stride;
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(codes + at), q.codes);
    std::memcpy(scale + at, &d, 4);
    std::memcpy(sum + at, &q.sum, 4);
    std::memcpy(scaled + at, &s, 4);
    // Σ of the first 16 signed codes: vpsadbw on the codes biased by 128, less 16·128.
    const __m128i sad = _mm_sad_epu8(_mm_xor_si128(_mm256_castsi256_si128(q.codes), _mm_set1_epi8(-128)),
                                     _mm_setzero_si128());
    const std::int32_t first = _mm_cvtsi128_si32(sad) + _mm_extract_epi16(sad, 4) - 16 * 128;
    const std::int16_t halves[2] = {static_cast<std::int16_t>(first), static_cast<std::int16_t>(q.sum - first)};
    std::memcpy(halves_out + at, halves, 4);
  }
}

}  // namespace qlinear::kernels::avx2
