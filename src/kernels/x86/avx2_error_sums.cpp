// AVX2 sums for the quantization statistics: lanes 0–3 and 4–7 of formats::ErrorLanes are two
// vectors of doubles, and each lane sees the reference's operations in the reference's order, so
// the sums are identical bit for bit. The three sums of products of two floats use fused
// multiply-adds: such a product (24 + 24 significant bits) is exact in double, so adding it rounds
// once either way, and fma(w, w, s) is s + w·w to the bit. (w − ŵ)² is not exact in general: that
// one stays a multiplication and an addition. Compiled with -mavx2 -mfma -mf16c.

#include "kernels/x86/avx2.hpp"

#include <immintrin.h>

namespace qlinear::kernels::avx2 {

void accumulate_error(const float* original, const float* restored, std::size_t n, formats::ErrorLanes& s) {
  constexpr std::size_t kLanes = formats::kErrorLanes;
  static_assert(kLanes == 8, "two vectors of four doubles");
  __m256d e2[2] = {_mm256_load_pd(s.error2), _mm256_load_pd(s.error2 + 4)};
  __m256d w2[2] = {_mm256_load_pd(s.signal2), _mm256_load_pd(s.signal2 + 4)};
  __m256d r2[2] = {_mm256_load_pd(s.restored2), _mm256_load_pd(s.restored2 + 4)};
  __m256d wr[2] = {_mm256_load_pd(s.dot), _mm256_load_pd(s.dot + 4)};
  __m256d mx[2] = {_mm256_load_pd(s.max_abs), _mm256_load_pd(s.max_abs + 4)};
  const __m256d sign = _mm256_set1_pd(-0.0);
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const __m256 wf = _mm256_loadu_ps(original + i), rf = _mm256_loadu_ps(restored + i);
    const __m256d w[2] = {_mm256_cvtps_pd(_mm256_castps256_ps128(wf)), _mm256_cvtps_pd(_mm256_extractf128_ps(wf, 1))};
    const __m256d r[2] = {_mm256_cvtps_pd(_mm256_castps256_ps128(rf)), _mm256_cvtps_pd(_mm256_extractf128_ps(rf, 1))};
    for (int h = 0; h < 2; ++h) {
      const __m256d e = _mm256_sub_pd(w[h], r[h]);
      e2[h] = _mm256_add_pd(e2[h], _mm256_mul_pd(e, e));
      w2[h] = _mm256_fmadd_pd(w[h], w[h], w2[h]);
      r2[h] = _mm256_fmadd_pd(r[h], r[h], r2[h]);
      wr[h] = _mm256_fmadd_pd(w[h], r[h], wr[h]);
      // max keeps the larger of two non-NaN values, as the reference's compare does.
      mx[h] = _mm256_max_pd(mx[h], _mm256_andnot_pd(sign, e));
    }
  }
  for (int h = 0; h < 2; ++h) {
    _mm256_store_pd(s.error2 + 4 * h, e2[h]);
    _mm256_store_pd(s.signal2 + 4 * h, w2[h]);
    _mm256_store_pd(s.restored2 + 4 * h, r2[h]);
    _mm256_store_pd(s.dot + 4 * h, wr[h]);
    _mm256_store_pd(s.max_abs + 4 * h, mx[h]);
  }
  for (std::size_t j = 0; i < n; ++i, ++j) {
    const double w = original[i], r = restored[i], e = w - r;
    const double a = e < 0 ? -e : e;
    s.error2[j] += e * e;
    s.signal2[j] += w * w;
    s.restored2[j] += r * r;
    s.dot[j] += w * r;
    s.max_abs[j] = a > s.max_abs[j] ? a : s.max_abs[j];
  }
}

}  // namespace qlinear::kernels::avx2
