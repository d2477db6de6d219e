// Importance-matrix entries in whole-model quantization. A tensor's entry is looked up by its name in
// the input file, as llama-quantize does (llama-imatrix names entries after the GGUF tensors).

#include "model/importance.hpp"

#include "formats/registry.hpp"

#include <qlinear/error.hpp>

#include <cstring>
#include <vector>

namespace qlinear::model {

std::span<const float> importance_for(const QuantPlan& plan, const TensorDecision& d) {
  if (!plan.importance || !d.target || d.shape.empty()) return {};
  const auto entry = plan.importance->find(d.name);
  if (!entry) return {};
  const std::uint64_t cols = d.shape.back();
  if (entry->size() == cols) return *entry;
  if (d.shape.size() == 3 && entry->size() == d.shape[0] * cols) return *entry;
  std::string expected = std::to_string(cols) + " (one per column)";
  if (d.shape.size() == 3) expected += " or " + std::to_string(d.shape[0] * cols) + " (a row per expert)";
  throw Error(ErrorCode::size_mismatch, "tensor '" + d.name + "': its entry in the importance matrix " +
                                            plan.importance->path().string() + " has " +
                                            std::to_string(entry->size()) + " values; expected " + expected);
}

bool format_uses_importance(Format format, const AffineOptions& affine) {
  if (format_info(format).affine) return affine.calibration == AffineOptions::Calibration::mse;
  return formats::traits(format).quantize_row_weighted_ref != nullptr;
}

QuantizedTensor quantize_with_importance(std::span<const float> w, std::size_t rows, std::size_t cols,
                                         Format format, const QuantizeOptions& options) {
  const std::span<const float> importance = options.importance;
  if (importance.size() == cols || importance.empty()) return quantize(w, rows, cols, format, options);
  // One importance row per expert: each expert's rows are quantized with their own row, as
  // llama-quantize does, and the experts' blocks laid end to end.
  const std::size_t experts = importance.size() / cols;
  if (format_info(format).affine) {
    throw Error(ErrorCode::unsupported, "importance per expert cannot be used with the affine format " +
                                            std::string(format_name(format)) +
                                            " (one set of scales spans all experts)");
  }
  if (options.calibration) {
    throw Error(ErrorCode::unsupported, "importance per expert cannot be combined with calibration data "
                                        "(one XᵀX spans all experts)");
  }
  const std::size_t rows_per_expert = rows / experts;
  std::vector<std::byte> blocks;
  for (std::size_t e = 0; e < experts; ++e) {
    QuantizeOptions part_options = options;
    part_options.importance = importance.subspan(e * cols, cols);
    const QuantizedTensor part =
        quantize(w.subspan(e * rows_per_expert * cols, rows_per_expert * cols), rows_per_expert, cols, format,
                 part_options);
    const auto bytes = part.data();
    blocks.insert(blocks.end(), bytes.begin(), bytes.end());
  }
  return QuantizedTensor::from_blocks(format, rows, cols, blocks);
}

void add_importance_metadata(GgufWriter& writer, const ImportanceMatrix& matrix) {
  // llama-quantize stores its integers as u32 (and leaves out a chunk count of 0) and the first
  // dataset only.
  writer.set("quantize.imatrix.file", GgufValue::string(matrix.path().string()));
  if (!matrix.datasets().empty()) writer.set("quantize.imatrix.dataset", GgufValue::string(matrix.dataset()));
  writer.set("quantize.imatrix.entries_count", GgufValue::u32(static_cast<std::uint32_t>(matrix.size())));
  if (matrix.chunks() > 0) writer.set("quantize.imatrix.chunks_count", GgufValue::u32(matrix.chunks()));
}

}  // namespace qlinear::model
