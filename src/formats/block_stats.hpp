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

// 1/d, the multiplier that turns a weight into its code, or 0 when d is 0 or so small (below about
// 2.9e-39, as for blocks of weights under ~1e-36) that 1/d is not finite. Every code of such a block
// is then a code of zero instead of what converting inf or NaN to an integer gives (undefined
// behaviour; x86 truncation gives code 0, AVX2 packing −128); the block's fp16 scale is 0 either
// way, so it dequantizes to 0. Where d itself is 0 the codes are those of the value 0 (8 for q4_0,
// 16 for q5_0), as ggml stores for an all-zero block. Where d is not 0 but 1/d is not finite
// (uninvertible_scale), q4_0 and q5_0 store code 0 instead, the bytes that ggml's C quantizers and
// gguf-py write there, so that files of real f32 weights match llama-quantize's byte for byte: the
// PP-OCRv4 matrices in data/ hold blocks of ±0 beside one subnormal weight (263 of the 1800 q4_0
// blocks of conv2d_117.w_0). For q8_0, q8_1, q4_1 and q5_1 both cases store code 0.
inline float inverse_scale(float d) noexcept {
  const float inverse = 1.0f / d;
  return std::isfinite(inverse) ? inverse : 0.0f;
}
inline bool uninvertible_scale(float d, float inverse) noexcept { return d != 0.0f && inverse == 0.0f; }

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
