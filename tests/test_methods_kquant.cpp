// search and gptq for the K-quants (q2_K … q6_K) and iq4_nl/iq4_xs: the codec's bytes against the
// reference dequantizer, gptq against search, search against ggml's weighted quantizer block by
// block, and the output error on the bundled real weights with their real inputs (skipped when
// ../shared/data is absent).

#include "real_layer.hpp"
#include "test_support.hpp"

#include "formats/registry.hpp"
#include "methods/kquant_codec.hpp"

#include <qlinear/calibration.hpp>
#include <qlinear/runtime.hpp>
#include <qlinear/safetensors.hpp>

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <utility>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace qlinear {
namespace {

using methods::KQuantLayout;
using methods::KQuantParams;

const Format kFormats[] = {Format::q2_K, Format::q3_K, Format::q4_K, Format::q5_K,
                           Format::q6_K, Format::iq4_nl, Format::iq4_xs};

// Random params and codes, encoded; the reference dequantizer must read back every value the codec
// says the code has, and the params must decode to themselves.
template <std::size_t S>
void check_encoding(const KQuantLayout& l, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> bytes(l.block_bytes);
  std::vector<float> back(l.block);
  for (int trial = 0; trial < 50; ++trial) {
    KQuantParams<S> p;
    p.d16 = core::fp32_to_fp16(std::uniform_real_distribution<float>(-0.05f, 0.05f)(rng));
    p.dmin16 = l.has_min ? core::fp32_to_fp16(std::uniform_real_distribution<float>(0.0f, 0.05f)(rng)) : 0;
    for (std::size_t j = 0; j < S; ++j) {
      p.s[j] = static_cast<std::int8_t>(std::uniform_int_distribution<int>(l.smin, l.smax)(rng));
      p.m[j] = l.has_min ? static_cast<std::uint8_t>(std::uniform_int_distribution<int>(0, l.mmax)(rng)) : 0;
    }
    methods::set_sub_values(l, p);
    std::vector<std::uint8_t> codes(l.block);
    for (auto& c : codes) c = static_cast<std::uint8_t>(std::uniform_int_distribution<int>(0, l.code_max)(rng));
    methods::encode_kquant_block(l, p, codes.data(), bytes.data());
    formats::traits(l.format).dequantize_row_ref(bytes.data(), back.data(), l.block);
    for (std::size_t i = 0; i < l.block; ++i) {
      const std::size_t j = i / l.sub;
      ASSERT_EQ(back[i], methods::code_value(l, p.a[j], p.b[j], codes[i])) << format_name(l.format) << " " << i;
    }
    const KQuantParams<S> d = methods::decode_kquant_params<S>(l, bytes.data());
    ASSERT_EQ(d.d16, p.d16);
    for (std::size_t j = 0; j < S; ++j) {
      ASSERT_EQ(d.s[j], p.s[j]) << j;
      ASSERT_EQ(d.m[j], p.m[j]) << j;
    }
  }
}

TEST(KQuantCodec, BytesDecodeWithTheFormatsDequantizer) {
  for (const Format f : kFormats) {
    const KQuantLayout l = *methods::kquant_layout(f);
    switch (l.subs()) {
      case 1: check_encoding<1>(l, 1); break;
      case 8: check_encoding<8>(l, 2); break;
      default: check_encoding<16>(l, 3); break;
    }
  }
}

// The nearest code really holds the nearest value (checked against every code in double).
TEST(KQuantCodec, NearestCodeHoldsTheNearestValue) {
  std::mt19937 rng(4);
  for (const Format f : kFormats) {
    const KQuantLayout l = *methods::kquant_layout(f);
    for (int trial = 0; trial < 2000; ++trial) {
      const float a = std::uniform_real_distribution<float>(-0.02f, 0.02f)(rng);
      const float b = l.has_min ? std::uniform_real_distribution<float>(0.0f, 0.05f)(rng) : 0.0f;
      const float x = std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng) * std::fabs(a) * 140.0f;
      const int q = methods::nearest_code(l, a, b, x);
      const double here = std::fabs(double(x) - methods::code_value(l, a, b, q));
      for (int c = 0; c <= l.code_max; ++c) {
        ASSERT_LE(here, std::fabs(double(x) - methods::code_value(l, a, b, c))) << format_name(f) << " " << x;
      }
    }
  }
}

void expect_same_bytes(const QuantizedTensor& a, const QuantizedTensor& b) {
  ASSERT_EQ(a.data().size(), b.data().size());
  for (std::size_t i = 0; i < a.data().size(); ++i) ASSERT_EQ(a.data()[i], b.data()[i]) << "byte " << i;
}

Calibration identity_statistics(std::size_t cols) {
  std::vector<float> x(cols * cols, 0.0f);
  for (std::size_t i = 0; i < cols; ++i) x[i * cols + i] = 1.0f;
  Calibration c(cols);
  c.add(x, cols);
  return c;
}

class KQuantMethodTest : public ::testing::TestWithParam<Format> {};

// With XᵀX = I nothing is compensated, so gptq must choose exactly search's params and levels, and
// search with that calibration (its block-diagonal compensation) those of search with only its
// importance.
TEST_P(KQuantMethodTest, GptqWithIdentityStatisticsGivesTheBytesOfSearch) {
  for (const std::size_t cols : {20u, 256u, 300u, 600u}) {  // shorter than a block, exact, padded
    constexpr std::size_t rows = 7;
    const Calibration identity = identity_statistics(cols);
    const std::vector<float> w = test::gaussian(rows * cols, 31);
    const std::vector<float> importance = identity.importance();
    QuantizeOptions o{.importance = importance, .method = Method::search};
    const QuantizedTensor weighted = quantize(w, rows, cols, GetParam(), o);
    o = {.method = Method::search, .calibration = &identity};
    const QuantizedTensor searched = quantize(w, rows, cols, GetParam(), o);
    o.method = Method::gptq;
    const QuantizedTensor compensated = quantize(w, rows, cols, GetParam(), o);
    SCOPED_TRACE("cols " + std::to_string(cols));
    expect_same_bytes(weighted, searched);
    expect_same_bytes(searched, compensated);
    const std::vector<float> d = dequantize(compensated);
    for (float v : d) ASSERT_TRUE(std::isfinite(v));
  }
}

// Σ importance·(w − ŵ)² of one block's real columns, in double from the dequantized values.
double block_error(const std::vector<float>& w, const std::vector<float>& q, const std::vector<float>& importance,
                   std::size_t row, std::size_t cols, std::size_t begin, std::size_t end) {
  double e = 0.0;
  for (std::size_t c = begin; c < end; ++c) {
    const double d = double(w[row * cols + c]) - double(q[row * cols + c]);
    e += double(importance[c]) * d * d;
  }
  return e;
}

// ggml's weighted result is one of search's candidates, so search can never lose on its own
// objective, block by block; it must also win overall.
void expect_search_beats_reference(Format f, const std::vector<float>& w, std::size_t rows, std::size_t cols,
                                   const std::vector<float>& importance, const std::string& what) {
  const std::size_t block = format_info(f).block_size;
  const std::vector<float> ref = dequantize(quantize(w, rows, cols, f, {.importance = importance}));
  const std::vector<float> searched =
      dequantize(quantize(w, rows, cols, f, {.importance = importance, .method = Method::search}));
  double total_searched = 0.0, total_ref = 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t b = 0; b * block < cols; ++b) {
      const std::size_t end = std::min(cols, (b + 1) * block);
      const double es = block_error(w, searched, importance, r, cols, b * block, end);
      const double er = block_error(w, ref, importance, r, cols, b * block, end);
      // Summation order may differ from the search's own double sum: a relative 1e-12 covers it.
      ASSERT_LE(es, er * (1.0 + 1e-12)) << format_name(f) << " " << what << " row " << r << " block " << b;
      total_searched += es, total_ref += er;
    }
  }
  std::printf("%-7s %-28s weighted error search / ref+imp = %.3f\n", std::string(format_name(f)).c_str(),
              what.c_str(), total_searched / total_ref);
  EXPECT_LT(total_searched, total_ref) << format_name(f) << " " << what;
}

void expect_search_beats_reference_or_ties(Format f, const std::vector<float>& w, std::size_t rows, std::size_t cols,
                                           const std::vector<float>& importance) {
  const std::size_t block = format_info(f).block_size;
  const std::vector<float> ref = dequantize(quantize(w, rows, cols, f, {.importance = importance}));
  const std::vector<float> searched =
      dequantize(quantize(w, rows, cols, f, {.importance = importance, .method = Method::search}));
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t b = 0; b * block < cols; ++b) {
      const std::size_t end = std::min(cols, (b + 1) * block);
      const double es = block_error(w, searched, importance, r, cols, b * block, end);
      const double er = block_error(w, ref, importance, r, cols, b * block, end);
      EXPECT_LE(es, er * (1.0 + 1e-12)) << format_name(f) << " row " << r << " block " << b;
    }
  }
}

TEST_P(KQuantMethodTest, SearchIsNeverWorseThanTheWeightedReferenceOnAnyBlock) {
  constexpr std::size_t rows = 24, cols = 512 + 96;  // two whole super-blocks and a padded one
  std::vector<float> importance = test::gaussian(cols, 41);
  for (float& v : importance) v = v * v + 0.01f;
  expect_search_beats_reference(GetParam(), test::gaussian(rows * cols, 42), rows, cols, importance, "gaussian");
  // Heavy tails: a few large weights per row.
  std::vector<float> w = test::gaussian(rows * cols, 43);
  std::mt19937 rng(44);
  for (std::size_t i = 0; i < w.size(); i += 37) w[i] *= 1.0f + 8.0f * std::uniform_real_distribution<float>()(rng);
  expect_search_beats_reference(GetParam(), w, rows, cols, importance, "heavy tails");
  // Uniform importance.
  expect_search_beats_reference(GetParam(), test::gaussian(rows * cols, 45), rows, cols,
                                std::vector<float>(cols, 1.0f), "uniform importance");
}

std::filesystem::path shared_data() { return std::filesystem::path(QLINEAR_SHARED_DATA_DIR); }

TEST_P(KQuantMethodTest, SearchIsNeverWorseThanTheWeightedReferenceOnRealRows) {
  const auto dir = shared_data();
  if (!std::filesystem::exists(dir / "ppocrv4_rec_linear.safetensors")) GTEST_SKIP() << "no real data";
  const SafetensorsFile weights = SafetensorsFile::open(dir / "ppocrv4_rec_linear.safetensors");
  const SafetensorsFile calib = SafetensorsFile::open(dir / "ppocrv4_rec_activations_calib.safetensors");
  for (const char* name : {"conv2d_180.w_0", "linear_84.w_0", "conv2d_117.w_0"}) {
    const SafetensorsTensorInfo& info = weights.tensor(name);
    const std::size_t out = info.shape[0], in = info.shape[1];
    const std::vector<float> w = weights.read_f32(name), x = calib.read_f32(name);
    Calibration c(in);
    c.add(x, x.size() / in);
    const std::size_t rows = std::min<std::size_t>(out, 96);
    expect_search_beats_reference(GetParam(), std::vector<float>(w.begin(), w.begin() + rows * in), rows, in,
                                  c.importance(), name);
  }
}

// Degenerate blocks: all zero, constant, one weight alone, tiny and large magnitudes, with some
// importance zero. Finite values, and never worse than ggml's weighted result.
TEST_P(KQuantMethodTest, DegenerateBlocks) {
  constexpr std::size_t cols = 256, rows = 7;
  std::vector<float> w(rows * cols, 0.0f);
  const std::vector<float> g = test::gaussian(rows * cols, 71);
  for (std::size_t i = 0; i < cols; ++i) {
    w[1 * cols + i] = 0.25f;                // constant
    w[3 * cols + i] = g[3 * cols + i] * 1e-20f;  // tiny: scales below the f16 range
    w[4 * cols + i] = g[4 * cols + i] * 3e3f;    // large: scales near the top of the f16 range
    w[5 * cols + i] = std::fabs(g[5 * cols + i]);  // all positive
    w[6 * cols + i] = -std::fabs(g[6 * cols + i]) - 1.0f;  // all negative, away from 0
  }
  w[2 * cols + 77] = -1.5f;  // one weight alone
  std::vector<float> importance(cols, 1.0f);
  for (std::size_t i = 0; i < cols; i += 3) importance[i] = 0.0f;
  for (const Method m : {Method::search, Method::gptq}) {
    Calibration c(cols);
    c.add(test::gaussian(300 * cols, 72), 300);
    const QuantizeOptions o{.importance = importance, .method = m, .calibration = &c};
    for (float v : dequantize(quantize(w, rows, cols, GetParam(), o))) ASSERT_TRUE(std::isfinite(v));
  }
  expect_search_beats_reference_or_ties(GetParam(), w, rows, cols, importance);
  // No importance anywhere: taken as uniform.
  const std::vector<float> none(cols, 0.0f);
  const QuantizeOptions o{.importance = none, .method = Method::search};
  for (float v : dequantize(quantize(w, rows, cols, GetParam(), o))) ASSERT_TRUE(std::isfinite(v));
}

// Fewer rows than inputs (rank 24 < 512) and a column no input reaches: gptq works and beats
// search's output error on the calibration rows.
TEST_P(KQuantMethodTest, RankDeficientInputsAndADeadColumn) {
  constexpr std::size_t rows = 16, cols = 512, n = 24, dead = 37;
  std::vector<float> x = test::gaussian(n * cols, 51);
  for (std::size_t r = 0; r < n; ++r) x[r * cols + dead] = 0.0f;
  Calibration c(cols);
  c.add(x, n);
  const std::vector<float> w = test::gaussian(rows * cols, 52);
  QuantizeOptions o{.method = Method::search, .calibration = &c};
  const std::vector<float> searched = dequantize(quantize(w, rows, cols, GetParam(), o));
  o.method = Method::gptq;
  const std::vector<float> compensated = dequantize(quantize(w, rows, cols, GetParam(), o));
  double es = 0.0, eg = 0.0;
  for (std::size_t b = 0; b < n; ++b) {
    for (std::size_t r = 0; r < rows; ++r) {
      double ds = 0.0, dg = 0.0;
      for (std::size_t i = 0; i < cols; ++i) {
        ASSERT_TRUE(std::isfinite(compensated[r * cols + i]));
        ds += double(x[b * cols + i]) * (double(w[r * cols + i]) - searched[r * cols + i]);
        dg += double(x[b * cols + i]) * (double(w[r * cols + i]) - compensated[r * cols + i]);
      }
      es += ds * ds, eg += dg * dg;
    }
  }
  EXPECT_LT(eg, es) << format_name(GetParam());
}

// The choices run on the pool; the bytes must not depend on its size.
TEST_P(KQuantMethodTest, BytesDoNotDependOnTheThreadCount) {
  constexpr std::size_t rows = 37, cols = 300, n = 200;
  const std::vector<float> x = test::gaussian(n * cols, 61), w = test::gaussian(rows * cols, 62);
  Calibration c(cols);
  c.add(x, n);
  const std::size_t threads = num_threads();
  for (const Method m : {Method::search, Method::gptq}) {
    const QuantizeOptions o{.method = m, .calibration = &c};
    set_num_threads(1);
    const QuantizedTensor one = quantize(w, rows, cols, GetParam(), o);
    set_num_threads(3);
    const QuantizedTensor three = quantize(w, rows, cols, GetParam(), o);
    set_num_threads(threads);
    expect_same_bytes(one, three);
  }
}

// ‖X(W − Q)ᵀ‖² = Σ_rows (w − q)ᵀ·XᵀX·(w − q) from the held-out rows' XᵀX, in double.
double gram_error(const Calibration& x, const std::vector<float>& w, const std::vector<float>& q, std::size_t out,
                  std::size_t in) {
  const std::span<const double> g = x.xtx();
  double e = 0.0;
  std::vector<double> d(in);
  for (std::size_t r = 0; r < out; ++r) {
    for (std::size_t c = 0; c < in; ++c) d[c] = double(w[r * in + c]) - q[r * in + c];
    for (std::size_t i = 0; i < in; ++i) {
      double gd = 0.0;
      for (std::size_t j = 0; j < in; ++j) gd += g[i * in + j] * d[j];
      e += d[i] * gd;
    }
  }
  return e;
}

// The 29 bundled layers, quantized with their `calib` inputs, measured on `eval`: pooled
// ‖X(W − Q)ᵀ‖ / ‖X Wᵀ‖. Rows shorter than a block are padded as quantize() pads them (zero
// weights of zero importance), as the measurements of ggml in ../shared/data/README.md were made.
TEST(MethodsRealData, KQuantsAndIq4BeatTheWeightedReferenceOnHeldOutInputs) {
  const auto dir = shared_data();
  if (!std::filesystem::exists(dir / "ppocrv4_rec_linear.safetensors")) GTEST_SKIP() << "no real data";
  const SafetensorsFile weights = SafetensorsFile::open(dir / "ppocrv4_rec_linear.safetensors");
  const SafetensorsFile calib = SafetensorsFile::open(dir / "ppocrv4_rec_activations_calib.safetensors");
  const SafetensorsFile eval = SafetensorsFile::open(dir / "ppocrv4_rec_activations_eval.safetensors");
  constexpr int kMethods = 4;  // reference, reference + importance, search, gptq
  constexpr std::size_t kCount = std::size(kFormats);
  std::array<std::array<double, kMethods>, kCount> error2{}, seconds{};
  double signal2 = 0.0;
  for (const SafetensorsTensorInfo& info : weights.tensors()) {
    const test::RealLayer layer = test::read_real_layer(weights, calib, eval, info);
    const std::size_t out = layer.out, in = layer.in;
    const std::vector<float>& w = layer.w;
    const Calibration &c = layer.calib, &held_out = layer.held_out;
    const std::vector<float> importance = c.importance();
    signal2 += gram_error(held_out, w, std::vector<float>(w.size(), 0.0f), out, in);
    for (std::size_t k = 0; k < kCount; ++k) {
      const QuantizeOptions options[kMethods] = {
          {},
          {.importance = importance},
          {.method = Method::search, .calibration = &c},
          {.method = Method::gptq, .calibration = &c},
      };
      for (int m = 0; m < kMethods; ++m) {
        const auto start = std::chrono::steady_clock::now();
        const QuantizedTensor q = quantize(w, out, in, kFormats[k], options[m]);
        seconds[k][m] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const std::vector<float> d = dequantize(q);
        for (float v : d) ASSERT_TRUE(std::isfinite(v)) << format_name(kFormats[k]) << " " << info.name;
        error2[k][m] += gram_error(held_out, w, d, out, in);
      }
    }
  }
  std::printf("format  reference  ref+imp    search     gptq       search/ref+imp  gptq/ref+imp  search s  gptq s\n");
  for (std::size_t k = 0; k < kCount; ++k) {
    std::array<double, kMethods> ratio;
    for (int m = 0; m < kMethods; ++m) ratio[m] = std::sqrt(error2[k][m] / signal2);
    std::printf("%-7s %.5f    %.5f    %.5f    %.5f    %.3f           %.3f         %.2f      %.2f\n",
                std::string(format_name(kFormats[k])).c_str(), ratio[0], ratio[1], ratio[2], ratio[3],
                ratio[2] / ratio[1], ratio[3] / ratio[1], seconds[k][2], seconds[k][3]);
    const Format f = kFormats[k];
    EXPECT_LT(ratio[2], ratio[1]) << format_name(f);
    // No bundled layer has more than 480 inputs, so search's compensation inside each block of 256
    // (with the calibration's block-diagonal) is nearly all that gptq does: the two differ by 0.04 %
    // for q2_K here, less than OpenBLAS's kernels of another CPU change either. gptq must not be
    // worse than search beyond that.
    EXPECT_LE(ratio[3], ratio[2] * 1.005) << format_name(f);
    // The targets where they are met (measured, damping 0.01: search / ref+imp 0.36–0.55 with
    // the block-diagonal of XᵀX; gptq / ref+imp q3_K 0.376, q5_K 0.454, q6_K 0.375, iq4_nl 0.369,
    // iq4_xs 0.362). Missed: gptq q2_K 0.527, q4_K 0.514 (docs/methods.md).
    EXPECT_LE(ratio[2], 0.90 * ratio[1]) << format_name(f);
    if (f != Format::q2_K && f != Format::q4_K) {
      EXPECT_LE(ratio[3], 0.5 * ratio[1]) << format_name(f);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, KQuantMethodTest, ::testing::ValuesIn(kFormats),
                         [](const auto& param_info) { return std::string(format_name(param_info.param)); });

}  // namespace
}  // namespace qlinear

namespace qlinear {
namespace {

// Not a check (a timed assertion would be a defect on shared machines): prints the time of search
// and gptq for one 4096×4096 layer with its statistics given, for the K-quants and iq4. Run with
// --gtest_also_run_disabled_tests; QLINEAR_TIMING_ROWS shortens the layer (rows of 4096),
// QLINEAR_TIMING_FORMAT=q4_K times one format.
TEST(MethodsTiming, DISABLED_KQuantGptq4096) {
  constexpr std::size_t n = 4096, samples = 1024;
  const char* rows_env = std::getenv("QLINEAR_TIMING_ROWS");
  const std::size_t rows = rows_env ? std::stoul(rows_env) : n;
  const std::vector<float> x = test::gaussian(samples * n, 21);
  Calibration c(n);
  c.add(x, samples);
  const std::vector<float> w = test::gaussian(rows * n, 22, 0.02f);
  // Wall time, and the process's CPU time (all threads): on a shared machine the second is the
  // steadier measure of the work done.
  struct Clock {
    std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
    std::clock_t cpu = std::clock();
    std::pair<double, double> lap() {
      const auto now = std::chrono::steady_clock::now();
      const std::clock_t c = std::clock();
      const std::pair<double, double> r{std::chrono::duration<double>(now - wall).count(),
                                        double(c - cpu) / CLOCKS_PER_SEC};
      wall = now, cpu = c;
      return r;
    }
  };
  const char* only = std::getenv("QLINEAR_TIMING_FORMAT");  // one format, by name
  {  // the legacy q4_0 as the yardstick, in the same conditions
    Clock clock;
    const QuantizedTensor g = quantize(w, rows, n, Format::q4_0, {.method = Method::gptq, .calibration = &c});
    const auto [gptq_s, gptq_cpu] = clock.lap();
    std::printf("q4_0 %zu×4096: gptq %.3f s (cpu %.3f s)\n", rows, gptq_s, gptq_cpu);
  }
  for (const Format f : kFormats) {
    if (only && format_name(f) != only) continue;
    Clock clock;
    const QuantizedTensor s = quantize(w, rows, n, f, {.method = Method::search, .calibration = &c});
    const auto [search_s, search_cpu] = clock.lap();
    const QuantizedTensor g = quantize(w, rows, n, f, {.method = Method::gptq, .calibration = &c});
    const auto [gptq_s, gptq_cpu] = clock.lap();
    std::printf("%s %zu×4096: search %.3f s (cpu %.3f s), gptq %.3f s (cpu %.3f s)\n",
                std::string(format_name(f)).c_str(), rows, search_s, search_cpu, gptq_s, gptq_cpu);
  }
}

}  // namespace
}  // namespace qlinear
