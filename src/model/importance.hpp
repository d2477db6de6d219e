#pragma once
// Importance-matrix entries for whole-model quantization (QuantPlan::importance): which entry a
// tensor gets, whether its format uses it, and the keys llama-quantize records in the output.

#include <qlinear/gguf.hpp>
#include <qlinear/imatrix.hpp>
#include <qlinear/model.hpp>

#include <span>

namespace qlinear::model {

// The entry of the tensor `d` decides to quantize, checked against its shape: cols values (one per
// input column, the same for every row), or, for a 3-D tensor of E experts, E × cols (one row of
// importance per expert). Empty when the plan has no matrix, the tensor is not quantized, or the
// matrix has no entry of its name. Error(size_mismatch) naming the tensor for any other length.
std::span<const float> importance_for(const QuantPlan& plan, const TensorDecision& d);

// Whether quantizing to `format` depends on importance weights: the formats whose ggml quantizer
// weighs errors by them, and the affine formats under mse calibration.
bool format_uses_importance(Format format, const AffineOptions& affine);

// w ([rows, cols], the tensor's floats) quantized with options.importance as importance_for() gave
// it: one call to quantize(), or one per expert (Error(unsupported) for per-expert importance with an
// affine format, whose scales cannot be split by expert, or with a calibration).
QuantizedTensor quantize_with_importance(std::span<const float> w, std::size_t rows, std::size_t cols,
                                         Format format, const QuantizeOptions& options);

// quantize.imatrix.file, .dataset, .entries_count and .chunks_count, as llama-quantize writes them.
void add_importance_metadata(GgufWriter& writer, const ImportanceMatrix& matrix);

}  // namespace qlinear::model
