#pragma once
// A size budget for a model (QuantPlan::target_bits_per_weight): measure every candidate format on
// every tensor the defaults would quantize, then choose one per tensor to minimize the total error
// within the bytes the target allows. docs/budget.md.

#include "model/source.hpp"

#include <qlinear/model.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <vector>

namespace qlinear::model {

// ---- The choice: a multiple-choice knapsack ----

struct BudgetOption {
  std::uint64_t bytes = 0;
  double error = 0;  // >= 0
};

struct BudgetSolution {
  std::vector<std::size_t> choice;  // one option index per group
  std::uint64_t bytes = 0;
  double error = 0;
  bool exact = true;  // the least total error of all assignments within the budget
};

// The DP's table is groups × (capacity + 1) cells of 2 bytes; above `max_cells` (16 MiB of table)
// bytes are counted in buckets. A model's worth of tensors then still gets thousands of buckets each.
inline constexpr std::uint64_t kBudgetMaxCells = std::uint64_t{1} << 23;

// One option per group (each group needs at least one), Σ bytes <= budget, Σ error least. Exact
// dynamic programming over the bytes above each group's smallest option, counted in units of their
// greatest common divisor; where that table would exceed `max_cells`, in coarser buckets, each
// option's bytes rounded up (so the budget still holds), followed by a greedy pass that spends the
// bytes the rounding left on the single changes that lower the error most. Among options of equal
// total error the one listed first wins (list them by ascending bytes). Empty when even the smallest options exceed the budget.
std::optional<BudgetSolution> solve_budget(const std::vector<std::vector<BudgetOption>>& groups, std::uint64_t budget,
                                           std::uint64_t max_cells = kBudgetMaxCells);

// ---- Bytes ----

// The bytes quantize_model() writes for tensor `index` decided as `d` (a target's affine layout from
// d.affine, else `plan_affine`): a block format's whole blocks per row, an affine tensor's codes,
// scales and zero points, a kept tensor's bytes as copied.
std::uint64_t planned_bytes(const ModelSource& source, std::size_t index, const TensorDecision& d,
                            const AffineOptions& plan_affine);

// The most bytes whose bits per weight, computed as ModelReport::bits_per_weight() computes it,
// stay at or below `target` for `weights` weights.
std::uint64_t budget_bytes(double target, std::uint64_t weights);

// ---- The plan ----

// decide_all() with the budget's choices for the tensors the defaults decide: measures every
// candidate (quantized as quantize_model() quantizes it) and solves. Error(invalid_argument) for a
// target that is not a finite number > 0, a mix, a candidate that holds no tensor's rows, or a target
// below the least reachable (named).
std::vector<TensorDecision> decide_with_budget(const ModelSource& source, const QuantPlan& plan, bool gguf_output,
                                               BudgetSummary& summary);

// After writing: the bytes written must be the ones planned (Error(internal) otherwise: the output is
// not kept).
void check_budget_bytes(const ModelReport& report, const BudgetSummary& summary);

// ---- The report ----

// The totals, then one row per tensor the budget decided: its choice, and every alternative's bits
// per weight (of that tensor) and error. The report prints it after its table; --dry-run alone.
void print_budget_plan(std::ostream& out, const BudgetSummary& summary, const std::vector<TensorDecision>& decisions);
// "i4/g32/mse 5.07:1.2e-03": the candidate, its bits per weight on a tensor of `elements`, its error.
std::string describe_alternative(const BudgetAlternative& a, std::uint64_t elements);

// The report's JSON: a tensor's "budget" object (its alternatives), and the totals' "budget".
nlohmann::json budget_json(const BudgetChoice& choice, const std::vector<std::uint64_t>& shape);
nlohmann::json budget_json(const BudgetSummary& summary);

}  // namespace qlinear::model
