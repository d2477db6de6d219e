// measure(): what quantization cost, in double precision.

#include "formats/weight_view.hpp"

#include <qlinear/error.hpp>
#include <qlinear/tensor.hpp>

#include <cmath>
#include <limits>
#include <string>

namespace qlinear {

QuantStats measure(std::span<const float> original, const QuantizedTensor& q) {
  const std::size_t n = q.rows() * q.cols();
  if (original.size() != n) {
    throw Error(ErrorCode::size_mismatch,
                "measure: original has " + std::to_string(original.size()) +
                    " values, the quantized tensor holds " + std::to_string(q.rows()) + " × " +
                    std::to_string(q.cols()) + " = " + std::to_string(n));
  }
  // Row by row, so that measuring a large tensor needs memory for one row, not a second copy.
  const formats::WeightView view = formats::view_of(q);
  std::vector<float> restored(q.padded_cols());
  double error2 = 0, signal2 = 0, restored2 = 0, dot = 0, max_abs = 0;
  for (std::size_t row = 0; row < q.rows(); ++row) {
    formats::dequantize_row(view, row, restored.data());
    for (std::size_t c = 0; c < q.cols(); ++c) {
      const double w = original[row * q.cols() + c], r = restored[c], e = w - r;
      error2 += e * e;
      signal2 += w * w;
      restored2 += r * r;
      dot += w * r;
      max_abs = std::fmax(max_abs, std::fabs(e));
    }
  }
  constexpr double kInf = std::numeric_limits<double>::infinity();
  QuantStats s;
  s.rmse = n == 0 ? 0.0 : std::sqrt(error2 / static_cast<double>(n));
  s.max_abs = max_abs;
  s.sqnr_db = error2 == 0.0 ? kInf : 10.0 * std::log10(signal2 / error2);
  if (signal2 == 0.0 && restored2 == 0.0) {
    s.cosine = 1.0;
  } else if (signal2 == 0.0 || restored2 == 0.0) {
    s.cosine = 0.0;
  } else {
    s.cosine = dot / std::sqrt(signal2 * restored2);
  }
  s.bytes = q.nbytes();
  s.compression = s.bytes == 0 ? 0.0 : 4.0 * static_cast<double>(n) / static_cast<double>(s.bytes);
  if (signal2 > 0.0) {
    s.rel_rmse = std::sqrt(error2 / signal2);
  } else {
    s.rel_rmse = error2 == 0.0 ? 0.0 : kInf;
  }
  return s;
}

}  // namespace qlinear
