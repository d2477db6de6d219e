#pragma once
// The error a quantized weight makes in a layer's output on real inputs, from the inputs' XᵀX:
// ‖X(A−B)ᵀ‖² = tr((A−B)·XᵀX·(A−B)ᵀ), so neither X nor the products X·Aᵀ are needed, and the cost is
// out·in² whatever the number of rows.

#include <qlinear/calibration.hpp>

#include <cstddef>
#include <span>

namespace qlinear::model {

struct OutputErrorSums {
  double error2 = 0;   // ‖X(A−B)ᵀ‖²
  double signal2 = 0;  // ‖X·Aᵀ‖²
  // ‖X(A−B)ᵀ‖ / ‖X·Aᵀ‖; 0 when both are 0, +Inf when only the signal is.
  double relative() const noexcept;
  OutputErrorSums& operator+=(const OutputErrorSums& o) noexcept {
    error2 += o.error2, signal2 += o.signal2;
    return *this;
  }
};

// a, b: row-major [rows, c.in_features()]. Error(size_mismatch) for other sizes. Without
// `with_signal`, signal2 is left 0 (half the work: a size budget compares errors only).
OutputErrorSums output_error_sums(std::span<const float> a, std::span<const float> b, std::size_t rows,
                                  const Calibration& c, bool with_signal = true);

}  // namespace qlinear::model
