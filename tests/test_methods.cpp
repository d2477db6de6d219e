// Calibration statistics and the code-choosing methods (search, gptq): exact small cases, and the
// output error on the bundled real weights with their real inputs (skipped when ../shared/data is
// absent).

#include "test_support.hpp"

#include <qlinear/calibration.hpp>
#include <qlinear/error.hpp>
#include <qlinear/tensor.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace qlinear {
namespace {

// Small integers: every product and sum below is exact in double, so any summation order gives the
// same XᵀX, and the statistics can be compared bit for bit.
std::vector<float> small_integers(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-20, 20);
  std::vector<float> x(n);
  for (float& v : x) v = static_cast<float>(dist(rng));
  return x;
}

// XᵀX and Σx² computed directly in double.
std::vector<double> direct_xtx(const std::vector<float>& x, std::size_t rows, std::size_t n) {
  std::vector<double> m(n * n, 0.0);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < n; ++j) {
        m[i * n + j] += static_cast<double>(x[r * n + i]) * static_cast<double>(x[r * n + j]);
      }
    }
  }
  return m;
}

TEST(Calibration, AddEqualsTheDirectSumAndMergeEqualsOneAddOfTheConcatenation) {
  constexpr std::size_t n = 37, rows_a = 300, rows_b = 45;  // > one 256-row chunk
  const std::vector<float> a = small_integers(rows_a * n, 1), b = small_integers(rows_b * n, 2);
  std::vector<float> both(a);
  both.insert(both.end(), b.begin(), b.end());

  Calibration whole(n);
  whole.add(both, rows_a + rows_b);
  Calibration first(n), second(n), split(n);
  first.add(a, rows_a);
  second.add(b, rows_b);
  first.merge(second);
  split.add(a, rows_a);
  split.add(b, rows_b);

  const std::vector<double> expected = direct_xtx(both, rows_a + rows_b, n);
  ASSERT_EQ(whole.xtx().size(), n * n);
  for (std::size_t i = 0; i < n * n; ++i) {
    ASSERT_EQ(whole.xtx()[i], expected[i]) << i;
    ASSERT_EQ(first.xtx()[i], expected[i]) << i;
    ASSERT_EQ(split.xtx()[i], expected[i]) << i;
  }
  EXPECT_EQ(whole.rows(), rows_a + rows_b);
  EXPECT_EQ(first.rows(), rows_a + rows_b);
}

TEST(Calibration, RealValuedAddMatchesDoubleWithinRoundingOfTheSum) {
  constexpr std::size_t n = 19, rows = 513;
  const std::vector<float> x = test::gaussian(rows * n, 7);
  Calibration c(n);
  c.add(x, rows);
  const std::vector<double> expected = direct_xtx(x, rows, n);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      // Products of floats are exact in double; only the rows additions round, each by at most
      // eps·|partial sum| <= eps·Σ|x_i x_j|.
      double bound = 0.0;
      for (std::size_t r = 0; r < rows; ++r) bound += std::fabs(double(x[r * n + i]) * double(x[r * n + j]));
      bound *= rows * std::numeric_limits<double>::epsilon();
      EXPECT_NEAR(c.xtx()[i * n + j], expected[i * n + j], bound);
      EXPECT_EQ(c.xtx()[i * n + j], c.xtx()[j * n + i]);
    }
  }
}

TEST(Calibration, ImportanceIsTheMeanSquarePerColumn) {
  constexpr std::size_t n = 5, rows = 4;
  std::vector<float> x(rows * n);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 2.5f;
  Calibration c(n);
  EXPECT_EQ(c.importance(), std::vector<float>(n, 0.0f));
  c.add(x, rows);
  const std::vector<float> imp = c.importance();
  const std::vector<double> s2 = c.sum_squares();
  for (std::size_t j = 0; j < n; ++j) {
    double sum = 0.0;
    for (std::size_t r = 0; r < rows; ++r) sum += double(x[r * n + j]) * double(x[r * n + j]);
    EXPECT_EQ(s2[j], sum);
    EXPECT_EQ(imp[j], static_cast<float>(sum / rows));
  }
}

TEST(Calibration, ErrorsNameTheProblemAndLeaveTheStatisticsUnchanged) {
  Calibration c(3);
  EXPECT_THROW(Calibration(0), Error);
  try {
    c.add(std::vector<float>(5), 2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::size_mismatch);
  }
  std::vector<float> x = {1, 2, 3, 4, std::numeric_limits<float>::quiet_NaN(), 6};
  try {
    c.add(x, 2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::non_finite);
    EXPECT_NE(std::string(e.what()).find("row 1, column 1"), std::string::npos) << e.what();
  }
  EXPECT_EQ(c.rows(), 0u);
  for (double v : c.xtx()) EXPECT_EQ(v, 0.0);
  x[4] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(c.add(x, 2), Error);
  try {
    c.merge(Calibration(4));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::size_mismatch);
  }
  EXPECT_THROW(Calibration::from_statistics(2, std::vector<double>{1, 2, 3, 1}, 1), Error);  // not symmetric
  EXPECT_THROW(Calibration::from_statistics(2, std::vector<double>{1, 0, 0}, 1), Error);     // size
  const Calibration s = Calibration::from_statistics(2, std::vector<double>{4, 1, 1, 2}, 2);
  EXPECT_EQ(s.importance(), (std::vector<float>{2.0f, 1.0f}));
}

}  // namespace
}  // namespace qlinear
