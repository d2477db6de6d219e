// The budget's choice: one option per tensor, least Σ error with Σ bytes within the budget (a
// multiple-choice knapsack). Dynamic programming rather than a Lagrangian sweep: a sweep of λ finds
// only the points on the lower convex hull of the (bytes, error) trade-off, and a greedy fill of the
// gap it leaves is not optimal; the table is exact, and small enough in the usual case (tens to
// hundreds of tensors, a budget counted in units of the gcd of the byte differences).

#include "model/budget.hpp"

#include <qlinear/error.hpp>

#include <algorithm>
#include <limits>
#include <numeric>

namespace qlinear::model {
namespace {

// Spends the bytes left under the budget on single changes, each time the one that lowers the
// error most, until none fits. Only after bucketing: an exact solution has no such change.
void refine(const std::vector<std::vector<BudgetOption>>& groups, std::uint64_t budget, BudgetSolution& s) {
  for (;;) {
    const std::uint64_t left = budget - s.bytes;
    std::size_t best_group = groups.size(), best_option = 0;
    double best_gain = 0;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const BudgetOption& now = groups[g][s.choice[g]];
      for (std::size_t k = 0; k < groups[g].size(); ++k) {
        const BudgetOption& o = groups[g][k];
        if (o.bytes > now.bytes && o.bytes - now.bytes > left) continue;
        const double gain = now.error - o.error;
        if (gain > best_gain) best_gain = gain, best_group = g, best_option = k;
      }
    }
    if (best_group == groups.size()) return;
    const BudgetOption &from = groups[best_group][s.choice[best_group]], &to = groups[best_group][best_option];
    s.bytes = s.bytes - from.bytes + to.bytes;
    s.error = s.error - from.error + to.error;
    s.choice[best_group] = best_option;
  }
}

}  // namespace

std::optional<BudgetSolution> solve_budget(const std::vector<std::vector<BudgetOption>>& groups, std::uint64_t budget,
                                           std::uint64_t max_cells) {
  const std::size_t n = groups.size();
  if (n == 0) return BudgetSolution{};  // nothing to choose (every tensor kept or ruled)
  std::vector<std::uint64_t> least(n);
  std::uint64_t base = 0;
  for (std::size_t g = 0; g < n; ++g) {
    if (groups[g].empty()) throw Error(ErrorCode::internal, "budget: a tensor without alternatives");
    least[g] = groups[g][0].bytes;
    for (const auto& o : groups[g]) least[g] = std::min(least[g], o.bytes);
    if (base > std::numeric_limits<std::uint64_t>::max() - least[g]) return std::nullopt;
    base += least[g];
  }
  if (base > budget) return std::nullopt;
  const std::uint64_t capacity = budget - base;  // bytes above every group's smallest option

  // Bytes in units of the gcd of every option's excess over its group's smallest: exact.
  std::uint64_t unit = 0;
  for (std::size_t g = 0; g < n; ++g) {
    for (const auto& o : groups[g]) unit = std::gcd(unit, o.bytes - least[g]);
  }
  BudgetSolution s;
  s.choice.assign(n, 0);
  // unit 0: every option of its group the same size, so only errors to compare (one cell).
  std::uint64_t width = unit == 0 ? 0 : capacity / unit;
  if (unit == 0) unit = 1;
  const std::uint64_t per_group = max_cells / std::max<std::size_t>(n, 1);
  const std::uint64_t most_width = per_group > 2 ? per_group - 1 : 1;  // at least two cells per group
  if (width > most_width) {
    // Coarser buckets of a whole number of units; each option's excess rounded up to buckets, so a
    // solution of the table is within the budget.
    const std::uint64_t per = (width + most_width - 1) / most_width;
    unit *= per;
    width = capacity / unit;
    s.exact = false;
  }
  const std::size_t cells = static_cast<std::size_t>(width) + 1;
  const auto weight = [&](std::size_t g, std::size_t k) {
    const std::uint64_t excess = groups[g][k].bytes - least[g];
    return (excess + unit - 1) / unit;
  };

  // best[j]: the least error of the groups so far within j units; pick[g][j]: group g's option there.
  std::vector<double> best(cells, 0.0), next(cells);
  const std::size_t options = std::max_element(groups.begin(), groups.end(), [](const auto& a, const auto& b) {
                                return a.size() < b.size();
                              })->size();
  if (options > std::numeric_limits<std::uint16_t>::max()) {
    throw Error(ErrorCode::invalid_argument, "budget: more than 65535 candidates for one tensor");
  }
  std::vector<std::uint16_t> pick(n * cells);
  for (std::size_t g = 0; g < n; ++g) {
    std::fill(next.begin(), next.end(), std::numeric_limits<double>::infinity());
    std::uint16_t* row = &pick[g * cells];
    for (std::size_t k = 0; k < groups[g].size(); ++k) {
      const std::uint64_t w = weight(g, k);
      if (w > width) continue;
      const double e = groups[g][k].error;
      for (std::size_t j = static_cast<std::size_t>(w); j < cells; ++j) {
        const double total = best[j - w] + e;
        // Ties keep the option met first: callers list them by ascending bytes.
        if (total < next[j]) next[j] = total, row[j] = static_cast<std::uint16_t>(k);
      }
    }
    best.swap(next);
  }
  std::size_t j = cells - 1;
  for (std::size_t g = n; g-- > 0;) {
    const std::size_t k = pick[g * cells + j];
    s.choice[g] = k;
    j -= static_cast<std::size_t>(weight(g, k));
  }
  for (std::size_t g = 0; g < n; ++g) {
    s.bytes += groups[g][s.choice[g]].bytes;
    s.error += groups[g][s.choice[g]].error;
  }
  if (!s.exact) refine(groups, budget, s);
  return s;
}

}  // namespace qlinear::model
