#pragma once
// The per-block statistics ggml's reference quantizers start from, computed exactly as they do.

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>

namespace qlinear::formats {

// The value of largest magnitude, the first one on ties (q4_0 and q5_0 scale by it, sign included).
inline float signed_extreme(const float* x, std::size_t n) noexcept {
  float amax = 0.0f, extreme = 0.0f;
  for (std::size_t j = 0; j < n; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      extreme = x[j];
    }
  }
  return extreme;
}

inline float abs_max(const float* x, std::size_t n) noexcept {
  float amax = 0.0f;
  for (std::size_t j = 0; j < n; ++j) amax = std::fmax(amax, std::fabs(x[j]));
  return amax;
}

struct MinMax {
  float lo, hi;
};
inline MinMax min_max(const float* x, std::size_t n) noexcept {
  MinMax m{FLT_MAX, -FLT_MAX};
  for (std::size_t j = 0; j < n; ++j) {
    m.lo = std::min(m.lo, x[j]);
    m.hi = std::max(m.hi, x[j]);
  }
  return m;
}

}  // namespace qlinear::formats
