#pragma once
// One tensor of a model through the plan: read, quantized by the plan's method (with its importance
// and calibration data), and measured. quantize_model() runs it per tensor, on any thread.

#include "model/output_error.hpp"
#include "model/source.hpp"

#include <qlinear/model.hpp>
#include <qlinear/tensor.hpp>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace qlinear::model {

// A tensor quantized and measured.
struct QuantizedSourceTensor {
  QuantizedTensor q;
  QuantStats stats;
  std::optional<OutputErrorSums> output;  // with calibration data
  std::string method;                     // as the report names it
};

// "reference", "search" or "gptq".
std::string_view method_name(Method m) noexcept;

// What the report calls the reference method for a target: "conversion" for f32, f16 and bf16.
std::string reference_method_name(Format target);

// Tensor `index` of the source quantized as `d` decides. gptq without calibration data for the
// tensor falls back to search. Errors name the tensor.
QuantizedSourceTensor quantize_source_tensor(const ModelSource& source, std::size_t index, const TensorDecision& d,
                                             const QuantPlan& plan, std::span<const float> importance);

}  // namespace qlinear::model
