// One tensor through the plan (tensor_quantize.hpp).

#include "model/tensor_quantize.hpp"

#include "model/importance.hpp"

#include <qlinear/error.hpp>

namespace qlinear::model {
namespace {

// f32, f16, bf16: no codes to choose.
bool is_conversion(Format target) {
  const FormatInfo& info = format_info(target);
  return info.block_size == 1 && !info.affine;
}

// The tensor's calibration data from the plan's file, when it has an entry; Error(size_mismatch) for
// an entry of another width.
std::optional<Calibration> calibration_for(const QuantPlan& plan, const TensorDecision& d) {
  if (!plan.calibration || !plan.calibration->contains(d.name)) return std::nullopt;
  const std::size_t in = plan.calibration->in_features(d.name);
  if (d.shape.back() != in) {
    throw Error(ErrorCode::size_mismatch, "its calibration data in " + plan.calibration->path().string() + " has " +
                                              std::to_string(in) + " inputs; its rows have " +
                                              std::to_string(d.shape.back()));
  }
  Calibration c = plan.calibration->calibration(d.name);
  plan.calibration->release(d.name);
  return c;
}

}  // namespace

std::string_view method_name(Method m) noexcept {
  switch (m) {
    case Method::reference: return "reference";
    case Method::search: return "search";
    case Method::gptq: return "gptq";
  }
  return "?";
}

std::string reference_method_name(Format target) {
  return is_conversion(target) ? "conversion" : std::string(method_name(Method::reference));
}

QuantizedSourceTensor quantize_source_tensor(const ModelSource& source, std::size_t index, const TensorDecision& d,
                                             const QuantPlan& plan, std::span<const float> importance) {
  try {
    const FloatValues floats = source.read_floats(index);
    const std::uint64_t cols = d.shape.back();
    const std::uint64_t rows = floats.values.size() / cols;
    const std::optional<Calibration> calibration = calibration_for(plan, d);
    QuantizeOptions options{d.affine.value_or(plan.affine), importance};
    options.damping = plan.damping;
    std::string method;
    if (is_conversion(*d.target)) {
      method = reference_method_name(*d.target);
    } else {
      options.method = plan.method;
      options.calibration = calibration ? &*calibration : nullptr;
      // gptq needs the inputs' XᵀX: without it the tensor gets the best choice without compensation.
      if (plan.method == Method::gptq && !calibration) options.method = Method::search;
      method = method_name(options.method);
      // Said where the file lacks the tensor: gptq fell back to search, or search weighs nothing.
      const bool unweighted = options.method == Method::search && importance.empty();
      if (plan.calibration && !calibration && (options.method != plan.method || unweighted)) {
        method += " (no calibration data)";
      }
    }
    QuantizedTensor q = quantize_with_importance(floats.values, rows, cols, *d.target, options);
    QuantizedSourceTensor out{std::move(q), {}, std::nullopt, std::move(method)};
    out.stats = measure(floats.values, out.q);
    if (calibration) {
      const std::vector<float> restored = dequantize(out.q);
      out.output = output_error_sums(floats.values, restored, rows, *calibration);
    }
    return out;
  } catch (const Error& e) {
    throw Error(e.code(), "tensor '" + d.name + "': " + e.what());
  }
}


}  // namespace qlinear::model
