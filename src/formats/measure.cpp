// measure(): what quantization cost, in double precision. Panels of rows run on the thread pool;
// their sums are added in panel order (error_sums.hpp), so the result is the same on any number of
// threads, and the same as the model layer's fused quantize-and-measure pass.

#include "core/thread_pool.hpp"
#include "formats/error_sums.hpp"
#include "formats/weight_view.hpp"

#include <qlinear/error.hpp>
#include <qlinear/tensor.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace qlinear {

QuantStats measure(std::span<const float> original, const QuantizedTensor& q) {
  const std::size_t n = q.rows() * q.cols();
  if (original.size() != n) {
    throw Error(ErrorCode::size_mismatch,
                "measure: original has " + std::to_string(original.size()) +
                    " values, the quantized tensor holds " + std::to_string(q.rows()) + " × " +
                    std::to_string(q.cols()) + " = " + std::to_string(n));
  }
  // Row by row, so that measuring a large tensor needs memory for a row per thread, not a copy.
  const formats::WeightView view = formats::view_of(q);
  const std::size_t panel_rows = n == 0 ? 1 : formats::error_panel_rows(q.cols());
  const std::size_t panels = (q.rows() + panel_rows - 1) / panel_rows;
  std::vector<formats::ErrorSums> sums(panels);
  core::parallel_for(panels, [&](std::size_t p) {
    std::vector<float> restored(q.padded_cols());
    formats::ErrorLanes lanes = formats::zero_lanes();
    const std::size_t end = std::min(q.rows(), (p + 1) * panel_rows);
    for (std::size_t row = p * panel_rows; row < end; ++row) {
      formats::dequantize_row(view, row, restored.data());
      formats::accumulate_error_ref(original.data() + row * q.cols(), restored.data(), q.cols(), lanes);
    }
    sums[p] = formats::collapse(lanes);
  });
  formats::ErrorSums total;
  for (const auto& s : sums) formats::add_to(total, s);
  return formats::stats_from_sums(total, n, q.nbytes());
}

}  // namespace qlinear
