// The size budget (QuantPlan::target_bits_per_weight): the choice against brute force, the bytes
// against the files written, the errors against double-precision sums made here, and the bundled
// real weights against uniform q5_0 on held-out inputs.

#include "model/budget.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

#include <qlinear/calibration_file.hpp>
#include <qlinear/gguf.hpp>
#include <qlinear/model.hpp>
#include <qlinear/safetensors.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <random>

namespace qlinear {
namespace {

using model::BudgetOption;
using model::solve_budget;
using Groups = std::vector<std::vector<BudgetOption>>;

// Every assignment: the least error within the budget (NaN when none fits).
double brute_force(const Groups& groups, std::uint64_t budget) {
  double best = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::size_t> pick(groups.size(), 0);
  for (;;) {
    std::uint64_t bytes = 0;
    double error = 0;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      bytes += groups[g][pick[g]].bytes;
      error += groups[g][pick[g]].error;
    }
    if (bytes <= budget && !(error >= best)) best = error;
    std::size_t g = 0;
    while (g < groups.size() && ++pick[g] == groups[g].size()) pick[g++] = 0;
    if (g == groups.size()) return best;
  }
}

Groups random_groups(std::mt19937& rng, std::size_t n, std::uint64_t max_bytes) {
  Groups groups(n);
  for (auto& g : groups) {
    const std::size_t k = 1 + rng() % 5;
    for (std::size_t i = 0; i < k; ++i) {
      // Some dominated options (more bytes and more error) and some equal errors on purpose.
      g.push_back({1 + rng() % max_bytes, static_cast<double>(rng() % 50) / 7.0});
    }
  }
  return groups;
}

TEST(BudgetSolver, OptimalAgainstBruteForceOnSmallCases) {
  std::mt19937 rng(20261128);
  int checked = 0;
  for (int trial = 0; trial < 600; ++trial) {
    const std::size_t n = 3 + trial % 3;  // 3 to 5 tensors
    const Groups groups = random_groups(rng, n, trial % 2 ? 40 : 5000);
    std::uint64_t least = 0, most = 0;
    for (const auto& g : groups) {
      std::uint64_t lo = g[0].bytes, hi = g[0].bytes;
      for (const auto& o : g) lo = std::min(lo, o.bytes), hi = std::max(hi, o.bytes);
      least += lo, most += hi;
    }
    const std::uint64_t budget = least + rng() % (most - least + 2) - (trial % 7 == 0 ? 1 : 0);
    const double expected = brute_force(groups, budget);
    const auto s = solve_budget(groups, budget);
    if (std::isnan(expected)) {
      EXPECT_FALSE(s.has_value()) << "trial " << trial;
      continue;
    }
    ASSERT_TRUE(s.has_value()) << "trial " << trial;
    EXPECT_TRUE(s->exact);
    std::uint64_t bytes = 0;
    double error = 0;
    for (std::size_t g = 0; g < n; ++g) bytes += groups[g][s->choice[g]].bytes, error += groups[g][s->choice[g]].error;
    EXPECT_EQ(bytes, s->bytes);
    EXPECT_LE(bytes, budget) << "trial " << trial;
    // Sums of the same few multiples of 1/7 in another order: equal up to the last bits.
    EXPECT_NEAR(error, expected, 1e-12 * (1 + expected)) << "trial " << trial;
    ++checked;
  }
  EXPECT_GT(checked, 400);
}

// With a table too small for the bytes, the buckets round up: the budget still holds, and the
// refinement leaves no single change that fits and lowers the error.
TEST(BudgetSolver, BucketedChoiceKeepsTheBudgetAndCannotBeImprovedByOneChange) {
  std::mt19937 rng(7);
  int bucketed = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const Groups groups = random_groups(rng, 5, 1'000'000);
    std::uint64_t least = 0;
    for (const auto& g : groups) {
      std::uint64_t lo = g[0].bytes;
      for (const auto& o : g) lo = std::min(lo, o.bytes);
      least += lo;
    }
    const std::uint64_t budget = least + rng() % 2'000'000;
    const auto s = solve_budget(groups, budget, /*max_cells=*/600);
    ASSERT_TRUE(s.has_value());
    EXPECT_LE(s->bytes, budget);
    bucketed += s->exact ? 0 : 1;
    for (std::size_t g = 0; g < groups.size(); ++g) {
      const BudgetOption& now = groups[g][s->choice[g]];
      for (const auto& o : groups[g]) {
        if (o.bytes <= now.bytes || o.bytes - now.bytes <= budget - s->bytes) {
          EXPECT_GE(o.error, now.error);
        }
      }
    }
    // And at least as good as the best assignment within the budget less one bucket per tensor (each
    // option's bytes are rounded up by less than a bucket). The bucket: whole units of the gcd of
    // the excess bytes, enough of them for (600 cells / 5 tensors − 1) buckets to span the capacity.
    std::uint64_t gcd = 0;
    for (const auto& g : groups) {
      std::uint64_t lo = g[0].bytes;
      for (const auto& o : g) lo = std::min(lo, o.bytes);
      for (const auto& o : g) gcd = std::gcd(gcd, o.bytes - lo);
    }
    if (gcd == 0) continue;
    const std::uint64_t units = (budget - least) / gcd, bucket = gcd * ((units + 118) / 119);
    const std::uint64_t slack = 5 * bucket;
    const double shrunk = brute_force(groups, budget >= least + slack ? budget - slack : least);
    if (!std::isnan(shrunk)) {
      EXPECT_LE(s->error, shrunk + 1e-9) << "trial " << trial;
    }
  }
  EXPECT_GT(bucketed, 150);
}

// Even a table of one cell per tensor (more tensors than max_cells) gives a choice within the budget.
TEST(BudgetSolver, TinyTablesStillKeepTheBudget) {
  std::mt19937 rng(3);
  for (std::uint64_t cells : {1u, 3u, 10u}) {
    const Groups groups = random_groups(rng, 5, 1000);
    std::uint64_t most = 0;
    for (const auto& g : groups) {
      std::uint64_t hi = 0;
      for (const auto& o : g) hi = std::max(hi, o.bytes);
      most += hi;
    }
    for (std::uint64_t budget : {most / 2, most}) {
      const auto s = solve_budget(groups, budget, cells);
      if (!s) continue;  // below the smallest options
      EXPECT_LE(s->bytes, budget);
      if (budget == most) {  // every assignment fits: the refinement reaches each group's least error
        EXPECT_DOUBLE_EQ(s->error, brute_force(groups, budget));
      }
    }
  }
}

TEST(BudgetSolver, NothingFitsBelowTheSmallestOptions) {
  const Groups groups = {{{10, 1.0}, {20, 0.5}}, {{5, 2.0}}};
  EXPECT_FALSE(solve_budget(groups, 14).has_value());
  EXPECT_TRUE(solve_budget({}, 0).has_value());  // no tensor to decide
  ASSERT_TRUE(solve_budget(groups, 15).has_value());
  EXPECT_EQ(solve_budget(groups, 15)->choice, (std::vector<std::size_t>{0, 0}));
  EXPECT_EQ(solve_budget(groups, 25)->choice, (std::vector<std::size_t>{1, 0}));
}

TEST(BudgetBytes, LargestCountWithinTheTarget) {
  for (std::uint64_t weights : {1ull, 7ull, 1000ull, 2339640ull, 123456789ull}) {
    for (double target : {0.1, 1.0, 4.8, 4.5, 5.5, 8.5, 16.0}) {
      const std::uint64_t b = model::budget_bytes(target, weights);
      if (b > 0) {
        EXPECT_LE(static_cast<double>(b) * 8.0 / static_cast<double>(weights), target);
      }
      EXPECT_GT(static_cast<double>(b + 1) * 8.0 / static_cast<double>(weights), target);
    }
  }
}

TEST(QuantCandidate, NamesParseBack) {
  using G = AffineOptions::Granularity;
  EXPECT_EQ(QuantCandidate::parse("q4_K").name(), "q4_K");
  const QuantCandidate a = QuantCandidate::parse("i4/g64/asym/mse");
  EXPECT_EQ(a.format, Format::i4);
  EXPECT_EQ(a.affine.granularity, G::group);
  EXPECT_EQ(a.affine.group_size, 64u);
  EXPECT_FALSE(a.affine.symmetric);
  EXPECT_EQ(a.affine.calibration, AffineOptions::Calibration::mse);
  EXPECT_EQ(a.name(), "i4/g64/asym/mse");
  EXPECT_EQ(QuantCandidate::parse(a.name()), a);
  EXPECT_EQ(QuantCandidate::parse("i8/channel/p99.9").name(), "i8/channel/p99.9");
  // Words left out come from the base options.
  AffineOptions base{.symmetric = false, .granularity = G::group, .group_size = 128};
  EXPECT_EQ(QuantCandidate::parse("i4", base).name(), "i4/g128/asym");
  EXPECT_EQ(QuantCandidate::parse("i4/sym", base).name(), "i4/g128");
  EXPECT_EQ(QuantCandidate::parse("i4/channel", base).name(), "i4/channel/asym");
  EXPECT_EQ(test::error_code_of([] { QuantCandidate::parse("q3_0"); }), ErrorCode::unknown_format);
  EXPECT_EQ(test::error_code_of([] { QuantCandidate::parse("i4/g12"); }), ErrorCode::invalid_argument);
  EXPECT_EQ(test::error_code_of([] { QuantCandidate::parse("i4/wide"); }), ErrorCode::invalid_argument);
  EXPECT_EQ(test::error_code_of([] { QuantCandidate::parse("q4_0/g32"); }), ErrorCode::invalid_argument);
}

TEST(QuantCandidate, DefaultSetHasAffineGroupsThatFitTheRow) {
  std::vector<std::string> names;
  for (const auto& c : default_candidates(120, 4.8)) names.push_back(c.name());
  const std::vector<std::string> expected = {
      "q2_K",   "q3_K",           "q4_K",          "q5_K",        "q6_K",           "iq4_xs",
      "q4_0",   "q4_1",           "q5_0",          "q5_1",        "q8_0",           "iq4_nl",
      "i4/channel/mse", "i4/channel/asym/mse", "i4/g64/mse", "i4/g64/asym/mse", "i4/g32/asym/mse",
      "i8/channel"};
  EXPECT_EQ(names, expected);
  names.clear();
  for (const auto& c : default_candidates(480, 9.0)) names.push_back(c.name());
  // 480 inputs: 15 groups of 32, 8 of 64 (60 rounded up to a multiple of 8), 4 of 120; f16 above 8.5.
  EXPECT_NE(std::find(names.begin(), names.end(), "i4/g32/asym/mse"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "i4/g64/mse"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "i4/g120/mse"), names.end());
  EXPECT_EQ(names.back(), "f16");
}

}  // namespace
}  // namespace qlinear
