#pragma once
// Affine int8/int4 quantization: calibration of one group of weights, and the stored code layout.
//
// Codes of one row are stored padded to a multiple of 32 weights:
//   i8: one byte per weight: int8 q (symmetric) or uint8 q (asymmetric).
//   i4: 16 bytes per 32 weights, ggml's nibble order: weight j in the low and weight j+16 in the high
//       nibble of byte j. A symmetric q in [-7, 7] is stored as q + 8, an asymmetric q in [0, 15] as is.
// A padding weight stores the code of zero (0, 8 or the zero point), so it dequantizes to exactly 0.

#include <qlinear/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace qlinear::formats {

struct AffineSpec {
  int bits;        // 8 or 4
  bool symmetric;
  int qmin() const noexcept { return symmetric ? -qmax_symmetric() : 0; }
  int qmax() const noexcept { return symmetric ? qmax_symmetric() : (1 << bits) - 1; }
  int qmax_symmetric() const noexcept { return (1 << (bits - 1)) - 1; }  // 127 or 7
};

AffineSpec affine_spec(Format format, const AffineOptions& options);

struct AffineParams {
  float scale = 0.0f;             // 0 for a group that is all zeros (then every code is the zero code)
  std::uint8_t zero_point = 0;    // asymmetric only
};

// Chooses scale and zero point for the values x (any length, may be empty) by options.calibration.
// Finite inputs always give a finite scale >= 0. `importance` is empty or holds one weight >= 0 per
// column of the row that x is part of; x[i] is in column i % period (period = the row length for a
// per-tensor x, x.size() for a group): Calibration::mse then minimizes Σ importance·error².
AffineParams calibrate_affine(std::span<const float> x, AffineSpec spec, const AffineOptions& options,
                              std::span<const float> importance = {}, std::size_t period = 0);

// std::round(v) (halves away from zero) for v clamped to [-2^20, 2^20], a range far wider than any
// level range, so clamping the result to the levels gives what rounding v itself would. Integer
// conversion and compares, no branch and no libm call (the baseline x86-64 has no rounding
// instruction): the error-minimizing calibration rounds every weight once per candidate range.
// v must not be NaN.
inline std::int64_t round_half_away_bounded(double v) noexcept {
  v = v < -1048576.0 ? -1048576.0 : v;
  v = v > 1048576.0 ? 1048576.0 : v;
  const auto truncated = static_cast<std::int64_t>(v);
  const double fraction = v - static_cast<double>(truncated);  // exact
  return truncated + static_cast<std::int64_t>(fraction >= 0.5) - static_cast<std::int64_t>(fraction <= -0.5);
}

// The integer level of x (in [qmin, qmax]) and back.
int quantize_affine_value(float x, AffineParams params, AffineSpec spec) noexcept;
float dequantize_affine_value(int q, AffineParams params, AffineSpec spec) noexcept;

// Sum of squared reconstruction errors of x under params (the quantity Calibration::mse minimizes).
double affine_squared_error(std::span<const float> x, AffineParams params, AffineSpec spec) noexcept;

// Writes / reads the stored code of weight `index` in a row of codes.
void store_affine_code(std::byte* row, std::size_t index, int q, AffineSpec spec) noexcept;
int load_affine_code(const std::byte* row, std::size_t index, AffineSpec spec) noexcept;

}  // namespace qlinear::formats
