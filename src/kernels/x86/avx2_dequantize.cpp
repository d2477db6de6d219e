// AVX2 + F16C row dequantizers: f16 and bf16 input to f32 (a model's weights on their way to the
// quantizers), and q8_0 / q4_0 back to f32 (the restored rows the statistics compare with). Each
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

// Element j in the low nibble and j + 16 in the high nibble of byte j; codes are q − 8.
void dequantize_row_q4_0(const void* blocks, float* y, std::size_t n) {
  const auto* x = static_cast<const formats::block_q4_0*>(blocks);
  const __m128i low4 = _mm_set1_epi8(0x0f);
  const __m256i eight = _mm256_set1_epi32(8);
  for (std::size_t b = 0; b < n / kBlock32; ++b, y += kBlock32) {
    const __m256 d = _mm256_set1_ps(half_to_float(x[b].d));
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].qs));
    const __m128i lo = _mm_and_si128(bytes, low4);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), low4);
    const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; ++k) {
      const __m256i q = _mm256_sub_epi32(_mm256_cvtepu8_epi32(parts[k]), eight);
      _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
    }
  }
}

}  // namespace qlinear::kernels::avx2
