// AVX2 + F16C row dequantizers: f16 and bf16 input to f32 (a model's weights on their way to the
// quantizers), and q8_0, q4_0, q4_1, q5_0, q5_1 back to f32 (the restored rows the statistics compare with). Each
// value is the reference's exactly: the conversions are exact, and a code times its block's scale
// is the same single float multiplication in either. Compiled with -mavx2 -mfma -mf16c.

#include "formats/blocks.hpp"
#include "kernels/x86/avx2.hpp"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace qlinear::kernels::avx2 {
namespace {

constexpr std::size_t kBlock32 = 32;

inline float half_to_float(std::uint16_t h) { return _cvtsh_ss(h); }

// The 32 codes of a block, elements 8k..8k+7 in codes[k]: element j in the low nibble and j + 16 in
// the high nibble of byte j, plus, for the 5-bit formats, bit j of qh as the code's fifth bit.
struct Codes32 {
  __m256i v[4];
};

inline Codes32 nibble_codes(const std::uint8_t* qs) {
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i lo = _mm_and_si128(bytes, low4);
  const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), low4);
  return {{_mm256_cvtepu8_epi32(lo), _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)), _mm256_cvtepu8_epi32(hi),
           _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))}};
}

inline Codes32 five_bit_codes(const std::uint8_t* qs, const std::uint8_t* qh_bytes) {
  Codes32 c = nibble_codes(qs);
  std::uint32_t qh;
  std::memcpy(&qh, qh_bytes, sizeof qh);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i one = _mm256_set1_epi32(1);
  for (int k = 0; k < 4; ++k) {
    const __m256i bits = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(qh >> (8 * k))), lane), one);
    c.v[k] = _mm256_or_si256(c.v[k], _mm256_slli_epi32(bits, 4));
  }
  return c;
}

// y = (code − offset)·d, or code·d + m: the reference's single multiplication (and addition, never
// fused), on the same floats.
inline void store_scaled(const Codes32& c, int offset, float d, float* y) {
  const __m256i off = _mm256_set1_epi32(offset);
  const __m256 vd = _mm256_set1_ps(d);
  for (int k = 0; k < 4; ++k) {
    _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(c.v[k], off)), vd));
  }
}

inline void store_scaled_plus_min(const Codes32& c, float d, float m, float* y) {
  const __m256 vd = _mm256_set1_ps(d), vm = _mm256_set1_ps(m);
  for (int k = 0; k < 4; ++k) {
    _mm256_storeu_ps(y + 8 * k, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(c.v[k]), vd), vm));
  }
}

}  // namespace

// Unaligned loads throughout: a row of halves starts at any even address.
void dequantize_row_f16(const void* values, float* y, std::size_t n) {
  const auto* x = static_cast<const std::byte*>(values);
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 2 * i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 2 * i + 16));
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(a));
    _mm256_storeu_ps(y + i + 8, _mm256_cvtph_ps(b));
  }
  for (; i < n; ++i) {
    std::uint16_t h;
    std::memcpy(&h, x + 2 * i, sizeof h);
    y[i] = half_to_float(h);
  }
}

void dequantize_row_bf16(const void* values, float* y, std::size_t n) {
  const auto* x = static_cast<const std::byte*>(values);
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + 2 * i)));
    _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16)));
  }
  for (; i < n; ++i) {
    std::uint16_t h;
    std::memcpy(&h, x + 2 * i, sizeof h);
    const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
    std::memcpy(y + i, &bits, sizeof bits);
  }
}

void dequantize_row_q8_0(const void* blocks, float* y, std::size_t n) {
  const auto* x = static_cast<const formats::block_q8_0*>(blocks);
  for (std::size_t b = 0; b < n / kBlock32; ++b, y += kBlock32) {
    const __m256 d = _mm256_set1_ps(half_to_float(x[b].d));
    for (std::size_t j = 0; j < kBlock32; j += 8) {
      std::int64_t eight;
      std::memcpy(&eight, x[b].qs + j, sizeof eight);
      const __m256i q = _mm256_cvtepi8_epi32(_mm_cvtsi64_si128(eight));
      _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
    }
  }
}

void dequantize_row_q4_0(const void* blocks, float* y, std::size_t n) {
  const auto* x = static_cast<const formats::block_q4_0*>(blocks);
  for (std::size_t b = 0; b < n / kBlock32; ++b, y += kBlock32) {
    store_scaled(nibble_codes(x[b].qs), 8, half_to_float(x[b].d), y);
  }
}

void dequantize_row_q4_1(const void* blocks, float* y, std::size_t n) {
  const auto* x = static_cast<const formats::block_q4_1*>(blocks);
  for (std::size_t b = 0; b < n / kBlock32; ++b, y += kBlock32) {
    store_scaled_plus_min(nibble_codes(x[b].qs), half_to_float(x[b].d), half_to_float(x[b].m), y);
  }
}

void dequantize_row_q5_0(const void* blocks, float* y, std::size_t n) {
  const auto* x = static_cast<const formats::block_q5_0*>(blocks);
  for (std::size_t b = 0; b < n / kBlock32; ++b, y += kBlock32) {
    store_scaled(five_bit_codes(x[b].qs, x[b].qh), 16, half_to_float(x[b].d), y);
  }
}

void dequantize_row_q5_1(const void* blocks, float* y, std::size_t n) {
  const auto* x = static_cast<const formats::block_q5_1*>(blocks);
  for (std::size_t b = 0; b < n / kBlock32; ++b, y += kBlock32) {
    store_scaled_plus_min(five_bit_codes(x[b].qs, x[b].qh), half_to_float(x[b].d), half_to_float(x[b].m), y);
  }
}

}  // namespace qlinear::kernels::avx2
