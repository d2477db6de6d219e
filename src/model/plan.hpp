#pragma once
// Deciding what happens to each tensor of a model, before any tensor data is read.

#include "model/source.hpp"

#include <qlinear/model.hpp>

#include <memory>
#include <vector>

namespace qlinear::model {

// The number of elements of a tensor of this shape (1 for a scalar, the empty shape).
std::uint64_t element_count(const std::vector<std::uint64_t>& shape);

// GGUF holds at most 4 dimensions: leading dimensions beyond that are merged into the first.
std::vector<std::uint64_t> gguf_shape(const std::vector<std::uint64_t>& shape);

class RuleSet;

// One tensor's decision as decide_all() takes it without a mix, with `default_format` in place of
// plan.default_format (a size budget asks once per candidate). `by_default`: no rule, keep default
// or missing data decided, so the default format (and what the output makes of it) is the answer.
class TensorDecider {
 public:
  TensorDecider(const QuantPlan& plan, bool gguf_output);  // Error(invalid_argument) for a bad regex
  ~TensorDecider();
  TensorDecision decide(const SourceTensor& t, Format default_format, bool& by_default) const;

 private:
  const QuantPlan& plan_;
  bool gguf_output_;
  std::unique_ptr<RuleSet> rules_;
};

// Three of a mix's rules read whether importance weights (plan.importance) are given.
std::vector<TensorDecision> decide_all(const ModelSource& source, const QuantPlan& plan, bool gguf_output);

}  // namespace qlinear::model
