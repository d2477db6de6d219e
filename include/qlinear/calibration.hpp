#pragma once
// Statistics of a linear layer's inputs, gathered from real activations: XᵀX (the Gram matrix that
// error-compensating quantization (Method::gptq) needs) and Σx² per input column (its diagonal, the
// importance that weighted searches and llama.cpp's importance matrix use).

#include <qlinear/export.h>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace qlinear {

class QLINEAR_API Calibration {
 public:
  // Throws Error(invalid_argument) for in_features == 0.
  explicit Calibration(std::size_t in_features);

  // Statistics saved earlier (e.g. a calibration GGUF): xtx row-major [in, in], symmetric, finite,
  // with a diagonal >= 0, accumulated over `rows` input rows. Throws Error naming what is wrong.
  static Calibration from_statistics(std::size_t in_features, std::span<const double> xtx, std::uint64_t rows);

  // x: row-major [rows, in_features]. Accumulates XᵀX in double. Throws Error on a size that is not
  // rows·in_features, or NaN/Inf (naming the row and column); the statistics are then unchanged.
  void add(std::span<const float> x, std::size_t rows);
  // Adds other's statistics; throws Error(size_mismatch) if other has another in_features.
  void merge(const Calibration& other);

  std::size_t in_features() const noexcept { return in_features_; }
  std::uint64_t rows() const noexcept { return rows_; }

  // Mean x² per column (Σx² / rows): what llama.cpp's imatrix holds. All zero when rows() == 0.
  std::vector<float> importance() const;
  // Σx² per column (the diagonal of XᵀX).
  std::vector<double> sum_squares() const;
  // XᵀX, row-major [in_features, in_features], both triangles filled.
  std::span<const double> xtx() const noexcept { return xtx_; }

 private:
  std::size_t in_features_ = 0;
  std::uint64_t rows_ = 0;
  std::vector<double> xtx_;
};

}  // namespace qlinear
