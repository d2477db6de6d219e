// Calibration statistics and the code-choosing methods (search, gptq): exact small cases, and the
// output error on the bundled real weights with their real inputs (skipped when ../shared/data is
// absent).

#include "real_layer.hpp"
#include "test_support.hpp"

#include <qlinear/calibration.hpp>
#include <qlinear/error.hpp>
#include <qlinear/runtime.hpp>
#include <qlinear/tensor.hpp>

#include <qlinear/safetensors.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
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

// ---- The methods ----

struct MethodCase {
  Format format;
  AffineOptions affine;
  std::string name;
};

std::vector<MethodCase> method_cases() {
  using G = AffineOptions::Granularity;
  return {
      {Format::q4_0, {}, "q4_0"},
      {Format::q4_1, {}, "q4_1"},
      {Format::q5_0, {}, "q5_0"},
      {Format::q5_1, {}, "q5_1"},
      {Format::q8_0, {}, "q8_0"},
      {Format::i4, {.symmetric = true, .granularity = G::channel}, "i4_channel"},
      {Format::i4, {.symmetric = false, .granularity = G::group, .group_size = 32}, "i4_asym_g32"},
      {Format::i8, {.symmetric = true, .granularity = G::group, .group_size = 64}, "i8_g64"},
      {Format::i8, {.symmetric = false, .granularity = G::tensor}, "i8_asym_tensor"},
      {Format::i4, {.symmetric = true, .granularity = G::group, .group_size = 256}, "i4_g256"},
  };
}

void expect_same_tensor(const QuantizedTensor& a, const QuantizedTensor& b) {
  ASSERT_EQ(a.data().size(), b.data().size());
  for (std::size_t i = 0; i < a.data().size(); ++i) ASSERT_EQ(a.data()[i], b.data()[i]) << "byte " << i;
  ASSERT_EQ(a.scales().size(), b.scales().size());
  for (std::size_t i = 0; i < a.scales().size(); ++i) ASSERT_EQ(a.scales()[i], b.scales()[i]) << "scale " << i;
  ASSERT_EQ(a.zero_points().size(), b.zero_points().size());
  for (std::size_t i = 0; i < a.zero_points().size(); ++i) ASSERT_EQ(a.zero_points()[i], b.zero_points()[i]);
}

// ‖X(W − Q)ᵀ‖² and ‖X Wᵀ‖² in double.
struct OutputError {
  double error2 = 0, signal2 = 0;
};
OutputError output_error(const std::vector<float>& x, std::size_t batch, const std::vector<float>& w,
                         const std::vector<float>& q, std::size_t out, std::size_t in) {
  OutputError e;
  for (std::size_t b = 0; b < batch; ++b) {
    for (std::size_t r = 0; r < out; ++r) {
      double y = 0, d = 0;
      for (std::size_t c = 0; c < in; ++c) {
        y += double(x[b * in + c]) * w[r * in + c];
        d += double(x[b * in + c]) * (double(w[r * in + c]) - q[r * in + c]);
      }
      e.error2 += d * d, e.signal2 += y * y;
    }
  }
  return e;
}

class MethodTest : public ::testing::TestWithParam<MethodCase> {};

// With XᵀX = I nothing is compensated (U is diagonal), so gptq must pick the very params and
// levels that search picks: one code path for both, checked byte for byte.
TEST_P(MethodTest, GptqWithIdentityStatisticsGivesTheBytesOfSearch) {
  // Shorter than a block, padding after 64, and two 256-groups with padding.
  for (const std::size_t cols : {5u, 70u, 300u}) {
    constexpr std::size_t rows = 9;
    std::vector<float> x(cols * cols, 0.0f);
    for (std::size_t i = 0; i < cols; ++i) x[i * cols + i] = 1.0f;
    Calibration identity(cols);
    identity.add(x, cols);
    const std::vector<float> w = test::gaussian(rows * cols, 11);
    QuantizeOptions o{.affine = GetParam().affine, .method = Method::search, .calibration = &identity};
    const QuantizedTensor searched = quantize(w, rows, cols, GetParam().format, o);
    o.method = Method::gptq;
    const QuantizedTensor compensated = quantize(w, rows, cols, GetParam().format, o);
    SCOPED_TRACE("cols " + std::to_string(cols));
    expect_same_tensor(searched, compensated);
    // And search with a calibration, which minimizes each block's output error under the block's
    // part of XᵀX, reduces to the importance-weighted search when XᵀX = I.
    const std::vector<float> importance = identity.importance();
    const QuantizedTensor weighted = quantize(w, rows, cols, GetParam().format,
                                              {.affine = GetParam().affine, .importance = importance,
                                               .method = Method::search});
    expect_same_tensor(weighted, searched);
  }
}

// Correlated inputs: search with the calibration chooses each block's levels (and, for the block
// formats, its scales) for the block's output error Σ_b (w − q)_bᵀ·H_bb·(w − q)_b, with H_bb the
// part of XᵀX of the block's columns (windows of 32 for i8/i4): it must be well below that of the
// search with only the diagonal (the importance).
TEST_P(MethodTest, SearchWithCorrelatedInputsLowersTheBlockOutputError) {
  constexpr std::size_t rows = 24, cols = 128, n = 400;
  std::vector<float> x = test::gaussian(n * cols, 31);
  for (std::size_t r = 0; r < n; ++r) {  // each input mostly follows its left neighbour
    for (std::size_t j = 1; j < cols; ++j) x[r * cols + j] = 0.8f * x[r * cols + j - 1] + 0.6f * x[r * cols + j];
  }
  Calibration c(cols);
  c.add(x, n);
  const std::vector<float> w = test::gaussian(rows * cols, 32), importance = c.importance();
  const std::vector<float> local = dequantize(quantize(
      w, rows, cols, GetParam().format, {.affine = GetParam().affine, .method = Method::search, .calibration = &c}));
  const std::vector<float> diagonal = dequantize(quantize(
      w, rows, cols, GetParam().format, {.affine = GetParam().affine, .importance = importance, .method = Method::search}));
  const auto block_error = [&](const std::vector<float>& q) {
    const std::span<const double> h = c.xtx();
    double e = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t i = 0; i < cols; ++i) {
        for (std::size_t j = i / 32 * 32; j < i / 32 * 32 + 32; ++j) {
          e += (double(w[r * cols + i]) - q[r * cols + i]) * h[i * cols + j] * (double(w[r * cols + j]) - q[r * cols + j]);
        }
      }
    }
    return e;
  };
  EXPECT_LT(block_error(local), 0.8 * block_error(diagonal));
}

// Fewer rows than inputs (XᵀX of rank 24 < 96) and a column no input reaches: the damping makes
// the factorization possible, the dead column's weights are dropped (they cost nothing), and on the
// calibration rows themselves gptq's output error is below search's.
TEST_P(MethodTest, RankDeficientInputsAndADeadColumn) {
  constexpr std::size_t rows = 16, cols = 96, n = 24, dead = 37;
  std::vector<float> x = test::gaussian(n * cols, 12);
  for (std::size_t r = 0; r < n; ++r) x[r * cols + dead] = 0.0f;
  Calibration c(cols);
  c.add(x, n);
  const std::vector<float> w = test::gaussian(rows * cols, 13);
  QuantizeOptions o{.affine = GetParam().affine, .method = Method::search, .calibration = &c};
  const std::vector<float> searched = dequantize(quantize(w, rows, cols, GetParam().format, o));
  o.method = Method::gptq;
  const QuantizedTensor q = quantize(w, rows, cols, GetParam().format, o);
  const std::vector<float> compensated = dequantize(q);
  for (float v : compensated) ASSERT_TRUE(std::isfinite(v));
  const OutputError s = output_error(x, n, w, searched, rows, cols);
  const OutputError g = output_error(x, n, w, compensated, rows, cols);
  EXPECT_LT(g.error2, s.error2);
  if (GetParam().format == Format::q4_0 || GetParam().format == Format::q8_0) {
    for (std::size_t r = 0; r < rows; ++r) EXPECT_EQ(compensated[r * cols + dead], 0.0f);  // 0 is a level
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, MethodTest, ::testing::ValuesIn(method_cases()),
                         [](const auto& param_info) { return param_info.param.name; });

TEST(Methods, SearchIsNeverWorseThanTheWeightedReferenceOnItsOwnObjective) {
  constexpr std::size_t rows = 64, cols = 256;
  const std::vector<float> w = test::gaussian(rows * cols, 14);
  std::vector<float> importance = test::gaussian(cols, 15);
  for (float& v : importance) v = v * v + 0.01f;
  for (Format f : {Format::q4_0, Format::q4_1, Format::q5_0, Format::q5_1, Format::q8_0}) {
    const std::vector<float> ref = dequantize(quantize(w, rows, cols, f, {.importance = importance}));
    const std::vector<float> plain = dequantize(quantize(w, rows, cols, f));
    const std::vector<float> searched =
        dequantize(quantize(w, rows, cols, f, {.importance = importance, .method = Method::search}));
    // Per block, the search's candidates include ggml's unweighted rule: it must beat or tie it
    // block by block. ggml's weighted search (q4_0/q5_0 weigh by the row's variance too, so the
    // search only sees a per-block version of it) must be beaten on the whole tensor.
    double total_searched = 0, total_ggml = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t b = 0; b < cols / 32; ++b) {
        double es = 0, er = 0, ep = 0;
        for (std::size_t i = b * 32; i < b * 32 + 32; ++i) {
          const double wi = importance[i], v = w[r * cols + i];
          es += wi * (v - searched[r * cols + i]) * (v - searched[r * cols + i]);
          er += wi * (v - ref[r * cols + i]) * (v - ref[r * cols + i]);
          ep += wi * (v - plain[r * cols + i]) * (v - plain[r * cols + i]);
        }
        EXPECT_LE(es, ep * (1 + 1e-12)) << format_name(f) << " row " << r << " block " << b;
        total_searched += es, total_ggml += er;
      }
    }
    EXPECT_LT(total_searched, total_ggml) << format_name(f);
  }
}

// The rows run on the pool (gptq and search with a calibration); the bytes must not depend on its size.
TEST(Methods, GptqBytesDoNotDependOnTheThreadCount) {
  constexpr std::size_t rows = 67, cols = 200, n = 150;
  const std::vector<float> x = test::gaussian(n * cols, 17), w = test::gaussian(rows * cols, 18);
  Calibration c(cols);
  c.add(x, n);
  const std::size_t threads = num_threads();
  for (Format f : {Format::q4_1, Format::i4}) {
    QuantizeOptions o{.method = Method::gptq, .calibration = &c};
    if (f == Format::i4) {
      o.affine = {.symmetric = false, .granularity = AffineOptions::Granularity::group, .group_size = 64};
    }
    for (const Method m : {Method::gptq, Method::search}) {
      o.method = m;
      set_num_threads(1);
      const QuantizedTensor one = quantize(w, rows, cols, f, o);
      set_num_threads(3);
      const QuantizedTensor three = quantize(w, rows, cols, f, o);
      set_num_threads(threads);
      expect_same_tensor(one, three);
    }
  }
}

TEST(Methods, Errors) {
  const std::vector<float> w = test::gaussian(4 * 32, 16);
  Calibration c(32), other(33);
  const auto code = [&](const QuantizeOptions& o, Format f) {
    try {
      quantize(w, 4, 32, f, o);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::internal;
  };
  EXPECT_EQ(code({.method = Method::gptq}, Format::q4_0), ErrorCode::invalid_argument);  // no calibration
  EXPECT_EQ(code({.method = Method::gptq, .calibration = &other}, Format::q4_0), ErrorCode::size_mismatch);
  EXPECT_EQ(code({.method = Method::search, .calibration = &other}, Format::q4_0), ErrorCode::size_mismatch);
  EXPECT_EQ(code({.method = Method::gptq, .calibration = &c, .damping = -1}, Format::q4_0),
            ErrorCode::invalid_argument);
  c.add(std::vector<float>(32, 1.0f), 1);
  EXPECT_EQ(code({.method = Method::gptq, .calibration = &c}, Format::f16), ErrorCode::unsupported);
  // One row of ones: XᵀX is the all-ones matrix, exactly singular; without damping the second
  // pivot is exactly 0.
  try {
    quantize(w, 4, 32, Format::q4_0, {.method = Method::gptq, .calibration = &c, .damping = 0.0});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("raise the damping"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(quantize(w, 4, 32, Format::q4_0, {.method = Method::gptq, .calibration = &c}));
}

// ---- Real weights with their real inputs ----

// CPU seconds of the whole process, all threads.
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

std::filesystem::path shared_data() { return std::filesystem::path(QLINEAR_SHARED_DATA_DIR); }

struct Pooled {
  double error2 = 0, signal2 = 0;
  double ratio() const { return std::sqrt(error2 / signal2); }
};

// ‖X(W − Q)ᵀ‖² = Σ_rows (w − q)ᵀ·XᵀX·(w − q), and ‖X Wᵀ‖² likewise: from the held-out rows' XᵀX,
// in double, in in² per output row instead of rows·in.
OutputError gram_output_error(const Calibration& x, const std::vector<float>& w, const std::vector<float>& q,
                              std::size_t out, std::size_t in, bool with_signal) {
  const std::span<const double> g = x.xtx();
  OutputError e;
  std::vector<double> d(in), v(in);
  for (std::size_t r = 0; r < out; ++r) {
    for (std::size_t c = 0; c < in; ++c) d[c] = double(w[r * in + c]) - q[r * in + c], v[c] = w[r * in + c];
    for (std::size_t i = 0; i < in; ++i) {
      double gd = 0, gv = 0;
      for (std::size_t j = 0; j < in; ++j) gd += g[i * in + j] * d[j];
      if (with_signal) {
        for (std::size_t j = 0; j < in; ++j) gv += g[i * in + j] * v[j];
      }
      e.error2 += d[i] * gd;
      if (with_signal) e.signal2 += v[i] * gv;
    }
  }
  return e;
}

TEST(MethodsRealData, EveryFormatBeatsReferenceOnHeldOutInputs) {
  const auto dir = shared_data();
  if (!std::filesystem::exists(dir / "ppocrv4_rec_linear.safetensors")) {
    GTEST_SKIP() << "real data not found at " << dir.string();
  }
  const SafetensorsFile weights = SafetensorsFile::open(dir / "ppocrv4_rec_linear.safetensors");
  const SafetensorsFile calib = SafetensorsFile::open(dir / "ppocrv4_rec_activations_calib.safetensors");
  const SafetensorsFile eval = SafetensorsFile::open(dir / "ppocrv4_rec_activations_eval.safetensors");
  using G = AffineOptions::Granularity;
  const std::vector<MethodCase> cases = {
      {Format::q4_0, {}, "q4_0"},
      {Format::q4_1, {}, "q4_1"},
      {Format::q5_0, {}, "q5_0"},
      {Format::q5_1, {}, "q5_1"},
      {Format::q8_0, {}, "q8_0"},
      {Format::i4, {.symmetric = false, .granularity = G::group, .group_size = 32}, "i4_asym_g32"},
      {Format::i4, {.symmetric = true, .granularity = G::channel}, "i4_channel"},
      {Format::i8, {.symmetric = true, .granularity = G::channel}, "i8_channel"},
  };
  constexpr int kMethods = 4;  // reference, reference + importance, search, gptq
  std::vector<std::array<Pooled, kMethods>> pooled(cases.size());
  // Wall and CPU seconds (all threads; on a shared machine the CPU time says what the work costs).
  std::vector<std::array<double, kMethods>> seconds(cases.size()), cpu_seconds(cases.size());
  for (const SafetensorsTensorInfo& info : weights.tensors()) {
    const test::RealLayer layer = test::read_real_layer(weights, calib, eval, info);
    const std::size_t out = layer.out, in = layer.in;
    const std::vector<float>& w = layer.w;
    const Calibration &c = layer.calib, &held_out = layer.held_out;
    const std::vector<float> importance = c.importance();
    double signal2 = 0;  // ‖X_eval Wᵀ‖², the same for every format and method
    for (std::size_t k = 0; k < cases.size(); ++k) {
      AffineOptions with_mse = cases[k].affine;
      with_mse.calibration = AffineOptions::Calibration::mse;
      const QuantizeOptions options[kMethods] = {
          {.affine = cases[k].affine},
          {.affine = with_mse, .importance = importance},
          {.affine = cases[k].affine, .method = Method::search, .calibration = &c},
          {.affine = cases[k].affine, .method = Method::gptq, .calibration = &c},
      };
      for (int m = 0; m < kMethods; ++m) {
        const auto start = std::chrono::steady_clock::now();
        const double cpu_start = process_cpu_seconds();
        const QuantizedTensor q = quantize(w, out, in, cases[k].format, options[m]);
        seconds[k][m] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        cpu_seconds[k][m] += process_cpu_seconds() - cpu_start;
        const std::vector<float> d = dequantize(q);
        for (float v : d) ASSERT_TRUE(std::isfinite(v)) << cases[k].name << " " << info.name;
        const OutputError e = gram_output_error(held_out, w, d, out, in, k == 0 && m == 0);
        if (k == 0 && m == 0) signal2 = e.signal2;
        pooled[k][m].error2 += e.error2;
        pooled[k][m].signal2 += signal2;
      }
    }
  }
  std::printf("format        reference  ref+imp    search     gptq       search/ref+imp  gptq/ref+imp  gptq s (cpu)\n");
  for (std::size_t k = 0; k < cases.size(); ++k) {
    const auto& p = pooled[k];
    std::printf("%-13s %.5f    %.5f    %.5f    %.5f    %.3f           %.3f         %.3f (%.3f)\n",
                cases[k].name.c_str(), p[0].ratio(), p[1].ratio(), p[2].ratio(), p[3].ratio(),
                p[2].ratio() / p[1].ratio(), p[3].ratio() / p[1].ratio(), seconds[k][3], cpu_seconds[k][3]);
    // Held-out inputs: gptq and search must do better than the reference rule.
    EXPECT_LT(p[3].ratio(), p[0].ratio()) << cases[k].name;
    EXPECT_LT(p[2].ratio(), p[0].ratio()) << cases[k].name;
    EXPECT_LT(p[3].ratio(), p[2].ratio()) << cases[k].name;
    // The targets: gptq at most half of ggml's importance-weighted rounding, search at most
    // 0.90 of it, for every format; q4_0 gptq at most 0.0070.
    EXPECT_LE(p[3].ratio(), 0.5 * p[1].ratio()) << cases[k].name;
    EXPECT_LE(p[2].ratio(), 0.9 * p[1].ratio()) << cases[k].name;
    if (cases[k].format == Format::q4_0) {
      EXPECT_LE(p[3].ratio(), 0.0070);
    }
  }
}

}  // namespace
}  // namespace qlinear

namespace qlinear {
namespace {

// Not a check (a timed assertion would be a defect on shared machines): prints the time of gptq for
// one 4096×4096 layer with its statistics given. Run with --gtest_also_run_disabled_tests.
TEST(MethodsTiming, DISABLED_Gptq4096) {
  constexpr std::size_t n = 4096, rows = 1024;
  const std::vector<float> x = test::gaussian(rows * n, 21);
  // Wall time, and the CPU time of the whole process (all threads): on a machine shared with other
  // work the wall time says little, the CPU time still says what the work costs.
  const auto cpu_now = process_cpu_seconds;
  auto start = std::chrono::steady_clock::now();
  double cpu_start = cpu_now();
  char text[64];
  const auto seconds = [&] {
    const auto now = std::chrono::steady_clock::now();
    const double cpu = cpu_now();
    std::snprintf(text, sizeof text, "%.3f s (cpu %.3f s)", std::chrono::duration<double>(now - start).count(),
                  cpu - cpu_start);
    start = now, cpu_start = cpu;
    return std::string(text);
  };
  Calibration c(n);
  c.add(x, rows);
  std::printf("Calibration::add, %zu rows × %zu: %s\n", rows, n, seconds().c_str());
  const std::vector<float> w = test::gaussian(n * n, 22, 0.02f);
  for (Format f : {Format::q4_0, Format::q4_1, Format::q8_0}) {
    seconds();
    const QuantizedTensor s = quantize(w, n, n, f, {.method = Method::search, .calibration = &c});
    const std::string search_s = seconds();
    const QuantizedTensor g = quantize(w, n, n, f, {.method = Method::gptq, .calibration = &c});
    std::printf("%s 4096×4096: search %s, gptq %s\n", std::string(format_name(f)).c_str(), search_s.c_str(),
                seconds().c_str());
  }
  seconds();
  const QuantizedTensor g = quantize(w, n, n, Format::i4,
                                     {.affine = {.symmetric = false, .granularity = AffineOptions::Granularity::group,
                                                 .group_size = 32},
                                      .method = Method::gptq, .calibration = &c});
  std::printf("i4 asym g32 4096×4096: gptq %s\n", seconds().c_str());
}

}  // namespace
}  // namespace qlinear
