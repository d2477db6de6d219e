// The decisions of a quantization plan: rules first (in order), then the defaults (or a mix's
// choices), then what the output file can hold (GGUF block formats need whole blocks per row: such
// rows fall back as llama-quantize's do).

#include "model/plan.hpp"

#include "model/affine_gguf.hpp"
#include "model/mix.hpp"

#include <qlinear/error.hpp>

#include <algorithm>
#include <cctype>
#include <regex>

namespace qlinear::model {
namespace {

constexpr std::size_t kGgufMaxName = 63;

}  // namespace

// Rules with their regular expressions compiled once per model, not once per tensor.
class RuleSet {
 public:
  explicit RuleSet(const std::vector<TensorRule>& rules) : rules_(rules) {
    for (const auto& rule : rules) {
      if (rule.pattern.starts_with("re:")) {
        try {
          regexes_.emplace_back(rule.pattern.substr(3), std::regex::ECMAScript);
        } catch (const std::regex_error& e) {
          throw Error(ErrorCode::invalid_argument,
                      "rule pattern '" + rule.pattern + "' is not a valid regular expression: " + e.what());
        }
      } else {
        regexes_.emplace_back();
      }
    }
  }

  const TensorRule* match(const std::string& name) const {
    for (std::size_t i = 0; i < rules_.size(); ++i) {
      const bool hit = rules_[i].pattern.starts_with("re:") ? std::regex_match(name, regexes_[i])
                                                            : rules_[i].matches(name);
      if (hit) return &rules_[i];
    }
    return nullptr;
  }

 private:
  const std::vector<TensorRule>& rules_;
  std::vector<std::regex> regexes_;
};

namespace {

std::string rule_text(const TensorRule& rule) {
  return "rule " + rule.pattern + "=" + (rule.format ? std::string(format_name(*rule.format)) : "keep");
}

bool same_name(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

bool is_float_format(Format f) { return f == Format::f32 || f == Format::f16 || f == Format::bf16; }

TensorDecision decide(const SourceTensor& t, const QuantPlan& plan, const RuleSet& rules, bool gguf_output,
                      MixPlanner* mix, Format default_format, bool* by_default = nullptr) {
  TensorDecision d{t.name, t.shape, t.format_in, std::nullopt, "default", std::nullopt, std::nullopt};
  if (by_default != nullptr) *by_default = false;
  if (const TensorRule* rule = rules.match(t.name)) {
    d.target = rule->format;
    d.reason = rule_text(*rule);
  } else if (!t.floating) {
    d.reason = "kept: not a float tensor qlinear can read";
  } else if (t.shape.size() < 2 && plan.keep_1d) {
    d.reason = t.shape.empty() ? "kept: scalar" : "kept: 1-D";
  } else if (mix != nullptr) {
    MixChoice choice = mix->choose(t);
    d.target = choice.format;
    d.reason = std::move(choice.reason);
  } else {
    d.target = default_format;
    // Decided by the default, whatever the checks below do with it (a size budget chooses it).
    if (by_default != nullptr) *by_default = t.floating && !t.shape.empty() && element_count(t.shape) != 0;
  }

  if (d.target) {
    if (!t.floating) {
      d.reason += ", kept: " + t.format_in + " cannot be dequantized by qlinear";
      d.target.reset();
    } else if (t.shape.empty() || element_count(t.shape) == 0) {
      d.reason += ", kept: no values to quantize";
      d.target.reset();
    } else if (same_name(t.format_in, format_name(*d.target))) {
      d.reason += ", kept: already " + t.format_in;
      d.target.reset();
    }
  }
  if (d.target && gguf_output) {
    const FormatInfo& info = format_info(*d.target);
    const std::uint64_t cols = t.shape.back();
    const bool bf16_input = same_name(t.format_in, "bf16");
    Format fallback = plan.fallback.value_or(bf16_input ? Format::bf16 : Format::f16);
    std::string why;
    if (!info.affine && cols % info.block_size != 0) {
      why = "row length " + std::to_string(cols) + " is not a multiple of " + std::to_string(info.block_size);
      const auto partner = smaller_block_fallback(*d.target);
      if (!plan.fallback && partner && cols % format_info(*partner).block_size == 0) fallback = *partner;
    } else if (info.affine && affine_zero_point_name(t.name).size() > kGgufMaxName) {
      why = "name too long for the affine scale tensors";
      if (format_info(fallback).affine) fallback = bf16_input ? Format::bf16 : Format::f16;
    }
    if (!why.empty()) {
      const FormatInfo& fb = format_info(fallback);
      if (!fb.affine && cols % fb.block_size != 0) {
        throw Error(ErrorCode::invalid_argument,
                    "tensor '" + t.name + "': the fallback format " + std::string(fb.name) +
                        " cannot hold rows of " + std::to_string(cols) + " either");
      }
      d.reason = (d.reason == "default" ? "" : d.reason + ", ") + "fallback to " + std::string(fb.name) +
                 ": " + why;
      d.target = fallback;
    }
  }
  if (!gguf_output) {
    if (d.target && !is_float_format(*d.target)) {
      throw Error(ErrorCode::invalid_argument,
                  "tensor '" + t.name + "' would be " + std::string(format_name(*d.target)) +
                      ", but a safetensors file holds f32, f16 and bf16 only: write a .gguf file, "
                      "or choose a float format");
    }
    if (!d.target && t.safetensors_dtype.empty()) {
      throw Error(ErrorCode::unsupported, "tensor '" + t.name + "' (" + t.format_in +
                                              ") is kept as it is, and a safetensors file cannot hold it");
    }
  }
  if (gguf_output && !d.target && t.ggml_type == kNoGgmlType && !t.affine_format) {
    throw Error(ErrorCode::unsupported, "tensor '" + t.name + "' (" + t.format_in +
                                            ") is kept as it is, and a GGUF file cannot hold it");
  }
  if (gguf_output && !d.target && !t.copy_note.empty()) d.reason += " (" + t.copy_note + ")";
  return d;
}

}  // namespace

TensorDecider::TensorDecider(const QuantPlan& plan, bool gguf_output)
    : plan_(plan), gguf_output_(gguf_output), rules_(std::make_unique<RuleSet>(plan.rules)) {}

TensorDecider::~TensorDecider() = default;

TensorDecision TensorDecider::decide(const SourceTensor& t, Format default_format, bool& by_default) const {
  return model::decide(t, plan_, *rules_, gguf_output_, nullptr, default_format, &by_default);
}

std::vector<std::uint64_t> gguf_shape(const std::vector<std::uint64_t>& shape) {
  if (shape.empty()) return {1};
  if (shape.size() <= 4) return shape;
  std::vector<std::uint64_t> out(shape.end() - 4, shape.end());
  for (std::size_t i = 0; i + 4 < shape.size(); ++i) out[0] *= shape[i];
  return out;
}

std::vector<TensorDecision> decide_all(const ModelSource& source, const QuantPlan& plan, bool gguf_output) {
  const RuleSet rules(plan.rules);
  const auto& tensors = source.tensors();
  std::optional<MixPlanner> mix;
  if (plan.mix) {
    if (auto model = MixModel::of(source)) {
      model->has_imatrix = plan.importance != nullptr;
      mix.emplace(*plan.mix, plan.pure, std::move(*model));
    }
  }
  if (!mix) {
    std::vector<TensorDecision> decisions;
    for (const SourceTensor& t : tensors) {
      decisions.push_back(decide(t, plan, rules, gguf_output, nullptr, plan.default_format));
    }
    return decisions;
  }
  // A mix counts tensors as llama-quantize meets them: decide in its order, report in the file's.
  std::vector<std::optional<TensorDecision>> by_index(tensors.size());
  for (std::size_t i : MixPlanner::visit_order(tensors)) {
    by_index[i] = decide(tensors[i], plan, rules, gguf_output, &*mix, plan.default_format);
  }
  std::vector<TensorDecision> decisions;
  for (auto& d : by_index) decisions.push_back(std::move(*d));
  return decisions;
}

std::uint64_t element_count(const std::vector<std::uint64_t>& shape) {
  std::uint64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

}  // namespace qlinear::model
