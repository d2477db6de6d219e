// The format registry, round-trip error bounds derived from each format's step size, row padding,
// size accounting, measure(), blocks too small for a finite reciprocal scale (codes of zero at every
// instruction-set level), and the errors quantize() gives on bad input.

#include "core/half.hpp"
#include "formats/registry.hpp"
#include "kernels/kernel_table.hpp"
#include "formats/search_scale_min.hpp"
#include "levels.hpp"
#include "test_support.hpp"

#include <qlinear/safetensors.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <limits>
#include <memory>
#include <random>

namespace qlinear {
namespace {

using test::error_message;

const std::vector<Format> kBlockFormats = {Format::f32,  Format::f16,  Format::bf16, Format::q8_0,
                                           Format::q8_1, Format::q4_0, Format::q4_1, Format::q5_0,
                                           Format::q5_1};

std::string name_of(const ::testing::TestParamInfo<Format>& p) { return std::string(format_name(p.param)); }

// ---------------------------------------------------------------------------------------------
// Registry

TEST(Registry, TableFollowsTheEnumAndItsFactsAgree) {
  const auto formats = all_formats();
  ASSERT_EQ(formats.size(), 18u);
  for (std::size_t i = 0; i < formats.size(); ++i) {
    const FormatInfo& f = formats[i];
    EXPECT_EQ(static_cast<std::size_t>(f.format), i);
    EXPECT_EQ(&format_info(f.format), &formats::traits(f.format).info);
    EXPECT_DOUBLE_EQ(f.bits_per_weight, 8.0 * static_cast<double>(f.block_bytes) / static_cast<double>(f.block_size));
    EXPECT_EQ(parse_format(f.name), f.format);
    EXPECT_EQ(format_name(f.format), f.name);
    EXPECT_EQ(f.row_alignment % f.block_size, 0u);
    EXPECT_EQ(f.affine, f.format == Format::i8 || f.format == Format::i4);
    EXPECT_EQ(formats::traits(f.format).quantize_row_ref == nullptr, f.affine);
  }
}

TEST(Registry, GgmlTypeIdsAndBlockSizes) {
  struct Expected { Format f; int id; std::size_t block, bytes; };
  for (const auto& e : {Expected{Format::f32, 0, 1, 4}, Expected{Format::f16, 1, 1, 2},
                        Expected{Format::q4_0, 2, 32, 18}, Expected{Format::q4_1, 3, 32, 20},
                        Expected{Format::q5_0, 6, 32, 22}, Expected{Format::q5_1, 7, 32, 24},
                        Expected{Format::q8_0, 8, 32, 34}, Expected{Format::q8_1, 9, 32, 36},
                        Expected{Format::bf16, 30, 1, 2}, Expected{Format::i8, -1, 1, 1},
                        Expected{Format::i4, -1, 2, 1}, Expected{Format::q2_K, 10, 256, 84},
                        Expected{Format::q3_K, 11, 256, 110}, Expected{Format::q4_K, 12, 256, 144},
                        Expected{Format::q5_K, 13, 256, 176}, Expected{Format::q6_K, 14, 256, 210},
                        Expected{Format::iq4_nl, 20, 32, 18}, Expected{Format::iq4_xs, 23, 256, 136}}) {
    const FormatInfo& f = format_info(e.f);
    EXPECT_EQ(f.ggml_type, e.id) << f.name;
    EXPECT_EQ(f.block_size, e.block) << f.name;
    EXPECT_EQ(f.block_bytes, e.bytes) << f.name;
  }
}

TEST(Registry, ParsingIgnoresCaseAndUnknownNamesListTheValidOnes) {
  EXPECT_EQ(parse_format("Q4_0"), Format::q4_0);
  EXPECT_EQ(parse_format("BF16"), Format::bf16);
  EXPECT_EQ(parse_format("q4_k"), Format::q4_K);
  EXPECT_EQ(parse_format("IQ4_XS"), Format::iq4_xs);
  const std::string message = error_message([] { parse_format("q3_0"); }, ErrorCode::unknown_format);
  EXPECT_NE(message.find("'q3_0'"), std::string::npos) << message;
  for (const FormatInfo& f : all_formats()) {
    EXPECT_NE(message.find(std::string(f.name)), std::string::npos) << message;
  }
  EXPECT_THROW(parse_format(""), Error);
  EXPECT_THROW(format_info(static_cast<Format>(99)), Error);
}

// ---------------------------------------------------------------------------------------------
// Round-trip error bounds. For every block the bound is derived from that block's own step size:
// rounding to the nearest level costs half a step, clamping the far end (q4_0/q5_0 put the extreme
// at −8/−16 so +8/+16 is clamped to 7/15) a whole step, and storing d and m in fp16 adds
// (largest level)·|d − fp16(d)| + |m − fp16(m)|. kFloatSlack covers the few float roundings of
// w·(1/d), each at most 2^-24 relative to values no larger than the block's largest |w|.

constexpr double kFloatSlack = 0x1p-20;

double fp16_error(double v) {
  return std::fabs(v - core::fp16_to_fp32(core::fp32_to_fp16(static_cast<float>(v))));
}

// n < block size: the rest of the block is row padding, zeros that take part in min and max.
double block_bound(Format f, const float* x, std::size_t n, std::size_t block_size) {
  double amax = 0, extreme = 0, lo = n < block_size ? 0.0 : DBL_MAX, hi = n < block_size ? 0.0 : -DBL_MAX;
  for (std::size_t j = 0; j < n; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      extreme = x[j];
    }
    lo = std::min(lo, static_cast<double>(x[j]));
    hi = std::max(hi, static_cast<double>(x[j]));
  }
  const double slack = kFloatSlack * amax;
  switch (f) {
    case Format::q8_0:
    case Format::q8_1: {
      const double d = static_cast<float>(amax / 127);
      return d / 2 + 127 * fp16_error(d) + slack;
    }
    case Format::q4_0:
    case Format::q5_0: {
      const double levels = f == Format::q4_0 ? 8 : 16;
      const double d = std::fabs(static_cast<float>(extreme / levels));
      return d + levels * fp16_error(d) + slack;
    }
    case Format::q4_1:
    case Format::q5_1: {
      const double levels = f == Format::q4_1 ? 15 : 31;
      const double d = static_cast<float>((hi - lo) / levels);
      return d / 2 + levels * fp16_error(d) + fp16_error(lo) + slack;
    }
    default:
      return 0;  // element-wise formats are bounded per element below
  }
}

double element_bound(Format f, float w) {
  switch (f) {
    case Format::f32: return 0;
    case Format::f16: return std::max(std::ldexp(std::fabs(double(w)), -11), 0x1p-25);  // half an ulp
    case Format::bf16: return std::max(std::ldexp(std::fabs(double(w)), -8), 0x1p-134);
    default: return 0;
  }
}

void expect_within_bounds(Format f, const std::vector<float>& w, std::size_t rows, std::size_t cols) {
  const QuantizedTensor q = quantize(w, rows, cols, f);
  const std::vector<float> d = dequantize(q);
  ASSERT_EQ(d.size(), w.size());
  const FormatInfo& info = format_info(f);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t start = 0; start < cols; start += info.block_size) {
      const std::size_t n = std::min(info.block_size, cols - start);  // the padding adds only zeros
      const float* x = w.data() + r * cols + start;
      const double bound = block_bound(f, x, n, info.block_size);
      for (std::size_t j = 0; j < n; ++j) {
        const double limit = info.block_size == 1 ? element_bound(f, x[j]) : bound;
        const double err = std::fabs(static_cast<double>(x[j]) - d[r * cols + start + j]);
        ASSERT_LE(err, limit) << info.name << " row " << r << " col " << start + j << " w=" << x[j];
      }
    }
  }
}

class RoundTrip : public ::testing::TestWithParam<Format> {};

TEST_P(RoundTrip, GaussianAtManyScales) {
  for (float sigma : {1e-6f, 1e-3f, 1.0f, 30.0f, 1000.0f}) {
    SCOPED_TRACE(sigma);
    expect_within_bounds(GetParam(), test::gaussian(7 * 96, 42, sigma), 7, 96);
  }
}

TEST_P(RoundTrip, RealWeightsWithPaddedRows) {
  const SafetensorsFile file = SafetensorsFile::open(test::repo_data("ppocrv4_rec_linear.safetensors"));
  for (const char* name : {"linear_85.w_0", "linear_77.w_0"}) {  // in_features 120 and 240: padded
    const auto& info = file.tensor(name);
    expect_within_bounds(GetParam(), file.read_f32(name), info.shape[0], info.shape[1]);
  }
}

TEST_P(RoundTrip, OutliersZerosAndConstants) {
  std::vector<float> w = test::gaussian(4 * 64, 5);
  w[3] = 100.0f;                                          // an outlier in the first block
  std::fill(w.begin() + 64, w.begin() + 128, 0.0f);       // a zero row
  std::fill(w.begin() + 128, w.begin() + 192, -0.25f);    // a constant row
  for (std::size_t j = 192; j < 256; ++j) w[j] = static_cast<float>(j) * 1e-7f;  // tiny ramp
  expect_within_bounds(GetParam(), w, 4, 64);
}

// Padding: a row of any length quantizes exactly as the same row zero-padded to the block size, and
// dequantize() returns exactly rows × cols.
TEST_P(RoundTrip, AnyRowLengthEqualsTheZeroPaddedRow) {
  const FormatInfo& info = format_info(GetParam());
  for (std::size_t cols : {1, 7, 31, 32, 33, 100, 120, 257}) {
    for (std::size_t rows : {1, 3}) {
      const auto w = test::gaussian(rows * cols, cols * 31 + rows);
      const QuantizedTensor q = quantize(w, rows, cols, GetParam());
      const std::size_t padded = (cols + info.row_alignment - 1) / info.row_alignment * info.row_alignment;
      ASSERT_EQ(q.padded_cols(), padded);
      ASSERT_EQ(q.row_bytes(), padded / info.block_size * info.block_bytes);
      ASSERT_EQ(q.nbytes(), rows * q.row_bytes());
      std::vector<float> wp(rows * padded, 0.0f);
      for (std::size_t r = 0; r < rows; ++r) std::copy_n(&w[r * cols], cols, &wp[r * padded]);
      const QuantizedTensor qp = quantize(wp, rows, padded, GetParam());
      ASSERT_TRUE(std::equal(q.data().begin(), q.data().end(), qp.data().begin(), qp.data().end()))
          << "cols " << cols;
      const auto d = dequantize(q);
      const auto dp = dequantize(qp);
      ASSERT_EQ(d.size(), rows * cols);
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 0; c < cols; ++c) ASSERT_EQ(d[r * cols + c], dp[r * padded + c]);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, RoundTrip, ::testing::ValuesIn(kBlockFormats), name_of);

// Relative RMS error on the golden rows' distribution is far below the step-size bound; on real
// weights each format must at least beat the next coarser one (more bits, less error).
TEST(RoundTrip, MoreBitsGiveLessErrorOnRealWeights) {
  const SafetensorsFile file = SafetensorsFile::open(test::repo_data("ppocrv4_rec_linear.safetensors"));
  const auto w = file.read_f32("linear_85.w_0");
  auto rel = [&](Format f) { return measure(w, quantize(w, 6625, 120, f)).rel_rmse; };
  EXPECT_LT(rel(Format::f16), rel(Format::bf16));
  EXPECT_LT(rel(Format::bf16), rel(Format::q8_0));
  EXPECT_LT(rel(Format::q8_0), rel(Format::q5_1));
  EXPECT_LT(rel(Format::q5_1), rel(Format::q5_0));
  EXPECT_LT(rel(Format::q5_0), rel(Format::q4_1));
  EXPECT_LT(rel(Format::q4_1), rel(Format::q4_0));
  EXPECT_EQ(rel(Format::f32), 0.0);
}

// ---------------------------------------------------------------------------------------------
// Importance weights (the byte-exact choices are in test_golden.cpp; these check what they mean)

const std::vector<Format> kImportanceFormats = {Format::q4_1, Format::q5_1, Format::q2_K, Format::q4_K,
                                                Format::q5_K};

// Columns without importance (zeros in places, a whole 32-column block, or everywhere) still give
// finite scales and finite dequantized weights.
TEST(Importance, ZeroImportanceColumnsGiveFiniteOutput) {
  constexpr std::size_t rows = 6, cols = 512;
  std::vector<float> w = test::gaussian(rows * cols, 17);
  std::fill(w.begin() + 2 * cols, w.begin() + 3 * cols, 0.0f);      // a zero row
  std::fill(w.begin() + 3 * cols, w.begin() + 4 * cols, -0.25f);    // a constant row
  std::vector<float> sparse(cols, 1.0f), none(cols, 0.0f);
  for (std::size_t c = 0; c < cols; c += 3) sparse[c] = 0.0f;
  std::fill(sparse.begin() + 64, sparse.begin() + 96, 0.0f);
  std::fill(sparse.begin() + 256, sparse.end(), 0.0f);              // a whole super-block
  for (Format f : kImportanceFormats) {
    for (const auto* importance : {&sparse, &none}) {
      SCOPED_TRACE(std::string(format_name(f)) + (importance == &none ? " all zero" : " sparse"));
      const QuantizedTensor q = quantize(w, rows, cols, f, {.importance = *importance});
      const std::vector<float> d = dequantize(q);
      ASSERT_EQ(d.size(), w.size());
      for (std::size_t i = 0; i < d.size(); ++i) ASSERT_TRUE(std::isfinite(d[i])) << i;
      // The zero row has nothing to fit: whatever the importance, it comes back as zeros.
      for (std::size_t c = 0; c < cols; ++c) ASSERT_EQ(d[2 * cols + c], 0.0f) << c;
    }
  }
}

// Uniform importance says nothing about the columns, so its value must not matter: scaling it by a
// power of two scales every weighted sum exactly and must leave every choice, and so every byte, as is.
TEST(Importance, ScalingUniformImportanceByAPowerOfTwoKeepsTheBytes) {
  constexpr std::size_t rows = 8, cols = 512;
  const std::vector<float> w = test::gaussian(rows * cols, 23);
  for (Format f : kImportanceFormats) {
    SCOPED_TRACE(format_name(f));
    const QuantizedTensor one = quantize(w, rows, cols, f, {.importance = std::vector<float>(cols, 1.0f)});
    for (float c : {4.0f, 0.125f}) {
      const QuantizedTensor scaled = quantize(w, rows, cols, f, {.importance = std::vector<float>(cols, c)});
      ASSERT_TRUE(std::equal(one.data().begin(), one.data().end(), scaled.data().begin(), scaled.data().end()))
          << "importance " << c;
    }
  }
}

// Importance concentrated on one column must buy that column accuracy: summed over many rows, its
// squared error (in double) is below what uniform importance gives.
TEST(Importance, ConcentratedImportanceReproducesThatColumnBetter) {
  constexpr std::size_t rows = 64, cols = 256, column = 77;
  const std::vector<float> w = test::gaussian(rows * cols, 31);
  std::vector<float> uniform(cols, 1.0f), focused(cols, 1.0f);
  focused[column] = 1e4f;
  auto column_error = [&](Format f, const std::vector<float>& importance) {
    const std::vector<float> d = dequantize(quantize(w, rows, cols, f, {.importance = importance}));
    double e2 = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      const double e = static_cast<double>(w[r * cols + column]) - d[r * cols + column];
      e2 += e * e;
    }
    return e2;
  };
  for (Format f : kImportanceFormats) {
    SCOPED_TRACE(format_name(f));
    EXPECT_LT(column_error(f, focused), column_error(f, uniform));
  }
}

// The K-quants search several groups side by side; every group must get exactly what the one-group
// search (the direct transcription of ggml's steps) gives it, bit for bit, whatever the group holds.
TEST(ScaleMinSearch, GroupsSideBySideChooseExactlyAsOneAtATime) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (int n : {16, 32}) {
    for (int groups : {1, 5, 8, 13, 16}) {
      for (int nmax : {3, 15, 31}) {
        std::vector<float> x(static_cast<std::size_t>(groups * n)), w(x.size());
        for (int g = 0; g < groups; ++g) {
          // Scales from 2^-20 to 2^19, and now and then 2^-140: subnormal weights, where the
          // inverse scale overflows and ggml's rounding leaves its valid range.
          const float scale = std::ldexp(1.0f, g % 7 == 6 ? -140 : static_cast<int>(rng() % 40) - 20);
          for (int i = 0; i < n; ++i) {
            float v = 0.0f;
            switch ((g + nmax) % 6) {
              case 0: v = normal(rng); break;
              case 1: v = std::fabs(normal(rng)); break;           // all positive
              case 2: v = -std::fabs(normal(rng)) - 0.5f; break;   // all negative
              case 3: v = g % 2 ? -0.75f : 0.0f; break;            // flat: nothing to fit
              case 4: v = std::round(uniform(rng) * 3.0f); break;  // few distinct values
              default: v = normal(rng) * normal(rng) * normal(rng); break;
            }
            x[static_cast<std::size_t>(g * n + i)] = v * scale;
            w[static_cast<std::size_t>(g * n + i)] = (i % 5 == 0) ? 0.0f : std::fabs(uniform(rng));
          }
        }
        for (auto error : {formats::FitError::squared, formats::FitError::absolute}) {
          for (formats::ScaleTrials trials : {formats::ScaleTrials{-1.0f, 0.1f, 20}, formats::ScaleTrials{-0.9f, 0.05f, 36},
                                              formats::ScaleTrials{-0.5f, 0.1f, 0}}) {
            std::vector<std::uint8_t> codes(x.size()), one_codes(x.size());
            std::vector<formats::ScaleMinFit> fits(static_cast<std::size_t>(groups));
            formats::search_scale_and_min_groups(x.data(), w.data(), groups, n, nmax, codes.data(), fits.data(),
                                                 trials, error);
            for (int g = 0; g < groups; ++g) {
              const std::size_t at = static_cast<std::size_t>(g * n);
              const formats::ScaleMinFit one =
                  formats::search_scale_and_min(&x[at], &w[at], n, nmax, &one_codes[at], trials, error);
              ASSERT_EQ(std::bit_cast<std::uint32_t>(fits[g].scale), std::bit_cast<std::uint32_t>(one.scale)) << g;
              ASSERT_EQ(std::bit_cast<std::uint32_t>(fits[g].min), std::bit_cast<std::uint32_t>(one.min)) << g;
            }
            ASSERT_EQ(codes, one_codes) << "n " << n << ", groups " << groups << ", nmax " << nmax;
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Size accounting and measure()

TEST(Sizes, EveryStoredByteIsCounted) {
  const auto w = test::gaussian(3 * 33, 1);
  const QuantizedTensor q = quantize(w, 3, 33, Format::q4_0);
  EXPECT_EQ(q.nbytes(), 3u * 2 * 18);  // 33 columns need two blocks per row
  EXPECT_DOUBLE_EQ(q.bits_per_weight(), 3.0 * 2 * 18 * 8 / (3 * 33));
  EXPECT_EQ(q.data().size(), q.nbytes());
  const QuantStats s = measure(w, q);
  EXPECT_EQ(s.bytes, q.nbytes());
  EXPECT_DOUBLE_EQ(s.compression, 4.0 * 3 * 33 / q.nbytes());
}

TEST(Measure, AgreesWithAnIndependentComputation) {
  const auto w = test::gaussian(5 * 40, 9);
  for (Format f : {Format::q4_0, Format::q8_0, Format::bf16}) {
    const QuantizedTensor q = quantize(w, 5, 40, f);
    const auto d = dequantize(q);
    double e2 = 0, w2 = 0, d2 = 0, wd = 0, mx = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      const double e = double(w[i]) - d[i];
      e2 += e * e, w2 += double(w[i]) * w[i], d2 += double(d[i]) * d[i], wd += double(w[i]) * d[i];
      mx = std::max(mx, std::fabs(e));
    }
    const QuantStats s = measure(w, q);
    EXPECT_NEAR(s.rmse, std::sqrt(e2 / w.size()), 1e-12 * std::sqrt(w2));
    EXPECT_EQ(s.max_abs, mx);
    EXPECT_NEAR(s.sqnr_db, 10 * std::log10(w2 / e2), 1e-9);
    EXPECT_NEAR(s.cosine, wd / std::sqrt(w2 * d2), 1e-12);
    EXPECT_NEAR(s.rel_rmse, std::sqrt(e2 / w2), 1e-12);
  }
}

TEST(Measure, ExactAndZeroCases) {
  const std::vector<float> w = {1.0f, -2.0f, 0.5f, 4.0f};
  const QuantStats exact = measure(w, quantize(w, 2, 2, Format::f16));  // all exact in f16
  EXPECT_EQ(exact.rmse, 0.0);
  EXPECT_TRUE(std::isinf(exact.sqnr_db));
  EXPECT_EQ(exact.cosine, 1.0);
  const std::vector<float> zeros(64, 0.0f);
  const QuantStats zero = measure(zeros, quantize(zeros, 2, 32, Format::q4_0));
  EXPECT_EQ(zero.rmse, 0.0);
  EXPECT_EQ(zero.cosine, 1.0);
  EXPECT_EQ(zero.rel_rmse, 0.0);
  EXPECT_THROW(measure(std::vector<float>(3), quantize(w, 2, 2, Format::f16)), Error);
}

// ---------------------------------------------------------------------------------------------
// Zero scales: a block whose scale is 0, or so small that its reciprocal is not finite (weights
// below ~1e-36), stores the codes of zero at every level and dequantizes to exactly 0.

// The bytes after a block's fp16 scale fields (d, and s or m) when every code is the code of zero,
// written out by hand from each layout: q8 0; q4_0 8 per nibble; q5_0 16 (low nibble 0, fifth bit 1);
// q4_1 and q5_1 0; iq4 the grid's value nearest 0 (index 8), and iq4_xs's sub-scales 32 (low 0, high 2).
// all_zero: the block's weights are all 0 (d = 0), rather than too small for 1/d to be finite.
std::vector<std::uint8_t> zero_code_body(Format f, bool all_zero) {
  auto bytes = [](std::size_t n, std::uint8_t v) { return std::vector<std::uint8_t>(n, v); };
  auto join = [](std::vector<std::uint8_t> a, const std::vector<std::uint8_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  switch (f) {
    case Format::q8_0: case Format::q8_1: return bytes(32, 0x00);
    case Format::q4_0: return bytes(16, all_zero ? 0x88 : 0x00);
    case Format::q4_1: return bytes(16, 0x00);
    case Format::q5_0: return join(bytes(4, all_zero ? 0xff : 0x00), bytes(16, 0x00));
    case Format::q5_1: return join(bytes(4, 0x00), bytes(16, 0x00));
    case Format::iq4_nl: return bytes(16, 0x88);
    case Format::iq4_xs: return join(join(bytes(2, 0xaa), bytes(4, 0x00)), bytes(128, 0x88));
    default: throw std::logic_error("no zero-code block for this format");
  }
}

// Rows of one block each (256 weights, iq4_xs's block): zeros, subnormal constants, tiny random
// weights, and magnitudes just under the limit where max/127 loses its finite reciprocal.
std::vector<float> zero_scale_rows(std::size_t& rows) {
  const std::size_t cols = 256;
  std::vector<float> w;
  auto add = [&](std::vector<float> row) { w.insert(w.end(), row.begin(), row.end()); };
  add(std::vector<float>(cols, 0.0f));
  add(std::vector<float>(cols, 1e-40f));
  add(std::vector<float>(cols, -1e-40f));
  add(test::gaussian(cols, 7, 1e-41f));
  add(test::gaussian(cols, 8, 1e-39f));
  std::vector<float> mixed = test::gaussian(cols, 9, 1e-40f);
  for (std::size_t c = 0; c < cols; c += 5) mixed[c] = std::numeric_limits<float>::denorm_min();
  mixed[17] = -FLT_MIN / 64;  // the largest magnitude, still subnormal
  add(mixed);
  rows = w.size() / cols;
  return w;
}

std::vector<Isa> levels_here() { return test::supported_levels(); }

TEST(ZeroScale, SubnormalBlocksStoreTheCodesOfZeroAtEveryLevel) {
  const std::size_t cols = 256;
  std::size_t rows = 0;
  const std::vector<float> w = zero_scale_rows(rows);
  for (Format f : {Format::q8_0, Format::q8_1, Format::q4_0, Format::q4_1, Format::q5_0, Format::q5_1,
                   Format::iq4_nl, Format::iq4_xs}) {
    const formats::FormatTraits& t = formats::traits(f);
    const std::size_t blocks = cols / t.info.block_size, bytes = blocks * t.info.block_bytes;
    for (std::size_t r = 0; r < rows; ++r) {
      const std::vector<std::uint8_t> body = zero_code_body(f, /*all_zero=*/r == 0);  // row 0 is zeros
      const std::size_t header = t.info.block_bytes - body.size();  // the fp16 scale fields
      std::vector<std::byte> want(bytes);
      t.quantize_row_ref(w.data() + r * cols, want.data(), cols);
      for (std::size_t b = 0; b < blocks; ++b) {
        const std::byte* block = want.data() + b * t.info.block_bytes;
        for (std::size_t h = 0; h < header; h += 2) {  // every scale is ±0 in fp16
          std::uint16_t half;
          std::memcpy(&half, block + h, 2);
          ASSERT_EQ(half & 0x7fff, 0) << t.info.name << " row " << r << " block " << b << " field " << h / 2;
        }
        ASSERT_EQ(std::memcmp(block + header, body.data(), body.size()), 0)
            << t.info.name << " row " << r << " block " << b;
      }
      std::vector<float> back(cols, 1.0f);
      t.dequantize_row_ref(want.data(), back.data(), cols);
      for (std::size_t c = 0; c < cols; ++c) {
        ASSERT_EQ(back[c], 0.0f) << t.info.name << " row " << r << " col " << c;
      }
      for (Isa isa : levels_here()) {
        const formats::QuantizeRowFn fast = kernels::kernel_table(isa).quantize_row[static_cast<std::size_t>(f)];
        if (fast == nullptr) continue;  // this level uses the reference itself
        std::vector<std::byte> got(bytes);
        fast(w.data() + r * cols, got.data(), cols);
        ASSERT_EQ(got, want) << t.info.name << " " << isa_name(isa) << " row " << r;
      }
    }
  }
}

// The activations of a layer are quantized as q8_0 blocks: subnormal ones give codes, sums and
// scales of 0 at every level.
TEST(ZeroScale, SubnormalActivationsQuantizeToZero) {
  const std::size_t cols = 256, blocks = cols / 32;
  std::size_t rows = 0;
  const std::vector<float> x = zero_scale_rows(rows);
  for (Isa isa : levels_here()) {
    const std::size_t record = kernels::act_record_bytes(1);
    for (std::size_t r = 0; r < rows; ++r) {
      std::vector<std::byte> tile(blocks * record, std::byte{0x5a});
      const kernels::ActivationRowOut out{
          reinterpret_cast<std::int8_t*>(tile.data()),
          reinterpret_cast<float*>(tile.data() + kernels::act_scale_offset(1)),
          reinterpret_cast<std::int32_t*>(tile.data() + kernels::act_sum_offset(1)),
          reinterpret_cast<float*>(tile.data() + kernels::act_scaled_sum_offset(1)),
          reinterpret_cast<std::int16_t*>(tile.data() + kernels::act_half_sums_offset(1)), record};
      kernels::kernel_table(isa).quantize_activation_row(x.data() + r * cols, cols, blocks, out);
      for (std::size_t b = 0; b < blocks; ++b) {
        const std::byte* rec = tile.data() + b * record;
        for (std::size_t j = 0; j < 32; ++j) ASSERT_EQ(rec[j], std::byte{0}) << isa_name(isa) << " row " << r;
        float d, scaled;
        std::int32_t sum;
        std::memcpy(&d, rec + kernels::act_scale_offset(1), 4);
        std::memcpy(&sum, rec + kernels::act_sum_offset(1), 4);
        std::memcpy(&scaled, rec + kernels::act_scaled_sum_offset(1), 4);
        ASSERT_EQ(d, 0.0f) << isa_name(isa) << " row " << r;
        ASSERT_EQ(sum, 0);
        ASSERT_EQ(scaled, 0.0f);
        std::int16_t halves[2];
        std::memcpy(halves, rec + kernels::act_half_sums_offset(1), 4);
        ASSERT_EQ(halves[0], 0);
        ASSERT_EQ(halves[1], 0);
      }
    }
  }
}

// Only blocks with a non-finite reciprocal change: the smallest weights with a finite one keep
// their ordinary codes (here the full range ±127 of q8_0).
TEST(ZeroScale, BlocksWithAFiniteReciprocalKeepTheirCodes) {
  std::vector<float> w(32, 0.0f);
  w[0] = 1e-36f;   // d = 1e-36/127 ≈ 7.9e-39, 1/d ≈ 1.3e38: finite
  w[1] = -1e-36f;
  formats::block_q8_0 q;
  formats::quantize_row_q8_0_ref(w.data(), &q, 32);
  EXPECT_EQ(q.qs[0], 127);
  EXPECT_EQ(q.qs[1], -127);
  EXPECT_EQ(q.qs[2], 0);
}

// ---------------------------------------------------------------------------------------------
// Errors on bad input

TEST(QuantizeErrors, ShapesAndSizes) {
  const std::vector<float> w(12, 1.0f);
  EXPECT_NE(error_message([&] { quantize(w, 0, 12, Format::q4_0); }, ErrorCode::size_mismatch).find("[0, 12]"),
            std::string::npos);
  EXPECT_NE(error_message([&] { quantize({}, 3, 0, Format::q8_0); }, ErrorCode::size_mismatch).find("[3, 0]"),
            std::string::npos);
  const std::string m = error_message([&] { quantize(w, 3, 5, Format::q8_0); }, ErrorCode::size_mismatch);
  EXPECT_NE(m.find("12 values"), std::string::npos) << m;
  EXPECT_NE(m.find("3 × 5 = 15"), std::string::npos) << m;
  error_message([&] { quantize(w, SIZE_MAX, 2, Format::q8_0); }, ErrorCode::invalid_argument);  // overflow
}

TEST(QuantizeErrors, NonFiniteWeightsNameRowAndColumn) {
  for (Format f : {Format::f32, Format::q4_0, Format::i8}) {
    std::vector<float> w(4 * 10, 0.5f);
    w[2 * 10 + 7] = NAN;
    std::string m = error_message([&] { quantize(w, 4, 10, f); }, ErrorCode::non_finite);
    EXPECT_NE(m.find("row 2, column 7 is NaN"), std::string::npos) << m;
    w[2 * 10 + 7] = 0.0f;
    w[3 * 10 + 1] = -INFINITY;
    m = error_message([&] { quantize(w, 4, 10, f); }, ErrorCode::non_finite);
    EXPECT_NE(m.find("row 3, column 1 is Inf"), std::string::npos) << m;
  }
}

TEST(QuantizeErrors, ValuesBeyondTheF16Range) {
  std::vector<float> w(8, 1.0f);
  w[5] = 70000.0f;
  const std::string m = error_message([&] { quantize(w, 2, 4, Format::f16); }, ErrorCode::non_finite);
  EXPECT_NE(m.find("row 1, column 1"), std::string::npos) << m;
  w[5] = 65504.0f;  // the largest half is fine
  EXPECT_NO_THROW(quantize(w, 2, 4, Format::f16));
  w[5] = 70000.0f;  // and bf16 has the float range
  EXPECT_NO_THROW(quantize(w, 2, 4, Format::bf16));
}

TEST(QuantizeErrors, FromBlocksChecksTheByteCount) {
  const std::vector<std::byte> bytes(2 * 18);
  EXPECT_NO_THROW(QuantizedTensor::from_blocks(Format::q4_0, 2, 20, bytes));  // 20 pads to one block
  const std::string m = error_message([&] { QuantizedTensor::from_blocks(Format::q4_0, 2, 40, bytes); },
                                      ErrorCode::size_mismatch);
  EXPECT_NE(m.find("expected 72, got 36"), std::string::npos) << m;
  error_message([&] { QuantizedTensor::from_blocks(Format::i8, 2, 20, bytes); }, ErrorCode::invalid_argument);
}

// view_blocks shares the owner's bytes (a mapped file, for read_tensors in Python) instead of copying.
TEST(QuantizeErrors, ViewBlocksSharesTheBytesAndChecksThem) {
  auto owner = std::make_shared<std::vector<std::byte>>(2 * 18 + 32);
  auto* aligned = reinterpret_cast<std::byte*>((reinterpret_cast<std::uintptr_t>(owner->data()) + 15) / 16 * 16);
  std::shared_ptr<const std::byte> blocks(owner, aligned);
  const QuantizedTensor q = QuantizedTensor::view_blocks(Format::q4_0, 2, 20, blocks, 2 * 18);
  EXPECT_EQ(q.data().data(), aligned);
  EXPECT_EQ(q.row_bytes(), 18u);
  EXPECT_EQ(owner.use_count(), 3);  // owner, blocks and the tensor's copy
  error_message([&] { QuantizedTensor::view_blocks(Format::q4_0, 2, 40, blocks, 36); }, ErrorCode::size_mismatch);
  error_message([&] { QuantizedTensor::view_blocks(Format::i8, 2, 20, blocks, 36); }, ErrorCode::invalid_argument);
  const std::string m = error_message(
      [&] { QuantizedTensor::view_blocks(Format::q4_0, 2, 20, {owner, aligned + 1}, 36); }, ErrorCode::invalid_argument);
  EXPECT_NE(m.find("16 bytes"), std::string::npos) << m;
}

}  // namespace
}  // namespace qlinear
