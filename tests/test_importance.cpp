// Importance weights must steer the signed-scale searches the right way: the golden files pin the
// bytes for one set of weights, these checks pin the direction (more importance, less error there)
// and that weights of zero, which make some weighted sums vanish, still give finite blocks.

#include "formats/search_scale.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace qlinear {
namespace {

constexpr std::size_t kRows = 512, kCols = 512;

// Σ over rows of (w − ŵ)² in one column, in double.
double column_error(const std::vector<float>& w, const std::vector<float>& d, std::size_t column) {
  double sum = 0.0;
  for (std::size_t r = 0; r < kRows; ++r) {
    const double e = static_cast<double>(w[r * kCols + column]) - static_cast<double>(d[r * kCols + column]);
    sum += e * e;
  }
  return sum;
}

class ImportanceTest : public ::testing::TestWithParam<Format> {};

TEST_P(ImportanceTest, ConcentratedImportanceReproducesItsColumnBetterThanUniform) {
  const std::vector<float> w = test::gaussian(kRows * kCols, 20261128);
  const std::vector<float> uniform(kCols, 1.0f);
  const std::vector<float> d_uniform = dequantize(quantize(w, kRows, kCols, GetParam(), {.importance = uniform}));
  // Columns at the start, inside and at the end of a 256-block (and of a 32-block).
  for (std::size_t column : {0u, 37u, 255u, 300u, 511u}) {
    std::vector<float> concentrated(kCols, 1e-3f);
    concentrated[column] = 1.0f;
    const std::vector<float> d = dequantize(quantize(w, kRows, kCols, GetParam(), {.importance = concentrated}));
    const double favoured = column_error(w, d, column), plain = column_error(w, d_uniform, column);
    // Strictly better: a quantizer that ignored the importance would tie.
    EXPECT_LT(favoured, plain) << format_name(GetParam()) << ", column " << column;
  }
}

TEST_P(ImportanceTest, ZeroImportanceOnSomeColumnsGivesFiniteOutput) {
  const std::vector<float> w = test::gaussian(kRows * kCols, 7);
  // A whole 256-block of zeros, then every third column of the second block, so that some groups
  // have no weight at all and some only part of theirs.
  std::vector<float> importance(kCols, 1.0f);
  for (std::size_t c = 0; c < 256; ++c) importance[c] = 0.0f;
  for (std::size_t c = 256; c < kCols; c += 3) importance[c] = 0.0f;
  const std::vector<float> d = dequantize(quantize(w, kRows, kCols, GetParam(), {.importance = importance}));
  ASSERT_EQ(d.size(), w.size());
  for (std::size_t i = 0; i < d.size(); ++i) ASSERT_TRUE(std::isfinite(d[i])) << format_name(GetParam()) << " " << i;
}

INSTANTIATE_TEST_SUITE_P(SignedScale, ImportanceTest,
                         ::testing::Values(Format::q4_0, Format::q5_0, Format::q3_K, Format::q6_K),
                         [](const auto& p) { return std::string(format_name(p.param)); });

// The search on its own: weight on one value only makes that value exact whenever some candidate
// scale puts it on a level, which −nmax/max does for the value of largest magnitude.
TEST(SearchSignedScale, AllWeightOnTheLargestValueMakesItExact) {
  const std::vector<float> x = test::gaussian(16, 3);
  std::size_t largest = 0;
  for (std::size_t i = 1; i < x.size(); ++i) {
    if (std::fabs(x[i]) > std::fabs(x[largest])) largest = i;
  }
  std::vector<float> weights(16, 0.0f);
  weights[largest] = 1.0f;
  std::int8_t levels[16];
  const float scale = formats::search_signed_scale(x.data(), 16, 32, weights.data(), levels);
  const double reconstructed = static_cast<double>(scale) * (levels[largest] - 32);
  // The level may end at −32 or −31 (both fit exactly); scale = (x·l)/l² then rounds twice, each
  // time by at most 2^-24 relative, and the product above is exact in double: < 3·2^-24 in all.
  EXPECT_NEAR(reconstructed, x[largest], std::fabs(x[largest]) * 3 * 0x1p-24);
}

}  // namespace
}  // namespace qlinear
