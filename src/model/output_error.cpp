// Output error through XᵀX: per chunk of weight rows, D = [A−B; A] in double times XᵀX with OpenBLAS
// (the library already links it for Calibration), then each row's dot product with its product.

#include "model/output_error.hpp"

#include <qlinear/error.hpp>

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace qlinear::model {
namespace {
// Weight rows per dgemm: large enough for level-3 speed, small enough that the two [chunk, in]
// buffers stay near the size of XᵀX itself for the widest layers.
constexpr std::size_t kRowsPerChunk = 256;
}  // namespace

double OutputErrorSums::relative() const noexcept {
  if (signal2 > 0) return std::sqrt(error2 / signal2);
  return error2 == 0 ? 0.0 : INFINITY;
}

OutputErrorSums output_error_sums(std::span<const float> a, std::span<const float> b, std::size_t rows,
                                  const Calibration& c) {
  const std::size_t n = c.in_features();
  if (a.size() != rows * n || b.size() != a.size()) {
    throw Error(ErrorCode::size_mismatch, "output error: weights of " + std::to_string(a.size()) + " and " +
                                              std::to_string(b.size()) + " values for " + std::to_string(rows) +
                                              " rows of the calibration's " + std::to_string(n) + " inputs");
  }
  const auto g = c.xtx();
  OutputErrorSums sums;
  // Rows of the difference first, then the same rows of A: one product for both sums.
  const std::size_t chunk = std::min(rows, kRowsPerChunk);
  std::vector<double> d(2 * chunk * n), dg(2 * chunk * n);
  for (std::size_t r0 = 0; r0 < rows; r0 += kRowsPerChunk) {
    const std::size_t k = std::min(kRowsPerChunk, rows - r0);
    for (std::size_t i = 0; i < k * n; ++i) {
      const double x = a[r0 * n + i];
      d[i] = x - static_cast<double>(b[r0 * n + i]);
      d[k * n + i] = x;
    }
    cblas_dsymm(CblasRowMajor, CblasRight, CblasUpper, static_cast<blasint>(2 * k), static_cast<blasint>(n), 1.0,
                g.data(), static_cast<blasint>(n), d.data(), static_cast<blasint>(n), 0.0, dg.data(),
                static_cast<blasint>(n));
    for (std::size_t i = 0; i < k * n; ++i) sums.error2 += d[i] * dg[i];
    for (std::size_t i = k * n; i < 2 * k * n; ++i) sums.signal2 += d[i] * dg[i];
  }
  // A quadratic form of a positive semi-definite matrix: rounding may leave a tiny negative value.
  sums.error2 = std::max(sums.error2, 0.0);
  sums.signal2 = std::max(sums.signal2, 0.0);
  return sums;
}

}  // namespace qlinear::model
