// Importance weights must steer the signed-scale searches the right way: the golden files pin the
// bytes for one set of weights, these checks pin the direction (more importance, less error there)
// and that weights of zero, which make some weighted sums vanish, still give finite blocks.

#include "formats/kquant_scales.hpp"
#include "formats/nearest_int.hpp"
#include "formats/search_scale.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <random>

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

// The search written plainly, one candidate after the other as ggml describes it: the oracle for
// the library's version, which evaluates the candidates side by side.
float sequential_signed_scale(const float* x, int n, int nmax, const float* weights, std::int8_t* levels) {
  float max = 0.0f, amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  if (amax < formats::kNegligibleGroupMax) {
    std::fill(levels, levels + n, std::int8_t{0});
    return 0.0f;
  }
  const auto level = [&](float inverse_scale, int i) {
    return std::clamp(formats::nearest_int(inverse_scale * x[i]), -nmax, nmax - 1);
  };
  const auto sums = [&](float inverse_scale, float& xl, float& l2) {
    xl = l2 = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float w = weights ? weights[i] : x[i] * x[i];
      const float l = static_cast<float>(level(inverse_scale, i));
      xl += w * x[i] * l;
      l2 += w * l * l;
    }
  };
  float best_inverse = static_cast<float>(-nmax) / max, xl, l2;
  sums(best_inverse, xl, l2);
  float scale = l2 != 0.0f ? xl / l2 : 0.0f, best = scale * xl;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    const float inverse_scale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(k)) / max;
    sums(inverse_scale, xl, l2);
    if (l2 > 0.0f && xl * xl > best * l2) {
      best_inverse = inverse_scale;
      scale = xl / l2;
      best = scale * xl;
    }
  }
  for (int i = 0; i < n; ++i) levels[i] = static_cast<std::int8_t>(level(best_inverse, i) + nmax);
  return scale;
}

TEST(SearchSignedScale, MatchesTheSequentialSearchBitForBit) {
  std::mt19937_64 rng(99);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> small_int(-6, 6);
  int compared = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    const int n = trial % 3 == 0 ? 32 : 16;
    const int nmax = std::array{4, 8, 16, 32}[trial % 4];
    const float magnitude = std::ldexp(1.0f, trial % 40 - 20);
    std::vector<float> x(n), w(n);
    for (int i = 0; i < n; ++i) {
      // Gaussian values, small integers (many candidates then give the same levels, and sums
      // tie exactly) and groups with repeated extremes of both signs.
      const int kind = trial % 5;
      x[i] = kind == 1 ? static_cast<float>(small_int(rng))
                       : kind == 2 ? (i % 4 == 0 ? (i % 8 == 0 ? 1.0f : -1.0f) : normal(rng) * 0.3f) : normal(rng);
      x[i] *= magnitude;
      w[i] = i % 5 == 0 ? 0.0f : std::exp(normal(rng));
    }
    for (const float* weights : {static_cast<const float*>(nullptr), static_cast<const float*>(w.data())}) {
      std::vector<std::int8_t> expected(n), got(n);
      const float s_expected = sequential_signed_scale(x.data(), n, nmax, weights, expected.data());
      const float s_got = formats::search_signed_scale(x.data(), n, nmax, weights, got.data());
      ASSERT_EQ(std::bit_cast<std::uint32_t>(s_got), std::bit_cast<std::uint32_t>(s_expected)) << "trial " << trial;
      ASSERT_EQ(got, expected) << "trial " << trial;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 8000);
}

// pack_q3_K_scales must be the exact inverse of the unpacking the dequantizer uses.
TEST(Q3KScales, PackingIsTheInverseOfUnpacking) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<int> six_bits(0, 63);
  for (int trial = 0; trial < 1000; ++trial) {
    std::int8_t scales[16];
    for (auto& s : scales) s = static_cast<std::int8_t>(trial < 64 ? trial : six_bits(rng));
    std::uint8_t packed[12];
    std::memset(packed, 0xa5, sizeof packed);  // packing must not depend on what was there
    formats::pack_q3_K_scales(scales, packed);
    const std::array<std::int8_t, 16> unpacked = formats::unpack_q3_K_scales(packed);
    for (int j = 0; j < 16; ++j) ASSERT_EQ(unpacked[j], scales[j]) << "trial " << trial << ", scale " << j;
  }
}

}  // namespace
}  // namespace qlinear
