#pragma once
// Deciding what happens to each tensor of a model, before any tensor data is read.

#include "model/source.hpp"

#include <qlinear/model.hpp>

#include <vector>

namespace qlinear::model {

// GGUF holds at most 4 dimensions: leading dimensions beyond that are merged into the first.
std::vector<std::uint64_t> gguf_shape(const std::vector<std::uint64_t>& shape);

// `has_importance`: importance weights (an imatrix) will be given, which three of a mix's rules read.
std::vector<TensorDecision> decide_all(const ModelSource& source, const QuantPlan& plan, bool gguf_output,
                                       bool has_importance = false);

}  // namespace qlinear::model
