// Calibration files: activations read as written, statistics written and read back exactly (and read
// by ImportanceMatrix as llama.cpp's importance matrix), the writer's refusals, and the output error
// through XᵀX against a direct double-precision computation.

#include "core/half.hpp"
#include "model/output_error.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

#include <qlinear/calibration_file.hpp>
#include <qlinear/gguf.hpp>
#include <qlinear/imatrix.hpp>
#include <qlinear/safetensors.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

namespace qlinear {
namespace {

// Small integers: their products and sums are exact in double, so XᵀX has one right answer.
std::vector<float> small_integers(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> d(-8, 8);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(d(rng));
  return v;
}

std::vector<double> gram(const std::vector<float>& x, std::size_t rows, std::size_t in) {
  std::vector<double> g(in * in, 0.0);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t i = 0; i < in; ++i) {
      for (std::size_t j = 0; j < in; ++j) g[i * in + j] += double(x[r * in + i]) * x[r * in + j];
    }
  }
  return g;
}

void write_activations(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, std::vector<float>>>& xs,
                       const std::vector<std::vector<std::uint64_t>>& shapes) {
  SafetensorsWriter w(path);
  for (std::size_t i = 0; i < xs.size(); ++i) w.add_tensor(xs[i].first, "F32", shapes[i]);
  w.write_header();
  for (const auto& [name, x] : xs) w.write_tensor_data(name, std::as_bytes(std::span<const float>(x)));
  w.finish();
}

TEST(CalibrationFile, ReadsActivationsAndAccumulatesTheirStatistics) {
  test::TempDir dir;
  const auto a = small_integers(5 * 3, 1), b = small_integers(2 * 3 * 4, 2);
  write_activations(dir / "acts.safetensors", {{"a.weight", a}, {"b.weight", b}}, {{5, 3}, {2, 3, 4}});
  const CalibrationFile f = CalibrationFile::open(dir / "acts.safetensors");
  EXPECT_EQ(f.kind(), CalibrationFile::Kind::activations);
  EXPECT_EQ(f.names(), (std::vector<std::string>{"a.weight", "b.weight"}));
  EXPECT_EQ(f.in_features("a.weight"), 3u);
  EXPECT_EQ(f.rows("b.weight"), 6u);  // 2 × 3 rows of 4 inputs
  EXPECT_EQ(f.activations("b.weight"), b);
  const Calibration c = f.calibration("b.weight");
  EXPECT_EQ(c.rows(), 6u);
  const auto expected = gram(b, 6, 4);
  EXPECT_EQ(std::vector<double>(c.xtx().begin(), c.xtx().end()), expected);
  EXPECT_FALSE(f.contains("c.weight"));
  EXPECT_THROW((void)f.calibration("c.weight"), Error);
}

// The same inputs as GGUF (F32) and safetensors (F16, BF16: each value exact in all three) give the
// same activations and the same statistics.
TEST(CalibrationFile, GgufAndHalfPrecisionActivationsReadAsTheirFloats) {
  test::TempDir dir;
  const std::size_t rows = 7, in = 5;
  const auto x = small_integers(rows * in, 9);
  {
    GgufWriter w(dir / "acts.gguf");
    w.add_tensor("fc.weight", {rows, in}, 0);
    w.write_header();
    w.write_tensor_data("fc.weight", std::as_bytes(std::span<const float>(x)));
    w.finish();
  }
  std::vector<std::uint16_t> f16(x.size()), bf16(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    f16[i] = core::fp32_to_fp16(x[i]);
    bf16[i] = core::fp32_to_bf16(x[i]);
  }
  {
    SafetensorsWriter w(dir / "acts.safetensors");
    w.add_tensor("fc.weight", "F16", {rows, in});
    w.add_tensor("fc2.weight", "BF16", {rows, in});
    w.write_header();
    w.write_tensor_data("fc.weight", std::as_bytes(std::span<const std::uint16_t>(f16)));
    w.write_tensor_data("fc2.weight", std::as_bytes(std::span<const std::uint16_t>(bf16)));
    w.finish();
  }
  const CalibrationFile g = CalibrationFile::open(dir / "acts.gguf");
  const CalibrationFile s = CalibrationFile::open(dir / "acts.safetensors");
  EXPECT_EQ(g.kind(), CalibrationFile::Kind::activations);
  EXPECT_EQ(g.datasets(), std::vector<std::string>{(dir / "acts.gguf").string()});
  EXPECT_EQ(g.activations("fc.weight"), x);
  EXPECT_EQ(s.activations("fc.weight"), x);
  EXPECT_EQ(s.activations("fc2.weight"), x);
  const auto expected = gram(x, rows, in);
  for (const Calibration& c : {g.calibration("fc.weight"), s.calibration("fc.weight"), s.calibration("fc2.weight")}) {
    EXPECT_EQ(std::vector<double>(c.xtx().begin(), c.xtx().end()), expected);
    EXPECT_EQ(c.rows(), rows);
  }
}

TEST(CalibrationFile, StatisticsRoundTripExactlyAndReadAsAnImportanceMatrix) {
  test::TempDir dir;
  const std::size_t rows = 300, in = 37;
  const auto x = test::gaussian(rows * in, 7);
  Calibration c(in);
  c.add(x, rows);
  const auto path = dir / "stats.gguf";
  write_calibration_statistics(path, {{"blk.0.ffn_up.weight", in, rows}}, {"calib.txt"}, [&](std::size_t) { return c; });

  const CalibrationFile f = CalibrationFile::open(path);
  EXPECT_EQ(f.kind(), CalibrationFile::Kind::statistics);
  EXPECT_EQ(f.datasets(), std::vector<std::string>{"calib.txt"});
  EXPECT_EQ(f.rows("blk.0.ffn_up.weight"), rows);
  const Calibration back = f.calibration("blk.0.ffn_up.weight");
  EXPECT_EQ(back.rows(), rows);
  ASSERT_EQ(back.xtx().size(), c.xtx().size());
  EXPECT_EQ(std::memcmp(back.xtx().data(), c.xtx().data(), c.xtx().size() * sizeof(double)), 0);

  // As llama-quantize would read it: in_sum2 / counts, in float.
  const ImportanceMatrix m = ImportanceMatrix::open(path);
  EXPECT_EQ(m.chunks(), rows);
  EXPECT_EQ(m.chunk_size(), 1u);
  const auto values = m.find("blk.0.ffn_up.weight");
  ASSERT_TRUE(values);
  ASSERT_EQ(values->size(), in);
  for (std::size_t i = 0; i < in; ++i) {
    EXPECT_EQ((*values)[i], static_cast<float>(c.xtx()[i * in + i]) / static_cast<float>(rows)) << i;
  }
}

TEST(CalibrationFile, WriterRefusesBadEntriesAndLeavesNoFile) {
  test::TempDir dir;
  const auto path = dir / "stats.gguf";
  Calibration c(4);
  c.add(test::gaussian(8, 1), 2);
  const auto produce = [&](std::size_t) { return c; };
  EXPECT_THROW(write_calibration_statistics(path, {{std::string(56, 'n'), 4, 2}}, {}, produce), Error);
  EXPECT_THROW(write_calibration_statistics(path, {{"w", 4, 2}, {"w", 4, 2}}, {}, produce), Error);
  EXPECT_THROW(write_calibration_statistics(path, {{"w", 4, 3}}, {}, produce), Error);  // rows differ
  EXPECT_THROW(write_calibration_statistics(path, {{"w", 5, 2}}, {}, produce), Error);  // width differs
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(dir.entries().empty());
}

TEST(CalibrationFile, AnImportanceMatrixWithoutXtxIsRefusedWithAHint) {
  test::TempDir dir;
  GgufWriter w(dir / "imatrix.gguf");
  w.set("general.type", GgufValue::string("imatrix"));
  w.add_tensor("w.in_sum2", {1, 2}, 0);
  w.add_tensor("w.counts", {1, 1}, 0);
  w.write_header();
  const float sums[2] = {1, 2}, count = 1;
  w.write_tensor_data("w.in_sum2", std::as_bytes(std::span<const float>(sums)));
  w.write_tensor_data("w.counts", std::as_bytes(std::span<const float>(&count, 1)));
  w.finish();
  const std::string message =
      test::error_message([&] { (void)CalibrationFile::open(dir / "imatrix.gguf"); }, ErrorCode::unsupported);
  EXPECT_NE(message.find("--imatrix"), std::string::npos) << message;
}

// ‖X(A−B)ᵀ‖² and ‖X·Aᵀ‖² through XᵀX against X·Aᵀ itself, both in double. Through XᵀX the value is
// built from sums of `rows` terms (XᵀX), `out` terms (EᵀE), then `in` and `in` (the inner product
// row by row), plus 3 roundings of products: within (rows + out + 2·in + 3)·u of the exact value
// relative to the same sum over absolute values (Higham's bound for nested sums); the direct
// computation's own bound, in + 1, is smaller than that, so twice it covers both.
TEST(OutputError, MatchesTheDirectProductInDouble) {
  const std::size_t rows = 70, in = 45, out = 13;
  const auto x = test::gaussian(rows * in, 3);
  const auto a = test::gaussian(out * in, 4);
  auto b = a;
  const auto noise = test::gaussian(out * in, 5, 0.01f);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] += noise[i];
  Calibration c(in);
  c.add(x, rows);
  const auto sums = model::output_error_sums(a, b, out, c);

  double error2 = 0, signal2 = 0, error_abs2 = 0, signal_abs2 = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t o = 0; o < out; ++o) {
      double y = 0, e = 0, y_abs = 0, e_abs = 0;
      for (std::size_t i = 0; i < in; ++i) {
        const double xi = x[r * in + i], d = double(a[o * in + i]) - b[o * in + i];
        y += xi * a[o * in + i], e += xi * d;
        y_abs += std::fabs(xi * a[o * in + i]), e_abs += std::fabs(xi * d);
      }
      error2 += e * e, signal2 += y * y, error_abs2 += e_abs * e_abs, signal_abs2 += y_abs * y_abs;
    }
  }
  const double u = 0x1p-53, terms = static_cast<double>(rows + out + 2 * in + 3);
  EXPECT_NEAR(sums.error2, error2, 2 * terms * u * error_abs2);
  EXPECT_NEAR(sums.signal2, signal2, 2 * terms * u * signal_abs2);
  EXPECT_GT(sums.error2, 0);
  EXPECT_NEAR(sums.relative(), std::sqrt(error2 / signal2), 1e-12);
  EXPECT_THROW((void)model::output_error_sums(a, b, out + 1, c), Error);
}

}  // namespace
}  // namespace qlinear
