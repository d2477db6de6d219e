#include "kernels/gemm_ref.hpp"

#include <vector>

namespace qlinear::kernels {

void gemm_dequant_ref(const formats::WeightView& w, const float* x, std::size_t batch,
                      const float* bias, float* y) {
  std::vector<float> row(w.padded_cols);
  for (std::size_t r = 0; r < w.rows; ++r) {
    formats::dequantize_row(w, r, row.data());
    for (std::size_t b = 0; b < batch; ++b) {
      const float* xb = x + b * w.cols;
      double sum = bias ? bias[r] : 0.0;
      for (std::size_t c = 0; c < w.cols; ++c) sum += static_cast<double>(xb[c]) * row[c];
      y[b * w.rows + r] = static_cast<float>(sum);
    }
  }
}

}  // namespace qlinear::kernels
