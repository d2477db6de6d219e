// Affine int8/int4: error bounds from the scale, the stored layout, calibration choices, importance
// weights in the mse search, degenerate rows, and option errors.

#include "formats/affine.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <random>
#include <vector>

namespace qlinear {
namespace {

using G = AffineOptions::Granularity;
using C = AffineOptions::Calibration;

AffineOptions options(bool symmetric, G granularity, std::size_t group = 0, C calibration = C::minmax,
                      double percentile = 99.99) {
  AffineOptions o;
  o.symmetric = symmetric;
  o.granularity = granularity;
  o.group_size = group;
  o.calibration = calibration;
  o.percentile = percentile;
  return o;
}

struct Case {
  Format format;
  AffineOptions options;
  std::string label;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.label; }

std::vector<Case> minmax_cases() {
  std::vector<Case> cases;
  for (Format f : {Format::i8, Format::i4}) {
    for (bool sym : {true, false}) {
      const std::string base = std::string(format_name(f)) + (sym ? "_sym" : "_asym");
      cases.push_back({f, options(sym, G::tensor), base + "_tensor"});
      cases.push_back({f, options(sym, G::channel), base + "_channel"});
      for (std::size_t g : {8, 32, 48, 128}) {
        cases.push_back({f, options(sym, G::group, g), base + "_group" + std::to_string(g)});
      }
    }
  }
  return cases;
}

// Min-max calibration covers every weight of a group, so each weight is within half a step of its
// level. Asymmetric: the zero point is rounded, which shifts the representable range by at most half
// a step, and a weight pushed out of it is clamped to the end level, again within half a step.
// kRelSlack covers the float rounding of s·(q − z) and of the scale itself.
constexpr double kRelSlack = 1e-6;

void expect_half_step_bound(const QuantizedTensor& q, const std::vector<float>& w) {
  const auto d = dequantize(q);
  ASSERT_EQ(d.size(), w.size());
  const bool per_tensor = q.affine_options().granularity == G::tensor;
  for (std::size_t r = 0; r < q.rows(); ++r) {
    for (std::size_t c = 0; c < q.cols(); ++c) {
      const double s = q.scales()[per_tensor ? 0 : r * q.groups_per_row() + c / q.group_size()];
      const double w_rc = w[r * q.cols() + c];
      const double err = std::fabs(w_rc - d[r * q.cols() + c]);
      ASSERT_LE(err, s / 2 + kRelSlack * (std::fabs(w_rc) + s)) << "row " << r << " col " << c;
    }
  }
}

class AffineMinmax : public ::testing::TestWithParam<Case> {};

TEST_P(AffineMinmax, EveryWeightWithinHalfAStep) {
  const Case& c = GetParam();
  for (std::size_t cols : {1, 7, 33, 100, 257}) {
    SCOPED_TRACE(cols);
    auto w = test::gaussian(5 * cols, cols);
    for (std::size_t i = 0; i < w.size(); i += 7) w[i] *= 3;  // uneven magnitudes
    const QuantizedTensor q = quantize(w, 5, cols, c.format, c.options);
    expect_half_step_bound(q, w);
    // Layout facts: padded to 32, one scale per tensor / row / group, zero points only when asymmetric.
    EXPECT_EQ(q.padded_cols(), (cols + 31) / 32 * 32);
    const std::size_t groups = c.options.granularity == G::group
                                   ? (q.padded_cols() + c.options.group_size - 1) / c.options.group_size
                                   : 1;
    const std::size_t scales = c.options.granularity == G::tensor ? 1 : 5 * groups;
    EXPECT_EQ(q.scales().size(), scales);
    EXPECT_EQ(q.zero_points().size(), c.options.symmetric ? 0 : scales);
    const std::size_t code_bytes = 5 * q.padded_cols() / (c.format == Format::i8 ? 1 : 2);
    EXPECT_EQ(q.nbytes(), code_bytes + 4 * scales + q.zero_points().size());
  }
}

TEST(AffineScale, SymmetricScaleIsTheLargestMagnitudeOverTheTopLevel) {
  const auto w = test::gaussian(3 * 64, 17);
  for (Format f : {Format::i8, Format::i4}) {
    const QuantizedTensor q = quantize(w, 3, 64, f, options(true, G::channel));
    const double top = f == Format::i8 ? 127 : 7;
    for (std::size_t r = 0; r < 3; ++r) {
      double amax = 0;
      for (std::size_t j = 0; j < 64; ++j) amax = std::max(amax, std::fabs(double(w[r * 64 + j])));
      EXPECT_EQ(q.scales()[r], static_cast<float>(amax / top));
    }
  }
}

TEST_P(AffineMinmax, DegenerateRowsGiveFiniteScalesAndExactZeros) {
  const Case& c = GetParam();
  const std::size_t cols = 40;
  std::vector<float> w(6 * cols);
  std::fill(w.begin(), w.begin() + cols, 0.0f);                    // zeros
  std::fill(w.begin() + cols, w.begin() + 2 * cols, 0.5f);         // positive constant
  std::fill(w.begin() + 2 * cols, w.begin() + 3 * cols, -0.25f);   // negative constant
  std::fill(w.begin() + 3 * cols, w.begin() + 4 * cols, 1e-41f);   // float subnormals
  for (std::size_t j = 0; j < cols; ++j) w[4 * cols + j] = (j % 2 ? 1.0f : -1.0f) * FLT_MAX / 4;
  for (std::size_t j = 0; j < cols; ++j) w[5 * cols + j] = static_cast<float>(j) * 1e-30f;
  const QuantizedTensor q = quantize(w, 6, cols, c.format, c.options);
  for (float s : q.scales()) ASSERT_TRUE(std::isfinite(s) && s >= 0) << s;
  const auto d = dequantize(q);
  for (float v : d) ASSERT_TRUE(std::isfinite(v));
  for (std::size_t j = 0; j < cols; ++j) EXPECT_EQ(d[j], 0.0f);  // a zero row stays exactly zero
  expect_half_step_bound(q, w);
}

TEST_P(AffineMinmax, WeightsAtTheEndsOfTheFloatRangeStayFinite) {
  const Case& c = GetParam();
  std::vector<float> w(2 * 16);
  for (std::size_t j = 0; j < w.size(); ++j) w[j] = (j % 3 ? 1.0f : -1.0f) * FLT_MAX;
  const QuantizedTensor q = quantize(w, 2, 16, c.format, c.options);
  const auto d = dequantize(q);
  for (std::size_t j = 0; j < w.size(); ++j) {
    ASSERT_TRUE(std::isfinite(d[j])) << j;
    ASSERT_EQ(std::signbit(d[j]), std::signbit(w[j])) << j;
    ASSERT_GT(std::fabs(d[j]), FLT_MAX / 2) << j;  // within a step of the value, far from zero
  }
}

INSTANTIATE_TEST_SUITE_P(Affine, AffineMinmax, ::testing::ValuesIn(minmax_cases()),
                         [](const auto& p) { return p.param.label; });

TEST(AffineRounding, BoundedRoundingIsStdRoundInsideTheBound) {
  std::vector<double> values = {0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 127.5, -127.5, 1048575.5, -1048575.5};
  for (double tie : {0.5, 1.5, 2.5, 7.5, 127.5, 255.5}) {
    for (double v : {tie, -tie}) {  // the neighbours of each tie, where a wrong rule would flip
      values.push_back(std::nextafter(v, 0.0));
      values.push_back(std::nextafter(v, 2.0 * v));
    }
  }
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> wide(-2000.0, 2000.0);
  for (int i = 0; i < 100000; ++i) values.push_back(wide(rng));
  for (double v : values) {
    EXPECT_EQ(static_cast<double>(formats::round_half_away_bounded(v)), std::round(v)) << std::hexfloat << v;
  }
  // Beyond the bound the result is the bound, which clamps to the same level as std::round would.
  EXPECT_EQ(formats::round_half_away_bounded(1e300), 1048576);
  EXPECT_EQ(formats::round_half_away_bounded(-1e300), -1048576);
}

TEST(AffineLayout, Int4NibblesFollowGgmlOrderAndSymmetricCodesAreOffsetBy8) {
  std::vector<float> w(32);
  for (std::size_t j = 0; j < 32; ++j) w[j] = static_cast<float>(static_cast<int>(j % 15) - 7);  // -7..7
  const QuantizedTensor q = quantize(w, 1, 32, Format::i4, options(true, G::channel));
  ASSERT_EQ(q.scales()[0], 1.0f);  // max |w| = 7 over 7 levels
  ASSERT_EQ(q.data().size(), 16u);
  for (std::size_t j = 0; j < 16; ++j) {
    const unsigned lo = static_cast<unsigned>(w[j] + 8), hi = static_cast<unsigned>(w[j + 16] + 8);
    EXPECT_EQ(static_cast<unsigned>(q.data()[j]), lo | (hi << 4)) << j;
  }
}

TEST(AffineLayout, Int8StoresTwosComplementOrUnsignedCodes) {
  const std::vector<float> w = {-127, -1, 0, 1, 127, 64, -64, 5};
  const QuantizedTensor sym = quantize(w, 1, 8, Format::i8, options(true, G::channel));
  ASSERT_EQ(sym.scales()[0], 1.0f);
  for (std::size_t j = 0; j < 8; ++j) EXPECT_EQ(static_cast<std::int8_t>(sym.data()[j]), w[j]);
  for (std::size_t j = 8; j < 32; ++j) EXPECT_EQ(static_cast<int>(sym.data()[j]), 0);  // padding

  const std::vector<float> pos = {0, 255, 10, 20};  // range [0, 255]: scale 1, zero point 0
  const QuantizedTensor asym = quantize(pos, 1, 4, Format::i8, options(false, G::channel));
  ASSERT_EQ(asym.scales()[0], 1.0f);
  ASSERT_EQ(asym.zero_points()[0], 0);
  for (std::size_t j = 0; j < 4; ++j) EXPECT_EQ(static_cast<std::uint8_t>(asym.data()[j]), pos[j]);

  const std::vector<float> neg = {-255, 0, -10};  // range [-255, 0]: zero point 255
  const QuantizedTensor asym_neg = quantize(neg, 1, 3, Format::i8, options(false, G::channel));
  EXPECT_EQ(asym_neg.zero_points()[0], 255);
  EXPECT_EQ(static_cast<std::uint8_t>(asym_neg.data()[0]), 0);
  EXPECT_EQ(static_cast<std::uint8_t>(asym_neg.data()[1]), 255);
  EXPECT_EQ(static_cast<std::uint8_t>(asym_neg.data()[5]), 255);  // padding holds the zero code
}

TEST(AffineCalibration, PercentileAtOneHundredIsMinmax) {
  const auto w = test::gaussian(4 * 96, 3);
  for (bool sym : {true, false}) {
    const auto a = quantize(w, 4, 96, Format::i4, options(sym, G::group, 32, C::minmax));
    const auto b = quantize(w, 4, 96, Format::i4, options(sym, G::group, 32, C::percentile, 100.0));
    EXPECT_TRUE(std::equal(a.data().begin(), a.data().end(), b.data().begin()));
    EXPECT_TRUE(std::equal(a.scales().begin(), a.scales().end(), b.scales().begin()));
  }
}

TEST(AffineCalibration, PercentileClipsAnOutlierAndHelpsTheRest) {
  auto w = test::gaussian(4096, 8);
  w[100] = 40.0f;  // one outlier in a per-tensor scale
  const auto minmax = quantize(w, 1, 4096, Format::i8, options(true, G::tensor));
  const auto clipped = quantize(w, 1, 4096, Format::i8, options(true, G::tensor, 0, C::percentile, 99.9));
  // The clip sits at the 99.9th percentile of |w|: between the bulk and the outlier.
  std::vector<float> mags(w.size());
  std::transform(w.begin(), w.end(), mags.begin(), [](float v) { return std::fabs(v); });
  std::sort(mags.begin(), mags.end());
  const double pos = 0.999 * (mags.size() - 1);
  const auto i = static_cast<std::size_t>(pos);
  const double clip = mags[i] + (pos - i) * (double(mags[i + 1]) - mags[i]);
  EXPECT_NEAR(clipped.scales()[0], clip / 127, 1e-6 * clip);
  EXPECT_LT(clipped.scales()[0], minmax.scales()[0] / 5);
  // Every weight but the clipped ones is reproduced better.
  const auto a = dequantize(minmax), b = dequantize(clipped);
  double ea = 0, eb = 0;
  for (std::size_t j = 0; j < w.size(); ++j) {
    if (std::fabs(w[j]) > clip) continue;
    ea += std::pow(w[j] - a[j], 2), eb += std::pow(w[j] - b[j], 2);
  }
  EXPECT_LT(eb, ea / 10);
  EXPECT_NEAR(b[100], clipped.scales()[0] * 127, 1e-6);  // the outlier is clamped to the top level
}

TEST(AffineCalibration, MseSearchNeverLosesToMinmaxPerGroup) {
  auto w = test::gaussian(8 * 128, 21);
  for (std::size_t i = 0; i < w.size(); i += 37) w[i] *= 6;  // heavy tails make clipping worthwhile
  bool strictly_better_somewhere = false;
  for (bool sym : {true, false}) {
    for (Format f : {Format::i4, Format::i8}) {
      const auto mm = quantize(w, 8, 128, f, options(sym, G::group, 32));
      const auto ms = quantize(w, 8, 128, f, options(sym, G::group, 32, C::mse));
      const auto a = dequantize(mm), b = dequantize(ms);
      for (std::size_t g = 0; g < w.size() / 32; ++g) {
        double ea = 0, eb = 0;
        for (std::size_t j = g * 32; j < (g + 1) * 32; ++j) {
          ea += std::pow(double(w[j]) - a[j], 2), eb += std::pow(double(w[j]) - b[j], 2);
        }
        ASSERT_LE(eb, ea * (1 + 1e-12)) << "group " << g;
        strictly_better_somewhere |= eb < ea * 0.99;
      }
    }
  }
  EXPECT_TRUE(strictly_better_somewhere);
}

TEST(AffineCalibration, MseGroupErrorIsTheSearchMinimumOverItsGrid) {
  // The chosen clipping factor's error is no larger than any factor on the grid 1, 0.99, ..., 0.21,
  // for groups of several sizes and each kind of spec (the search may stop summing a candidate
  // early; it must never lose the best one).
  for (const formats::AffineSpec spec : {formats::AffineSpec{4, false}, formats::AffineSpec{4, true},
                                         formats::AffineSpec{8, false}, formats::AffineSpec{8, true}}) {
    for (std::uint64_t seed = 1; seed <= 12; ++seed) {
      const auto w = test::gaussian(8 * seed + 3, seed);
      const auto mse = options(spec.symmetric, G::channel, 0, C::mse);
      const auto chosen = formats::calibrate_affine(w, spec, mse);
      const double chosen_error = formats::affine_squared_error(w, chosen, spec);
      const auto [lo, hi] = std::minmax_element(w.begin(), w.end());
      for (int k = 0; k < 80; ++k) {
        const double f = 1.0 - k / 100.0;
        const std::vector<float> ends = {static_cast<float>(*lo * f), static_cast<float>(*hi * f)};
        const auto params = formats::calibrate_affine(ends, spec, options(spec.symmetric, G::channel));
        EXPECT_LE(chosen_error, formats::affine_squared_error(w, params, spec) * (1 + 1e-9))
            << "bits " << spec.bits << ", symmetric " << spec.symmetric << ", seed " << seed << ", factor " << f;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Importance weights: Calibration::mse minimizes Σ importance·error² instead of Σ error².

QuantizedTensor quantize_with_importance(const std::vector<float>& w, std::size_t rows, std::size_t cols,
                                         Format f, const AffineOptions& o, const std::vector<float>& importance) {
  QuantizeOptions q;
  q.affine = o;
  q.importance = importance;
  return quantize(w, rows, cols, f, q);
}

// Σ importance[c]·(w − ŵ)² over each scale's weights (a row, a group, or the whole tensor), in double.
std::vector<double> weighted_errors(const std::vector<float>& w, const QuantizedTensor& q,
                                    const std::vector<float>& importance) {
  const auto d = dequantize(q);
  const AffineOptions& o = q.affine_options();
  std::vector<double> e(q.scales().size(), 0.0);
  for (std::size_t r = 0; r < q.rows(); ++r) {
    for (std::size_t c = 0; c < q.cols(); ++c) {
      const std::size_t s = o.granularity == G::tensor ? 0 : r * q.groups_per_row() + c / q.group_size();
      const double err = static_cast<double>(w[r * q.cols() + c]) - d[r * q.cols() + c];
      e[s] += static_cast<double>(importance[c]) * (err * err);
    }
  }
  return e;
}

// Heavy-tailed rows whose few important columns hold the outliers: the unweighted search clips
// them, the weighted one must not when that costs more weighted error.
TEST(AffineImportance, MseNeverLosesToTheUnweightedChoiceOnTheWeightedError) {
  const std::size_t rows = 12, cols = 160;
  auto w = test::gaussian(rows * cols, 31);
  std::vector<float> importance(cols, 0.01f);
  for (std::size_t c : {5u, 38u, 71u, 100u, 133u}) {
    importance[c] = 1000.0f;
    for (std::size_t r = 0; r < rows; ++r) w[r * cols + c] *= 5;
  }
  for (std::size_t i = 0; i < w.size(); i += 23) w[i] *= 4;  // tails elsewhere too
  // The search sums the same terms in double; summing them in another order may differ by
  // n·2^-53 relative (n <= rows·cols terms), far below any real difference.
  const double slack = static_cast<double>(rows * cols) * std::ldexp(1.0, -52);
  for (Format f : {Format::i8, Format::i4}) {
    for (bool sym : {true, false}) {
      for (const AffineOptions& o : {options(sym, G::channel, 0, C::mse), options(sym, G::group, 32, C::mse),
                                     options(sym, G::group, 48, C::mse), options(sym, G::tensor, 0, C::mse)}) {
        const std::string what = std::string(format_name(f)) + (sym ? " sym" : " asym") + " granularity " +
                                 std::to_string(static_cast<int>(o.granularity)) + " group " +
                                 std::to_string(o.group_size);
        const auto plain = weighted_errors(w, quantize(w, rows, cols, f, o), importance);
        const auto weighted =
            weighted_errors(w, quantize_with_importance(w, rows, cols, f, o, importance), importance);
        ASSERT_EQ(plain.size(), weighted.size());
        bool better_somewhere = false;
        for (std::size_t s = 0; s < plain.size(); ++s) {
          ASSERT_LE(weighted[s], plain[s] * (1 + slack)) << what << ", scale " << s;
          better_somewhere |= weighted[s] < plain[s] * 0.99;
        }
        // The weights take effect: some scale does better on the weighted error, except for one i8
        // scale over the whole tensor, whose unweighted choice is already the weighted one.
        if (f == Format::i8 && o.granularity == G::tensor) {
          EXPECT_EQ(weighted, plain) << what;
        } else {
          EXPECT_TRUE(better_somewhere) << what;
        }
      }
    }
  }
}

TEST(AffineImportance, MinmaxAndPercentileIgnoreIt) {
  const std::size_t rows = 5, cols = 100;
  const auto w = test::gaussian(rows * cols, 17);
  std::vector<float> importance(cols, 0.0f);
  importance[3] = 7.0f, importance[64] = 1e6f;
  for (Format f : {Format::i8, Format::i4}) {
    for (bool sym : {true, false}) {
      for (const AffineOptions& o : {options(sym, G::channel), options(sym, G::group, 32), options(sym, G::tensor),
                                     options(sym, G::group, 32, C::percentile, 99.0)}) {
        const auto a = quantize(w, rows, cols, f, o);
        const auto b = quantize_with_importance(w, rows, cols, f, o, importance);
        EXPECT_TRUE(std::equal(a.data().begin(), a.data().end(), b.data().begin(), b.data().end()));
        EXPECT_TRUE(std::equal(a.scales().begin(), a.scales().end(), b.scales().begin(), b.scales().end()));
        EXPECT_TRUE(std::equal(a.zero_points().begin(), a.zero_points().end(), b.zero_points().begin(),
                               b.zero_points().end()));
      }
    }
  }
}

TEST(AffineImportance, BadImportanceIsAnErrorNamingTheColumn) {
  const std::size_t rows = 3, cols = 40;
  const auto w = test::gaussian(rows * cols, 4);
  for (Format f : {Format::i8, Format::i4}) {
    const AffineOptions o = options(false, G::group, 8, C::mse);
    for (std::size_t n : {std::size_t{39}, std::size_t{41}, std::size_t{1}}) {
      const std::string m = test::error_message(
          [&] { quantize_with_importance(w, rows, cols, f, o, std::vector<float>(n, 1.0f)); },
          ErrorCode::size_mismatch);
      EXPECT_NE(m.find(std::to_string(n) + " values"), std::string::npos) << m;
      EXPECT_NE(m.find("40"), std::string::npos) << m;
    }
    for (float bad : {-1.0f, -FLT_MIN, NAN, INFINITY, -INFINITY}) {
      std::vector<float> importance(cols, 1.0f);
      importance[27] = bad;
      const std::string m = test::error_message([&] { quantize_with_importance(w, rows, cols, f, o, importance); },
                                                ErrorCode::invalid_argument);
      EXPECT_NE(m.find("column 27"), std::string::npos) << m;
    }
    // Zero is a valid weight, also for a whole group.
    std::vector<float> zeros(cols, 1.0f);
    std::fill(zeros.begin(), zeros.begin() + 8, 0.0f);
    EXPECT_NO_THROW(quantize_with_importance(w, rows, cols, f, o, zeros));
  }
}

TEST(AffineErrors, OptionsOutOfRange) {
  const auto w = test::gaussian(2 * 64, 1);
  auto expect_invalid = [&](const AffineOptions& o, const char* needle) {
    try {
      quantize(w, 2, 64, Format::i4, o);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_invalid(options(true, G::group, 0), "multiple of 8");
  expect_invalid(options(true, G::group, 12), "got 12");
  expect_invalid(options(true, G::channel, 32), "group_size 32");
  expect_invalid(options(true, G::channel, 0, C::percentile, 30), "percentile");
  expect_invalid(options(true, G::channel, 0, C::percentile, 100.5), "percentile");
}

TEST(AffineErrors, FromAffineChecksEveryPart) {
  const auto w = test::gaussian(3 * 40, 2);
  const auto o = options(false, G::group, 16);
  const QuantizedTensor q = quantize(w, 3, 40, Format::i4, o);
  const QuantizedTensor copy = QuantizedTensor::from_affine(Format::i4, 3, 40, o, q.data(), q.scales(), q.zero_points());
  EXPECT_EQ(dequantize(copy), dequantize(q));
  auto scales = std::vector<float>(q.scales().begin(), q.scales().end());
  EXPECT_THROW(QuantizedTensor::from_affine(Format::i4, 3, 40, o, q.data(), std::span(scales).first(2), q.zero_points()), Error);
  EXPECT_THROW(QuantizedTensor::from_affine(Format::i4, 3, 40, o, q.data().first(10), q.scales(), q.zero_points()), Error);
  EXPECT_THROW(QuantizedTensor::from_affine(Format::i4, 3, 40, o, q.data(), q.scales(), {}), Error);
  scales[1] = NAN;
  EXPECT_THROW(QuantizedTensor::from_affine(Format::i4, 3, 40, o, q.data(), scales, q.zero_points()), Error);
  auto zps = std::vector<std::uint8_t>(q.zero_points().begin(), q.zero_points().end());
  zps[0] = 16;  // above the int4 range
  EXPECT_THROW(QuantizedTensor::from_affine(Format::i4, 3, 40, o, q.data(), q.scales(), zps), Error);
  EXPECT_THROW(QuantizedTensor::from_affine(Format::q4_0, 3, 40, o, q.data(), q.scales(), zps), Error);
}

}  // namespace
}  // namespace qlinear
