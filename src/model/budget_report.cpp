// A size budget in the reports: the totals, and per tensor the choice among its alternatives, as a
// table for people and as JSON.

#include "core/text_table.hpp"
#include "model/budget.hpp"
#include "model/plan.hpp"
#include "model/json_values.hpp"

#include <ostream>

namespace qlinear::model {
namespace {

double bits(std::uint64_t bytes, std::uint64_t weights) {
  return weights == 0 ? 0.0 : static_cast<double>(bytes) * 8.0 / static_cast<double>(weights);
}

std::string measure_text(const std::vector<TensorDecision>& decisions) {
  bool output = false, importance = false, weight = false;
  for (const auto& d : decisions) {
    if (!d.budget) continue;
    output = output || d.budget->measure == "output";
    importance = importance || d.budget->measure == "importance";
    weight = weight || d.budget->measure == "weight";
  }
  std::string s;
  if (output) s += "‖X(W−Q)ᵀ‖² on the calibration data";
  if (importance) s += std::string(s.empty() ? "" : "; ") + "Σ imp·(w−q)² with the importance matrix";
  if (weight) s += std::string(s.empty() ? "" : "; ") + "Σ (w−q)²";
  return s;
}

}  // namespace

std::string describe_alternative(const BudgetAlternative& a, std::uint64_t elements) {
  return a.candidate.name() + " " + core::format_fixed(bits(a.bytes, elements), 2) + ":" +
         core::format_significant(a.error, 3);
}

void print_budget_plan(std::ostream& out, const BudgetSummary& s, const std::vector<TensorDecision>& decisions) {
  out << "size budget: target " << core::format_fixed(s.target_bits_per_weight, 3) << " bits/weight = at most "
      << core::format_count(s.budget_bytes) << " bytes for " << core::format_count(s.weights) << " weights; planned "
      << core::format_count(s.planned_bytes) << " bytes (" << core::format_fixed(bits(s.planned_bytes, s.weights), 4)
      << " bits/weight; least reachable " << core::format_fixed(s.min_bits_per_weight, 3) << "), of which "
      << core::format_count(s.fixed_bytes) << " kept or ruled\n";
  out << "  " << s.tensors << " tensors decided from " << s.measurements << " measurements in "
      << core::format_fixed(s.seconds, 2) << " s; total error " << core::format_significant(s.error, 4) << " ("
      << measure_text(decisions) << ")" << (s.exact ? ", the exact optimum" : ", bytes bucketed then refined")
      << "\n";
  using core::Table;
  Table table({{"tensor", Table::Align::left},
               {"shape", Table::Align::left},
               {"choice", Table::Align::left},
               {"bits"},
               {"error"},
               {"alternatives: bits/weight:error, by size", Table::Align::left}});
  for (const auto& d : decisions) {
    if (!d.budget) continue;
    const std::uint64_t n = element_count(d.shape);
    const BudgetAlternative& c = d.budget->alternatives[d.budget->chosen];
    std::string others;
    for (std::size_t k = 0; k < d.budget->alternatives.size(); ++k) {
      if (k == d.budget->chosen) continue;
      others += (others.empty() ? "" : ", ") + describe_alternative(d.budget->alternatives[k], n);
    }
    table.add_row({d.name, core::format_shape(d.shape), c.candidate.name() + (c.note.empty() ? "" : " (fallback)"),
                   core::format_fixed(bits(c.bytes, n), 2), core::format_significant(c.error, 3), others});
  }
  table.print(out);
}

nlohmann::json budget_json(const BudgetChoice& choice, const std::vector<std::uint64_t>& shape) {
  const std::uint64_t n = element_count(shape);
  nlohmann::json alternatives = nlohmann::json::array();
  for (std::size_t k = 0; k < choice.alternatives.size(); ++k) {
    const BudgetAlternative& a = choice.alternatives[k];
    nlohmann::json j = {{"candidate", a.candidate.name()},
                        {"format", std::string(format_name(a.candidate.format))},
                        {"bytes", a.bytes},
                        {"bits_per_weight", bits(a.bytes, n)},
                        {"error", finite_or_null(a.error)},
                        {"chosen", k == choice.chosen}};
    if (!a.note.empty()) j["note"] = a.note;
    alternatives.push_back(std::move(j));
  }
  return {{"measure", choice.measure},
          {"choice", choice.alternatives[choice.chosen].candidate.name()},
          {"alternatives", std::move(alternatives)}};
}

nlohmann::json budget_json(const BudgetSummary& s) {
  return {{"target_bits_per_weight", s.target_bits_per_weight},
          {"weights", s.weights},
          {"budget_bytes", s.budget_bytes},
          {"planned_bytes", s.planned_bytes},
          {"planned_bits_per_weight", bits(s.planned_bytes, s.weights)},
          {"fixed_bytes", s.fixed_bytes},
          {"min_bits_per_weight", s.min_bits_per_weight},
          {"error", finite_or_null(s.error)},
          {"tensors", s.tensors},
          {"measurements", s.measurements},
          {"exact", s.exact},
          {"seconds", s.seconds}};
}

}  // namespace qlinear::model
