// iq4_nl: blocks of 32, w = d·grid[q] with the 16-value non-linear grid kIq4nlValues (fp16 d).
// The scale comes from ggml's weighted least-squares search (iq4_search.hpp), which iq4_xs runs on
// each of its sub-blocks too; both formats' searches live here.

#include "core/half.hpp"
#include "formats/iq4_search.hpp"
#include "formats/reference.hpp"

#include <cmath>

namespace qlinear::formats {

namespace iq4 {

void error_weights(const float* x, const float* importance, float sigma2, float* weight) noexcept {
  for (std::size_t j = 0; j < kSubBlock; ++j) {
    weight[j] = importance ? importance[j] * std::sqrt(sigma2 + x[j] * x[j]) : x[j] * x[j];
  }
}

float spread(const float* x, std::size_t n) noexcept {
  float sum = 0.0f;
  for (std::size_t j = 0; j < n; ++j) sum += x[j] * x[j];
  return sum * (2.0f / static_cast<float>(n));
}

namespace {

// Σ w·q·x and Σ w·q² for the codes nearest x·inverse: the numerator and denominator of the
// least-squares scale for those codes, which that scale's error falls with (by numerator²/denominator).
struct Fit {
  float qx = 0.0f, q2 = 0.0f;
};

Fit fit_codes(const float* x, const float* weight, float inverse) noexcept {
  Fit f;
  for (std::size_t j = 0; j < kSubBlock; ++j) {
    const float q = static_cast<float>(kIq4nlValues[nearest_grid_index(inverse * x[j])]);
    f.qx += weight[j] * q * x[j];
    f.q2 += weight[j] * q * q;
  }
  return f;
}

}  // namespace

float best_scale(const float* x, const float* weight) noexcept {
  float amax = 0.0f, max = 0.0f;  // the first value of largest magnitude, sign kept
  for (std::size_t j = 0; j < kSubBlock; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  if (amax < 1e-15f) return 0.0f;
  constexpr int kTries = 7;
  const float lowest = static_cast<float>(kIq4nlValues[0]);  // −127: max maps onto it
  Fit f = fit_codes(x, weight, 1.0f / (-max / lowest));
  float d = f.q2 > 0.0f ? f.qx / f.q2 : 0.0f;
  float best = d * f.qx;
  for (int t = -kTries; t <= kTries; ++t) {
    f = fit_codes(x, weight, static_cast<float>(t + kIq4nlValues[0]) / max);
    // Products, not quotients: f.qx²/f.q2 > best, with f.q2 > 0 checked first.
    if (f.q2 > 0.0f && f.qx * f.qx > best * f.q2) {
      d = f.qx / f.q2;
      best = d * f.qx;
    }
  }
  return d;
}

void store_codes(const float* x, std::size_t n, float inverse, std::uint8_t* qs) noexcept {
  for (std::size_t b = 0; b < n / kSubBlock; ++b, x += kSubBlock, qs += kSubBlock / 2) {
    for (std::size_t j = 0; j < kSubBlock / 2; ++j) {
      const int lo = nearest_grid_index(inverse * x[j]);
      const int hi = nearest_grid_index(inverse * x[j + kSubBlock / 2]);
      qs[j] = static_cast<std::uint8_t>(lo | (hi << 4));
    }
  }
}

}  // namespace iq4

namespace {

// Without importance the error weights are x² (ggml's rule), with it importance·sqrt(spread + x²).
void quantize_iq4_nl(const float* x, block_iq4_nl* y, std::size_t n, const float* importance) {
  float weight[iq4::kSubBlock];
  for (std::size_t b = 0; b < n / kBlock32; ++b, x += kBlock32) {
    const float sigma2 = iq4::spread(x, kBlock32);
    iq4::error_weights(x, importance ? importance + b * kBlock32 : nullptr, sigma2, weight);
    const float d = iq4::best_scale(x, weight);
    y[b].d = core::fp32_to_fp16(d);
    // The codes are chosen again for the unrounded d; a zero d gives the codes of grid value 1,
    // the one nearest 0.
    iq4::store_codes(x, kBlock32, d != 0.0f ? 1.0f / d : 0.0f, y[b].qs);
  }
}

}  // namespace

void quantize_row_iq4_nl_ref(const float* x, block_iq4_nl* y, std::size_t n) {
  quantize_iq4_nl(x, y, n, nullptr);
}

void quantize_row_iq4_nl_weighted_ref(const float* x, block_iq4_nl* y, std::size_t n, const float* importance) {
  quantize_iq4_nl(x, y, n, importance);
}

void dequantize_row_iq4_nl_ref(const block_iq4_nl* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock32; ++b, y += kBlock32) {
    const float d = core::fp16_to_fp32(x[b].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>(kIq4nlValues[x[b].qs[j] & 0x0f]);
      y[j + 16] = d * static_cast<float>(kIq4nlValues[x[b].qs[j] >> 4]);
    }
  }
}

}  // namespace qlinear::formats
