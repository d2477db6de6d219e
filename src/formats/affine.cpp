// Affine int8/int4: calibration and codes. Scales are derived in double so that extreme but finite
// ranges (|w| near FLT_MAX, or subnormal weights) never produce an Inf or NaN scale.

#include "formats/affine.hpp"

#include <qlinear/error.hpp>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <vector>

namespace qlinear::formats {
namespace {

using Calibration = AffineOptions::Calibration;

// Linear interpolation between order statistics of sorted values (numpy's default quantile).
double quantile_sorted(const std::vector<float>& sorted, double p) {
  if (sorted.empty()) return 0.0;
  const double position = p * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(position);
  if (below + 1 >= sorted.size()) return sorted.back();
  const double frac = position - static_cast<double>(below);
  return sorted[below] + frac * (static_cast<double>(sorted[below + 1]) - sorted[below]);
}

// The end levels must stay finite in float: s·(level − z) may not overflow for any level. Only
// ranges within a step of FLT_MAX get here; their scale shrinks by the few ulps needed.
void keep_levels_finite(AffineParams& params, AffineSpec spec) {
  const int reach = spec.symmetric ? spec.qmax_symmetric()
                                   : std::max<int>(params.zero_point, spec.qmax() - params.zero_point);
  if (!std::isinf(static_cast<float>(reach) * params.scale)) return;
  params.scale = static_cast<float>(static_cast<double>(FLT_MAX) / reach);
  while (std::isinf(static_cast<float>(reach) * params.scale)) {
    params.scale = std::nextafter(params.scale, 0.0f);
  }
}

AffineParams params_for_range(double lo, double hi, AffineSpec spec) {
  AffineParams params;
  if (spec.symmetric) {
    const double clip = std::max(std::fabs(lo), std::fabs(hi));
    params.scale = static_cast<float>(clip / spec.qmax_symmetric());
    keep_levels_finite(params, spec);
    return params;
  }
  lo = std::min(lo, 0.0);  // keep zero inside the range so that it is exactly representable
  hi = std::max(hi, 0.0);
  const double scale = (hi - lo) / spec.qmax();
  params.scale = static_cast<float>(scale);
  if (params.scale == 0.0f) return params;  // an all-zero group, or a range below float resolution
  const double zero = std::round(-lo / static_cast<double>(params.scale));
  params.zero_point = static_cast<std::uint8_t>(std::clamp(zero, 0.0, static_cast<double>(spec.qmax())));
  keep_levels_finite(params, spec);
  return params;
}

struct Range {
  double lo = 0.0, hi = 0.0;
};

Range minmax_range(std::span<const float> x) {
  if (x.empty()) return {};
  const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
  return {*lo, *hi};
}

Range percentile_range(std::span<const float> x, AffineSpec spec, double percentile) {
  const double p = percentile / 100.0;
  std::vector<float> sorted(x.begin(), x.end());
  if (spec.symmetric) {
    for (float& v : sorted) v = std::fabs(v);
    std::sort(sorted.begin(), sorted.end());
    const double clip = quantile_sorted(sorted, p);
    return {-clip, clip};
  }
  std::sort(sorted.begin(), sorted.end());
  return {quantile_sorted(sorted, 1.0 - p), quantile_sorted(sorted, p)};
}

// Per-value weights of the error: none (all 1), or the importance of x[i]'s column, i % period.
struct ErrorWeights {
  std::span<const float> importance;
  std::size_t period = 0;
  double at(std::size_t i) const noexcept { return importance.empty() ? 1.0 : importance[i % period]; }
};

// affine_squared_error (weighted), except that it stops adding once the sum reaches `limit` (and then
// returns a value >= limit). Terms are never negative, so a candidate stopped early could not have won.
double squared_error_until(std::span<const float> x, AffineParams params, AffineSpec spec, double limit,
                           const ErrorWeights& weights = {}) noexcept {
  double sum = 0.0;
  for (std::size_t begin = 0; begin < x.size() && sum < limit; begin += 8) {
    const std::size_t end = std::min<std::size_t>(begin + 8, x.size());
    for (std::size_t i = begin; i < end; ++i) {
      const double e = static_cast<double>(x[i]) -
                       dequantize_affine_value(quantize_affine_value(x[i], params, spec), params, spec);
      sum += weights.at(i) * (e * e);
    }
  }
  return sum;
}

// Shrinks the min-max range by factors 1, 0.99, ..., 0.21 and keeps the one with the least squared
// error (ties keep the wider range). Factor 1 is min-max itself, so this never does worse than it.
// Measured on 6625×120 weights, i4 asymmetric, groups of 32, one thread: 438 ms with a libm
// round() per weight and candidate, 255 ms with round_half_away_bounded, 150 ms with the early stop.
// With importance weights the error of each value is weighted by its column's importance.
AffineParams mse_search(std::span<const float> x, AffineSpec spec, const ErrorWeights& weights) {
  constexpr int kSteps = 80;
  const Range full = minmax_range(x);
  AffineParams best = params_for_range(full.lo, full.hi, spec);
  double best_error = squared_error_until(x, best, spec, std::numeric_limits<double>::infinity(), weights);
  for (int step = 1; step < kSteps && best_error > 0.0; ++step) {
    const double factor = 1.0 - step / 100.0;
    const AffineParams candidate = params_for_range(full.lo * factor, full.hi * factor, spec);
    const double error = squared_error_until(x, candidate, spec, best_error, weights);
    if (error < best_error) {
      best_error = error;
      best = candidate;
    }
  }
  return best;
}

}  // namespace

AffineSpec affine_spec(Format format, const AffineOptions& options) {
  if (format != Format::i8 && format != Format::i4) {
    throw Error(ErrorCode::internal, "affine_spec called for a non-affine format");
  }
  return {format == Format::i8 ? 8 : 4, options.symmetric};
}

AffineParams calibrate_affine(std::span<const float> x, AffineSpec spec, const AffineOptions& options,
                              std::span<const float> importance, std::size_t period) {
  switch (options.calibration) {
    case Calibration::minmax: {
      const Range r = minmax_range(x);
      return params_for_range(r.lo, r.hi, spec);
    }
    case Calibration::percentile: {
      const Range r = percentile_range(x, spec, options.percentile);
      return params_for_range(r.lo, r.hi, spec);
    }
    case Calibration::mse:
      return mse_search(x, spec, {importance, importance.empty() ? 1 : period});
  }
  throw Error(ErrorCode::invalid_argument, "unknown calibration method");
}

int quantize_affine_value(float x, AffineParams params, AffineSpec spec) noexcept {
  if (params.scale == 0.0f) return spec.symmetric ? 0 : params.zero_point;
  const std::int64_t level = round_half_away_bounded(static_cast<double>(x) / params.scale) +
                             (spec.symmetric ? 0 : params.zero_point);
  return static_cast<int>(std::clamp<std::int64_t>(level, spec.qmin(), spec.qmax()));
}

float dequantize_affine_value(int q, AffineParams params, AffineSpec spec) noexcept {
  const int offset = spec.symmetric ? 0 : params.zero_point;
  return static_cast<float>(q - offset) * params.scale;
}

double affine_squared_error(std::span<const float> x, AffineParams params, AffineSpec spec) noexcept {
  return squared_error_until(x, params, spec, std::numeric_limits<double>::infinity());
}

void store_affine_code(std::byte* row, std::size_t index, int q, AffineSpec spec) noexcept {
  if (spec.bits == 8) {
    row[index] = static_cast<std::byte>(static_cast<std::uint8_t>(q));  // int8 as its two's complement
    return;
  }
  const auto nibble = static_cast<unsigned>(spec.symmetric ? q + 8 : q) & 0x0fu;
  const std::size_t chunk = index / 32, lane = index % 32;
  auto& byte = row[chunk * 16 + lane % 16];
  const unsigned shift = lane < 16 ? 0 : 4;
  byte = static_cast<std::byte>((static_cast<unsigned>(byte) & ~(0x0fu << shift)) | (nibble << shift));
}

int load_affine_code(const std::byte* row, std::size_t index, AffineSpec spec) noexcept {
  if (spec.bits == 8) {
    const auto raw = static_cast<std::uint8_t>(row[index]);
    return spec.symmetric ? static_cast<std::int8_t>(raw) : raw;
  }
  const std::size_t chunk = index / 32, lane = index % 32;
  const auto byte = static_cast<unsigned>(row[chunk * 16 + lane % 16]);
  const int nibble = static_cast<int>(lane < 16 ? byte & 0x0fu : byte >> 4);
  return spec.symmetric ? nibble - 8 : nibble;
}

}  // namespace qlinear::formats
