// The C API of whole-model quantization: the options a caller of the CLI's `quantize` has, as a
// struct, and a summary of the report.

#include "capi/capi_support.hpp"

#include <qlinear/calibration_file.hpp>
#include <qlinear/imatrix.hpp>
#include <qlinear/mix.hpp>
#include <qlinear/model.hpp>

#include <memory>

using namespace qlinear;
using namespace qlinear::capi;

namespace {

// A type is a mix of llama-quantize's ("q4_k_m", and the legacy ones it numbers) or a format.
QuantPlan plan_for(const char* type, const qlinear_model_options& o) {
  QuantPlan plan;
  if (const auto mix = find_mix(type)) {
    plan.mix = mix;
    plan.default_format = mix_info(*mix).base;
    plan.pure = o.pure != 0;
  } else {
    plan.default_format = parse_format(type);
  }
  for (std::size_t i = 0; i < o.rule_count; ++i) {
    require(o.rules[i], "qlinear_quantize_model", "options->rules[i]");
    plan.rules.push_back(TensorRule::parse(o.rules[i]));
  }
  plan.keep_1d = o.keep_1d != 0;
  if (o.fallback != nullptr) plan.fallback = parse_format(o.fallback);
  if (o.imatrix != nullptr) {
    plan.importance = std::make_shared<const ImportanceMatrix>(ImportanceMatrix::open(o.imatrix));
  }
  if (o.calibration != nullptr) {
    plan.calibration = std::make_shared<const CalibrationFile>(CalibrationFile::open(o.calibration));
  }
  plan.method = to_method(o.method);
  plan.damping = o.damping;
  plan.affine = to_affine(o.affine);
  if (plan.method == Method::gptq && !plan.calibration) {
    throw Error(ErrorCode::invalid_argument,
                "qlinear_quantize_model: the gptq method needs options->calibration (an activations or "
                "statistics file)");
  }
  return plan;
}

}  // namespace

extern "C" {

qlinear_status qlinear_model_options_init(qlinear_model_options* options) {
  return guarded([&] {
    require(options, "qlinear_model_options_init", "options");
    qlinear_quantize_options q;
    if (const qlinear_status s = qlinear_quantize_options_init(&q); s != QLINEAR_OK) {
      throw Error(ErrorCode::internal, "qlinear_model_options_init: the quantize defaults failed");
    }
    const QuantPlan d;
    *options = {};
    options->keep_1d = d.keep_1d ? 1 : 0;
    options->method = QLINEAR_METHOD_REFERENCE;
    options->damping = d.damping;
    options->affine = q.affine;
  });
}

qlinear_status qlinear_quantize_model(const char* input, const char* output, const char* type,
                                      const qlinear_model_options* options, qlinear_model_summary* summary) {
  return guarded([&] {
    const char* function = "qlinear_quantize_model";
    require(input, function, "input");
    require(output, function, "output");
    require(type, function, "type");
    qlinear_model_options defaults;
    if (options == nullptr) {
      qlinear_model_options_init(&defaults);
      options = &defaults;
    }
    const ModelReport report = quantize_model(input, output, plan_for(type, *options));
    if (summary != nullptr) {
      *summary = {};
      summary->tensors = report.tensors.size();
      for (const TensorReport& t : report.tensors) summary->quantized += t.decision.target.has_value() ? 1 : 0;
      summary->bytes_in = report.bytes_in;
      summary->bytes_out = report.bytes_out;
      summary->weights = report.weights;
      summary->seconds = report.seconds;
    }
  });
}

}  // extern "C"
