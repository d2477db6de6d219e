#pragma once
// Deciding what happens to each tensor of a model, before any tensor data is read.

#include "model/source.hpp"

#include <qlinear/model.hpp>

#include <vector>

namespace qlinear::model {

// GGUF holds at most 4 dimensions: leading dimensions beyond that are merged into the first.
std::vector<std::uint64_t> gguf_shape(const std::vector<std::uint64_t>& shape);

// Three of a mix's rules read whether importance weights (plan.importance) are given.
std::vector<TensorDecision> decide_all(const ModelSource& source, const QuantPlan& plan, bool gguf_output);

}  // namespace qlinear::model
