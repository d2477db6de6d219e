#pragma once
// Helpers shared by the AVX2 kernel files, and included by them only: the code is compiled with
// -mavx2 -mfma, so it has internal linkage (an unnamed namespace) and can never be merged with a
// copy compiled for another level.

#include <immintrin.h>

#include <cstddef>

namespace qlinear::kernels::avx2 {
namespace {

// Writes lanes [0, n) of v, plus bias where given, to y.
inline void store_rows(float* y, const float* bias, __m256 v, std::size_t n) {
  if (n == 8) {
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
    _mm256_storeu_ps(y, v);
    return;
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, v);
  for (std::size_t i = 0; i < n; ++i) y[i] = lanes[i] + (bias ? bias[i] : 0.0f);
}

}  // namespace
}  // namespace qlinear::kernels::avx2
