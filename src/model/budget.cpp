// A size budget: which tensors it decides, what each candidate costs them (bytes, exactly as
// written) and what error it makes (quantized as quantize_model() quantizes it), and the choice.
// The measurements go one tensor at a time and keep only two numbers per candidate: the write that
// follows quantizes the chosen candidate again, the same way, so memory stays near one tensor.

#include "model/budget.hpp"

#include "model/affine_gguf.hpp"
#include "model/importance.hpp"
#include "model/output_error.hpp"
#include "model/plan.hpp"

#include <qlinear/error.hpp>
#include <qlinear/gguf.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

namespace qlinear::model {
namespace {

std::string bits_text(double bits) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", bits);
  return text;
}

// An alternative before it is measured: the decision it stands for.
struct Pending {
  BudgetAlternative alternative;
  TensorDecision decision;
};

// f32, f16, bf16: converted, not quantized (no method applies).
bool is_conversion(Format f) {
  const FormatInfo& info = format_info(f);
  return info.block_size == 1 && !info.affine;
}

// The options quantize_model() quantizes a tensor with (its quantize_tensor()): the plan's method,
// gptq without calibration data falling back to search, the tensor's importance entry.
QuantizeOptions options_for(const QuantPlan& plan, const TensorDecision& d, std::span<const float> importance,
                            const Calibration* calibration) {
  QuantizeOptions o{d.affine.value_or(plan.affine), importance};
  o.damping = plan.damping;
  if (!is_conversion(*d.target)) {
    o.method = plan.method;
    o.calibration = calibration;
    if (plan.method == Method::gptq && calibration == nullptr) o.method = Method::search;
  }
  return o;
}

// The bytes a quantized tensor is written as (quantize_model()'s write_tensor()).
std::uint64_t written_bytes(const QuantizedTensor& q) {
  if (!format_info(q.format()).affine) return gguf_tensor_bytes(q).size();
  std::uint64_t total = 0;
  for (const auto& part : affine_tensor_bytes(q)) total += part.size();
  return total;
}

// Σ imp_j (w − ŵ)² (imp = 1 without an entry), in double; one importance row per expert where the
// entry has one.
double weighted_error(std::span<const float> w, std::span<const float> restored, std::size_t rows, std::size_t cols,
                      std::span<const float> importance) {
  const std::size_t experts = importance.empty() ? 1 : importance.size() / cols;
  const std::size_t rows_per_expert = rows / experts;
  double total = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* imp = importance.empty() ? nullptr : importance.data() + (r / rows_per_expert) * cols;
    double row = 0;
    for (std::size_t c = 0; c < cols; ++c) {
      const double e = static_cast<double>(w[r * cols + c]) - restored[r * cols + c];
      row += (imp ? static_cast<double>(imp[c]) : 1.0) * e * e;
    }
    total += row;
  }
  return total;
}

// Measures every alternative of tensor `index`: its error, and its bytes checked against the plan's.
void measure_tensor(const ModelSource& source, std::size_t index, const QuantPlan& plan, std::vector<Pending>& alts,
                    std::string& measure) {
  const TensorDecision& any = alts.front().decision;
  try {
    const FloatValues floats = source.read_floats(index);
    const std::size_t cols = any.shape.back(), rows = floats.values.size() / cols;
    std::optional<Calibration> calibration;
    if (plan.calibration && plan.calibration->contains(any.name)) {
      const std::size_t in = plan.calibration->in_features(any.name);
      if (in != cols) {
        throw Error(ErrorCode::size_mismatch, "its calibration data in " + plan.calibration->path().string() +
                                                  " has " + std::to_string(in) + " inputs; its rows have " +
                                                  std::to_string(cols));
      }
      calibration = plan.calibration->calibration(any.name);
      plan.calibration->release(any.name);
    }
    measure = calibration ? "output" : "weight";
    std::vector<Pending> kept;
    for (Pending& p : alts) {
      if (!p.decision.target) {  // already in this format: copied, no error
        p.alternative.error = 0;
        kept.push_back(std::move(p));
        continue;
      }
      const auto importance = importance_for(plan, p.decision);
      if (!calibration && !importance.empty()) measure = "importance";
      QuantizedTensor q;
      try {
        q = quantize_with_importance(floats.values, rows, cols, *p.decision.target,
                                     options_for(plan, p.decision, importance, calibration ? &*calibration : nullptr));
      } catch (const Error& e) {
        // A method this format does not have yet (gptq for the K-quants): not a candidate here.
        if (e.code() == ErrorCode::unsupported) continue;
        throw;
      }
      if (written_bytes(q) != p.alternative.bytes) {
        throw Error(ErrorCode::internal, p.alternative.candidate.name() + " writes " +
                                             std::to_string(written_bytes(q)) + " bytes, planned " +
                                             std::to_string(p.alternative.bytes));
      }
      const std::vector<float> restored = dequantize(q);
      p.alternative.error = calibration ? output_error_sums(floats.values, restored, rows, *calibration, false).error2
                                        : weighted_error(floats.values, restored, rows, cols, importance);
      kept.push_back(std::move(p));
    }
    if (kept.empty()) {
      throw Error(ErrorCode::unsupported, "none of its candidates can be quantized with this method");
    }
    alts = std::move(kept);
  } catch (const Error& e) {
    throw Error(e.code(), "tensor '" + any.name + "': " + e.what());
  }
  source.release(index);
}

// The part of a decision's reason from `word` on ("kept: already F16", "fallback to q5_0: ...").
std::string reason_from(const std::string& reason, std::string_view word) {
  const std::size_t at = reason.find(word);
  return at == std::string::npos ? reason : reason.substr(at);
}

std::string row_lengths(const std::vector<std::uint64_t>& lengths) {
  std::string s;
  for (auto n : lengths) s += (s.empty() ? "" : ", ") + std::to_string(n);
  return s;
}

}  // namespace

std::uint64_t planned_bytes(const ModelSource& source, std::size_t index, const TensorDecision& d,
                            const AffineOptions& plan_affine) {
  const SourceTensor& t = source.tensors()[index];
  const auto sum_parts = [](const std::vector<PlannedTensor>& parts) {
    std::uint64_t total = 0;
    for (const auto& p : parts) total += element_count(p.shape) * (p.ggml_type == 0 ? 4 : 1);  // F32 or I8
    return total;
  };
  if (!d.target) {
    if (t.affine_format) return sum_parts(affine_tensors(t.name, t.shape, *t.affine_format, t.affine_options));
    return source.raw_bytes(index).size();
  }
  const FormatInfo& info = format_info(*d.target);
  if (info.affine) return sum_parts(affine_tensors(t.name, t.shape, *d.target, d.affine.value_or(plan_affine)));
  const std::uint64_t cols = t.shape.back();
  return element_count(t.shape) / cols * (cols / info.block_size) * info.block_bytes;
}

std::uint64_t budget_bytes(double target, std::uint64_t weights) {
  const auto bits = [&](std::uint64_t bytes) {  // as ModelReport::bits_per_weight()
    return static_cast<double>(bytes) * 8.0 / static_cast<double>(weights);
  };
  long double estimate = std::floor(static_cast<long double>(target) * weights / 8);
  std::uint64_t bytes = estimate <= 0 ? 0 : static_cast<std::uint64_t>(estimate);
  while (bytes > 0 && bits(bytes) > target) --bytes;
  while (bits(bytes + 1) <= target) ++bytes;
  return bytes;
}

std::vector<TensorDecision> decide_with_budget(const ModelSource& source, const QuantPlan& plan, bool gguf_output,
                                               BudgetSummary& summary) {
  const auto start = std::chrono::steady_clock::now();
  const double target = plan.target_bits_per_weight.value_or(NAN);
  if (!std::isfinite(target) || target <= 0) {
    throw Error(ErrorCode::invalid_argument,
                "the target bits per weight must be a finite number > 0, got " + std::to_string(target));
  }
  if (plan.mix) {
    throw Error(ErrorCode::invalid_argument, "a size budget and the mix " + std::string(mix_info(*plan.mix).name) +
                                                 " both choose every tensor's format: give one of them");
  }
  const auto& tensors = source.tensors();
  const TensorDecider decider(plan, gguf_output);
  std::vector<TensorDecision> decisions(tensors.size());
  std::vector<std::vector<Pending>> pending(tensors.size());
  std::vector<bool> used(plan.candidates.size(), false);
  std::vector<std::uint64_t> lengths;  // of the tensors the budget decides, for the error below
  summary = BudgetSummary{};
  summary.target_bits_per_weight = target;
  // A probe: which tensors the defaults decide, and the others' decisions, do not depend on the
  // default format; f16 is one every output can hold.
  const Format probe = Format::f16;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const SourceTensor& t = tensors[i];
    summary.weights += element_count(t.shape);
    bool by_default = false;
    decisions[i] = decider.decide(t, probe, by_default);
    if (!by_default) {
      summary.fixed_bytes += planned_bytes(source, i, decisions[i], plan.affine);
      continue;
    }
    const std::vector<QuantCandidate> candidates =
        plan.candidates.empty() ? default_candidates(t.shape.back(), target) : plan.candidates;
    std::vector<Pending> held, fallbacks;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      const QuantCandidate& c = candidates[k];
      if (!gguf_output && !is_conversion(c.format)) continue;  // safetensors holds floats only
      TensorDecision d = decider.decide(t, c.format, by_default);
      d.affine.reset();
      if (format_info(c.format).affine) d.affine = c.affine;
      if (!d.target || *d.target == c.format) {
        if (!plan.candidates.empty()) used[k] = true;
        BudgetAlternative a{c, 0, 0, d.target ? "" : reason_from(d.reason, "kept")};
        a.bytes = planned_bytes(source, i, d, plan.affine);
        held.push_back({std::move(a), std::move(d)});
      } else {  // a plain run would write a fallback
        const QuantCandidate fb(*d.target, plan.affine);
        const auto same = [&](const Pending& p) { return p.alternative.candidate == fb; };
        if (std::any_of(fallbacks.begin(), fallbacks.end(), same)) continue;  // two candidates, one fallback
        BudgetAlternative a{fb, 0, 0, "of " + c.name() + ": " + reason_from(d.reason, "fallback to")};
        a.bytes = planned_bytes(source, i, d, plan.affine);
        fallbacks.push_back({std::move(a), std::move(d)});
      }
    }
    pending[i] = held.empty() ? std::move(fallbacks) : std::move(held);
    if (pending[i].empty()) {
      throw Error(ErrorCode::invalid_argument,
                  "tensor '" + t.name + "': no candidate can be written to a safetensors file (f32, f16, bf16 only)");
    }
    std::stable_sort(pending[i].begin(), pending[i].end(), [](const Pending& a, const Pending& b) {
      return a.alternative.bytes < b.alternative.bytes;
    });
    lengths.push_back(t.shape.back());
    ++summary.tensors;
  }
  std::sort(lengths.begin(), lengths.end());
  lengths.erase(std::unique(lengths.begin(), lengths.end()), lengths.end());
  for (std::size_t k = 0; k < used.size() && summary.tensors > 0; ++k) {
    if (!used[k] && !gguf_output && !is_conversion(plan.candidates[k].format)) {
      throw Error(ErrorCode::invalid_argument, "candidate " + plan.candidates[k].name() +
                                                   ": a safetensors file holds f32, f16 and bf16 only");
    }
    if (!used[k]) {
      throw Error(ErrorCode::invalid_argument,
                  "candidate " + plan.candidates[k].name() + " cannot hold the rows of any tensor the budget decides " +
                      "(row lengths " + row_lengths(lengths) + ")");
    }
  }

  // Unreachable targets fail before anything is measured.
  summary.budget_bytes = budget_bytes(target, summary.weights);
  std::uint64_t least = summary.fixed_bytes;
  for (const auto& alts : pending) {
    if (!alts.empty()) least += alts.front().alternative.bytes;
  }
  const auto bits = [&](std::uint64_t bytes) {
    return summary.weights == 0 ? 0.0 : static_cast<double>(bytes) * 8.0 / static_cast<double>(summary.weights);
  };
  summary.min_bits_per_weight = bits(least);
  const auto unreachable = [&] {
    return Error(ErrorCode::invalid_argument,
                 "target " + bits_text(target) + " bits per weight is below the least this plan can reach: " +
                     bits_text(summary.min_bits_per_weight) + " (every tensor the budget decides in its smallest " +
                     "candidate, " + std::to_string(summary.fixed_bytes) + " bytes of kept and ruled tensors)");
  };
  if (least > summary.budget_bytes) throw unreachable();

  std::vector<std::vector<BudgetOption>> groups;
  std::vector<std::size_t> group_tensor;
  std::vector<std::string> measures(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (pending[i].empty()) continue;
    measure_tensor(source, i, plan, pending[i], measures[i]);
    summary.measurements += pending[i].size();
    std::vector<BudgetOption> options;
    for (const Pending& p : pending[i]) options.push_back({p.alternative.bytes, p.alternative.error});
    groups.push_back(std::move(options));
    group_tensor.push_back(i);
  }
  const auto solution = solve_budget(groups, summary.budget_bytes - summary.fixed_bytes);
  if (!solution) {  // candidates a method cannot quantize were dropped: the least grew
    least = summary.fixed_bytes;
    for (const auto& g : groups) least += g.front().bytes;
    summary.min_bits_per_weight = bits(least);
    throw unreachable();
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const std::size_t i = group_tensor[g], k = solution->choice[g];
    BudgetChoice choice;
    choice.chosen = k;
    choice.measure = measures[i];
    for (const Pending& p : pending[i]) choice.alternatives.push_back(p.alternative);
    TensorDecision d = std::move(pending[i][k].decision);
    const BudgetAlternative& a = choice.alternatives[k];
    d.reason = "budget: " + a.candidate.name() + " of " + std::to_string(choice.alternatives.size()) +
               (a.note.empty() ? "" : " (" + a.note + ")");
    d.budget = std::move(choice);
    decisions[i] = std::move(d);
  }
  summary.planned_bytes = summary.fixed_bytes + solution->bytes;
  summary.error = solution->error;
  summary.exact = solution->exact;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return decisions;
}

void check_budget_bytes(const ModelReport& report, const BudgetSummary& summary) {
  if (report.bytes_out != summary.planned_bytes) {
    throw Error(ErrorCode::internal, "the size budget planned " + std::to_string(summary.planned_bytes) +
                                         " bytes, but " + std::to_string(report.bytes_out) + " were written");
  }
}

}  // namespace qlinear::model
