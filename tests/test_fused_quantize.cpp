// The statistics and the one-pass quantize-and-measure of whole models: measure() against an
// independent double-precision computation (the sequential sum measure() made before it was cut
// into panels) within a bound derived from the sizes, and to the digits the report prints; the
// fused pass against quantize() + measure() bit for bit on every thread count and level; the kernel
// table's conversions and sums against the reference ones.

#include "core/half.hpp"
#include "core/text_table.hpp"
#include "formats/error_sums.hpp"
#include "kernels/kernel_table.hpp"
#include "model/background_write.hpp"
#include "model/fused_quantize.hpp"
#include "temp_dir.hpp"
#include "levels.hpp"
#include "test_support.hpp"

#include <qlinear/gguf.hpp>
#include <qlinear/model.hpp>
#include <qlinear/runtime.hpp>
#include <qlinear/safetensors.hpp>

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace qlinear {
namespace {

std::vector<Isa> levels() { return test::supported_levels(); }

struct LevelScope {  // restores the level in use and the default thread count when a test ends
  LevelScope() : isa(active_isa()) {}
  ~LevelScope() {
    set_isa(isa);
    set_num_threads(0);
  }
  Isa isa;
};

// ---------------------------------------------------------------------------------------------
// measure() against an independent computation

// The sums as measure() made them before: one pass, in element order, in double. abs_dot is Σ|w·ŵ|,
// the scale of the rounding error of the signed sum Σ w·ŵ.
struct SequentialSums {
  double error2 = 0, signal2 = 0, restored2 = 0, dot = 0, abs_dot = 0, max_abs = 0;
};

SequentialSums sequential_sums(const std::vector<float>& w, const QuantizedTensor& q) {
  const std::vector<float> d = dequantize(q);
  SequentialSums s;
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double a = w[i], b = d[i], e = a - b;
    s.error2 += e * e;
    s.signal2 += a * a;
    s.restored2 += b * b;
    s.dot += a * b;
    s.abs_dot += std::fabs(a * b);
    s.max_abs = std::max(s.max_abs, std::fabs(e));
  }
  return s;
}

// Both computations add the same terms (each the same double operations on the same floats), in
// different orders. Any order of n additions is within γ_(n−1)·Σ|t| of the exact sum (Higham,
// Accuracy and Stability of Numerical Algorithms, §4.2), γ_k = k·u / (1 − k·u), u = 2^-53; two
// orders are therefore within 2·γ_n·Σ|t| of each other. For the sums of squares Σ|t| is the sum
// itself, so the bound is relative; for Σ w·ŵ it is relative to Σ|w·ŵ|. The statistics then add
// their own roundings (a division, a square root, a logarithm: a few u each, on either side).
void expect_same_statistics(const QuantStats& s, const SequentialSums& ref, std::size_t n, std::size_t bytes) {
  const double u = std::ldexp(1.0, -53);
  const double nd = static_cast<double>(n);
  const double g = 2 * nd * u / (1 - nd * u);          // relative bound on error2, signal2, restored2
  const double gd = ref.dot == 0 ? 0 : g * ref.abs_dot / std::fabs(ref.dot);  // the same for dot
  const auto ratio = [](double a, double b) { return (a + b) / (1 - b); };  // |(1+x)/(1+y) − 1|, |x|<=a, |y|<=b
  const double nan = std::numeric_limits<double>::quiet_NaN();

  EXPECT_EQ(s.max_abs, ref.max_abs);  // a maximum does not depend on the order
  EXPECT_EQ(s.bytes, bytes);
  EXPECT_EQ(s.compression, 4.0 * nd / static_cast<double>(bytes));
  const double rmse = std::sqrt(ref.error2 / nd);
  EXPECT_NEAR(s.rmse, rmse, rmse * (g / 2 + 4 * u));  // √(1+x) is within x/2 of 1
  if (ref.error2 == 0) {
    EXPECT_TRUE(std::isinf(s.sqnr_db));
  } else {
    const double sqnr = 10 * std::log10(ref.signal2 / ref.error2);
    // d(10·log10 x) = 10/ln 10 · dx/x; log10 and the products round within a few u of |sqnr|
    EXPECT_NEAR(s.sqnr_db, sqnr, 10 / std::log(10.0) * (ratio(g, g) + 4 * u) + 8 * u * std::fabs(sqnr));
  }
  if (ref.signal2 > 0 && ref.restored2 > 0) {
    const double cosine = ref.dot / std::sqrt(ref.signal2 * ref.restored2);
    EXPECT_NEAR(s.cosine, cosine, std::fabs(cosine) * ratio(gd, g) + 8 * u);
  }
  const double rel = ref.signal2 > 0 ? std::sqrt(ref.error2 / ref.signal2) : nan;
  if (ref.signal2 > 0) {
    EXPECT_NEAR(s.rel_rmse, rel, rel * (ratio(g, g) / 2 + 4 * u));
  }

  // The digits the report prints (report.cpp) are the same.
  EXPECT_EQ(core::format_significant(s.rel_rmse, 3), core::format_significant(rel, 3));
  if (ref.error2 != 0) {
    EXPECT_EQ(core::format_fixed(s.sqnr_db, 1), core::format_fixed(10 * std::log10(ref.signal2 / ref.error2), 1));
  }
  if (ref.signal2 > 0 && ref.restored2 > 0) {
    EXPECT_EQ(core::format_fixed(s.cosine, 6),
              core::format_fixed(ref.dot / std::sqrt(ref.signal2 * ref.restored2), 6));
  }
}

TEST(MeasureSums, RandomTensorsOfManyShapes) {
  const LevelScope scope;
  // Shapes with one panel, several panels and a partial last one (65536 / 128 = 512 rows per
  // panel), rows longer than a panel, and rows the format pads.
  const std::vector<std::pair<std::size_t, std::size_t>> shapes = {{1, 32}, {3, 40}, {257, 96}, {1100, 128}, {3, 70016}};
  for (const auto& [rows, cols] : shapes) {
    const auto w = test::gaussian(rows * cols, rows * 31 + cols, 0.02f);
    for (Format f : {Format::q4_0, Format::q8_0, Format::q4_1, Format::q5_0, Format::f16, Format::bf16}) {
      SCOPED_TRACE(std::string(format_name(f)) + " " + std::to_string(rows) + "×" + std::to_string(cols));
      const QuantizedTensor q = quantize(w, rows, cols, f);
      const SequentialSums ref = sequential_sums(w, q);
      for (std::size_t threads : {1, 2, 3}) {
        set_num_threads(threads);
        expect_same_statistics(measure(w, q), ref, rows * cols, q.nbytes());
      }
    }
  }
}

TEST(MeasureSums, TheBundledRealWeights) {
  const SafetensorsFile file = SafetensorsFile::open(test::repo_data("ppocrv4_rec_linear.safetensors"));
  std::size_t measured = 0;
  for (const auto& info : file.tensors()) {
    if (info.shape.size() < 2) continue;
    SCOPED_TRACE(info.name);
    const std::vector<float> w = file.read_f32(info.name);
    const std::size_t cols = info.shape.back(), rows = w.size() / cols;
    for (Format f : {Format::q4_0, Format::q8_0, Format::f16}) {
      const QuantizedTensor q = quantize(w, rows, cols, f);
      expect_same_statistics(measure(w, q), sequential_sums(w, q), rows * cols, q.nbytes());
    }
    ++measured;
  }
  EXPECT_GT(measured, 10u);
}

// ---------------------------------------------------------------------------------------------
// The kernel table's conversions and sums on every level

TEST(FusedKernels, HalfAndBfloatConversionsAreExactForEveryValue) {
  std::vector<std::uint16_t> stored(65536);  // (the fused pass copies rows at odd addresses first)
  for (std::uint32_t h = 0; h < 65536; ++h) stored[h] = static_cast<std::uint16_t>(h);
  for (Isa isa : levels()) {
    SCOPED_TRACE(isa_name(isa));
    const kernels::KernelTable& k = kernels::kernel_table(isa);
    std::vector<float> out(65536);
    k.dequantize_row[static_cast<std::size_t>(Format::f16)](stored.data(), out.data(), 65536 - 3);  // a tail too
    for (std::uint32_t h = 0; h < 65536 - 3; ++h) {
      const float expected = core::fp16_to_fp32(static_cast<std::uint16_t>(h));
      if (std::isnan(expected)) {
        ASSERT_TRUE(std::isnan(out[h])) << h;  // NaN payloads may differ; quantize() refuses NaN anyway
      } else {
        ASSERT_EQ(std::bit_cast<std::uint32_t>(out[h]), std::bit_cast<std::uint32_t>(expected)) << h;
      }
    }
    k.dequantize_row[static_cast<std::size_t>(Format::bf16)](stored.data(), out.data(), 65536 - 5);
    for (std::uint32_t h = 0; h < 65536 - 5; ++h) {
      ASSERT_EQ(std::bit_cast<std::uint32_t>(out[h]), h << 16) << h;
    }
  }
}

TEST(FusedKernels, DequantizersMatchTheReference) {
  const std::size_t cols = 32 * 37;
  const auto w = test::gaussian(4 * cols, 5, 3.0f);
  for (Format f : {Format::q4_0, Format::q8_0, Format::q4_1, Format::q5_0, Format::q5_1, Format::q6_K}) {
    const QuantizedTensor q = quantize(w, 4, cols, f);
    const formats::FormatTraits& t = formats::traits(f);
    for (Isa isa : levels()) {
      SCOPED_TRACE(std::string(format_name(f)) + " " + std::string(isa_name(isa)));
      const kernels::KernelTable& k = kernels::kernel_table(isa);
      for (std::size_t r = 0; r < 4; ++r) {
        std::vector<float> expected(cols), got(cols);
        t.dequantize_row_ref(q.row_data(r).data(), expected.data(), cols);
        k.dequantize_row[static_cast<std::size_t>(f)](q.row_data(r).data(), got.data(), cols);
        ASSERT_EQ(0, std::memcmp(expected.data(), got.data(), cols * sizeof(float)));
      }
    }
  }
}

TEST(FusedKernels, ErrorSumsAreTheReferenceBitForBit) {
  auto w = test::gaussian(5003, 8), r = test::gaussian(5003, 9);  // rows of up to 4999 from offset 3
  // Magnitudes from float subnormals up to 2^114, where a rounded product would show.
  for (std::size_t i = 0; i < w.size(); i += 3) {
    const int e = static_cast<int>(i % 240) - 125;
    w[i] = std::ldexp(w[i], e);
    r[i] = std::ldexp(r[i], e + static_cast<int>(i % 7) - 3);
  }
  for (std::size_t n : {0, 1, 7, 8, 9, 31, 64, 1000, 1003, 4999}) {
    formats::ErrorLanes expected = formats::zero_lanes();
    formats::accumulate_error_ref(w.data() + 1, r.data() + 3, n, expected);  // unaligned rows
    formats::accumulate_error_ref(w.data(), r.data(), n, expected);          // lanes that hold sums
    for (Isa isa : levels()) {
      SCOPED_TRACE(std::string(isa_name(isa)) + " n=" + std::to_string(n));
      formats::ErrorLanes got = formats::zero_lanes();
      kernels::kernel_table(isa).accumulate_error(w.data() + 1, r.data() + 3, n, got);
      kernels::kernel_table(isa).accumulate_error(w.data(), r.data(), n, got);
      ASSERT_EQ(0, std::memcmp(&expected, &got, sizeof got));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The fused pass against quantize() + measure()

std::vector<std::byte> stored_rows(const std::vector<float>& w, Format stored, std::size_t offset) {
  const std::size_t size = stored == Format::f32 ? 4 : 2;
  std::vector<std::byte> bytes(offset + w.size() * size);
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (stored == Format::f32) {
      std::memcpy(bytes.data() + offset + 4 * i, &w[i], 4);
    } else {
      const std::uint16_t h = stored == Format::f16 ? core::fp32_to_fp16(w[i]) : core::fp32_to_bf16(w[i]);
      std::memcpy(bytes.data() + offset + 2 * i, &h, 2);
    }
  }
  return bytes;
}

// The floats a stored row stands for, as the old path read them.
std::vector<float> stored_values(const std::vector<float>& w, Format stored) {
  std::vector<float> v(w.size());
  for (std::size_t i = 0; i < w.size(); ++i) {
    v[i] = stored == Format::f32 ? w[i]
           : stored == Format::f16 ? core::fp16_to_fp32(core::fp32_to_fp16(w[i]))
                                   : core::bf16_to_fp32(core::fp32_to_bf16(w[i]));
  }
  return v;
}

void expect_identical(const QuantStats& a, const QuantStats& b) {
  EXPECT_EQ(std::bit_cast<std::uint64_t>(a.rmse), std::bit_cast<std::uint64_t>(b.rmse));
  EXPECT_EQ(a.max_abs, b.max_abs);
  EXPECT_EQ(std::bit_cast<std::uint64_t>(a.sqnr_db), std::bit_cast<std::uint64_t>(b.sqnr_db));
  EXPECT_EQ(std::bit_cast<std::uint64_t>(a.cosine), std::bit_cast<std::uint64_t>(b.cosine));
  EXPECT_EQ(std::bit_cast<std::uint64_t>(a.rel_rmse), std::bit_cast<std::uint64_t>(b.rel_rmse));
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.compression, b.compression);
}

TEST(FusedQuantize, SameBytesAndStatisticsAsQuantizeAndMeasure) {
  const LevelScope scope;
  const std::size_t rows = 600, cols = 256;  // 256 rows per panel: two full panels and a partial one
  const auto w = test::gaussian(rows * cols, 21, 0.05f);
  model::QuantizeWorkspace workspace;
  for (Format stored : {Format::f32, Format::f16, Format::bf16}) {
    const std::vector<float> values = stored_values(w, stored);
    for (Format target : {Format::q4_0, Format::q8_0, Format::q4_1, Format::q5_0, Format::q5_1, Format::q6_K,
                          Format::q3_K, Format::f16, Format::bf16, Format::f32}) {
      const QuantizedTensor q = quantize(values, rows, cols, target);
      const QuantStats expected = measure(values, q);
      for (std::size_t offset : {0, 1}) {
        const auto bytes = stored_rows(w, stored, offset);
        for (Isa isa : levels()) {
          for (std::size_t threads : {1, 2, 3}) {
            SCOPED_TRACE(std::string(format_name(stored)) + " → " + std::string(format_name(target)) + ", " +
                         std::string(isa_name(isa)) + ", " + std::to_string(threads) + " threads, offset " +
                         std::to_string(offset));
            set_isa(isa);
            set_num_threads(threads);
            const auto fused = model::quantize_and_measure(
                {std::span(bytes).subspan(offset), stored, rows, cols}, target, {}, workspace);
            ASSERT_TRUE(fused.has_value());
            ASSERT_TRUE(std::equal(fused->bytes.begin(), fused->bytes.end(), q.data().begin(), q.data().end()));
            expect_identical(fused->stats, expected);
          }
        }
      }
    }
  }
}

TEST(FusedQuantize, ImportanceGivesTheWeightedQuantizersBytes) {
  const std::size_t rows = 40, cols = 512;
  const auto w = test::gaussian(rows * cols, 3);
  std::vector<float> importance = test::gaussian(cols, 4);
  for (float& v : importance) v = v * v;
  model::QuantizeWorkspace workspace;
  const auto bytes = stored_rows(w, Format::f32, 0);
  for (Format target : {Format::q4_0, Format::q6_K}) {
    const QuantizedTensor q = quantize(w, rows, cols, target, QuantizeOptions{.importance = importance});
    const auto fused = model::quantize_and_measure({bytes, Format::f32, rows, cols}, target, importance, workspace);
    ASSERT_TRUE(fused.has_value());
    EXPECT_TRUE(std::equal(fused->bytes.begin(), fused->bytes.end(), q.data().begin(), q.data().end()));
    expect_identical(fused->stats, measure(w, q));
  }
}

TEST(FusedQuantize, DeclinesWhatQuantizeMustHandleOrRefuse) {
  model::QuantizeWorkspace workspace;
  auto w = test::gaussian(4 * 64, 1);
  const auto fused = [&](Format target, std::size_t cols, std::span<const float> importance = {}) {
    const auto bytes = stored_rows(w, Format::f32, 0);
    return model::quantize_and_measure({bytes, Format::f32, w.size() / cols, cols}, target, importance, workspace);
  };
  EXPECT_TRUE(fused(Format::q4_0, 64).has_value());
  EXPECT_FALSE(fused(Format::i8, 64).has_value());            // affine: scales beside the codes
  EXPECT_FALSE(fused(Format::q4_0, 16).has_value());          // rows the format pads
  EXPECT_FALSE(fused(Format::q4_0, 64, w).has_value());       // importance of the wrong length
  w[100] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(fused(Format::q4_0, 64).has_value());          // quantize() names the weight
  w[100] = 70000.0f;
  EXPECT_TRUE(fused(Format::q4_0, 64).has_value());
  EXPECT_FALSE(fused(Format::f16, 64).has_value());           // beyond f16
}

// A second output buffer only where the output is smaller than the input: otherwise the previous
// result is released first and its buffer used again, so memory stays within input + one output.
TEST(FusedQuantize, ASecondBufferOnlyForOutputsSmallerThanTheInput) {
  model::QuantizeWorkspace workspace;
  std::byte* a = workspace.output(4096);  // both buffers large enough for every output below
  std::byte* b = workspace.output(4096);
  EXPECT_NE(a, b);
  EXPECT_EQ(workspace.output(100, false), b);
  EXPECT_EQ(workspace.output(100), a);

  const std::size_t rows = 8, cols = 64;
  const auto w = test::gaussian(rows * cols, 2);
  const auto bytes = stored_rows(w, Format::f32, 0);
  int released = 0;
  const auto release = [&] { ++released; };
  const auto q4 = model::quantize_and_measure({bytes, Format::f32, rows, cols}, Format::q4_0, {}, workspace, release);
  const auto q8 = model::quantize_and_measure({bytes, Format::f32, rows, cols}, Format::q8_0, {}, workspace, release);
  ASSERT_TRUE(q4 && q8);
  EXPECT_EQ(released, 0);
  EXPECT_NE(q4->bytes.data(), q8->bytes.data());  // q4's bytes can still be written meanwhile
  const auto f32 = model::quantize_and_measure({bytes, Format::f32, rows, cols}, Format::f32, {}, workspace, release);
  ASSERT_TRUE(f32);
  EXPECT_EQ(released, 1);
  EXPECT_EQ(f32->bytes.data(), q8->bytes.data());
}

// Background writes keep their order, and a failed one throws at the next wait.
struct RecordingWriter {
  std::vector<std::string> names;
  void write_tensor_data(std::string_view name, std::span<const std::byte> bytes) {
    if (name == "bad") throw Error(ErrorCode::io, "disk full");
    names.emplace_back(name);
    EXPECT_EQ(bytes.size(), 3u);
  }
};

TEST(BackgroundWrite, KeepsTheOrderAndPassesErrorsOn) {
  RecordingWriter writer;
  const std::byte bytes[3] = {};
  {
    model::BackgroundWrite<RecordingWriter> background(writer);
    for (const char* name : {"a", "b", "c"}) background.start(name, bytes);
    background.wait();
    EXPECT_EQ(writer.names, (std::vector<std::string>{"a", "b", "c"}));
    background.start("bad", bytes);
    EXPECT_EQ(test::error_code_of([&] { background.wait(); }), ErrorCode::io);
    background.start("bad", bytes);
    EXPECT_EQ(test::error_code_of([&] { background.start("d", bytes); }), ErrorCode::io);
    background.start("e", bytes);
  }  // the destructor waits for "e"
  EXPECT_EQ(writer.names, (std::vector<std::string>{"a", "b", "c", "e"}));
}

// A whole model: f32, f16 and bf16 tensors of a safetensors file, through quantize_model(); the
// report holds measure()'s statistics of the stored values and the file quantize()'s bytes.
TEST(FusedQuantize, ModelReportIsMeasureOfTheStoredValues) {
  test::TempDir dir;
  const std::size_t rows = 300, cols = 128;
  const auto w = test::gaussian(rows * cols, 77, 0.1f);
  const auto input = dir / "m.safetensors";
  {
    SafetensorsWriter writer(input);
    for (const char* dtype : {"F32", "F16", "BF16"}) writer.add_tensor(std::string("w.") + dtype, dtype, {rows, cols});
    writer.write_header();
    for (Format stored : {Format::f32, Format::f16, Format::bf16}) {
      const char* dtype = stored == Format::f32 ? "F32" : stored == Format::f16 ? "F16" : "BF16";
      writer.write_tensor_data(std::string("w.") + dtype, stored_rows(w, stored, 0));
    }
    writer.finish();
  }
  QuantPlan plan;
  plan.default_format = Format::q4_0;
  const ModelReport report = quantize_model(input, dir / "m.gguf", plan);
  const GgufFile out = GgufFile::open(dir / "m.gguf");
  ASSERT_EQ(report.tensors.size(), 3u);
  for (const TensorReport& t : report.tensors) {
    SCOPED_TRACE(t.decision.name);
    const Format stored = t.decision.name == "w.F32" ? Format::f32 : t.decision.name == "w.F16" ? Format::f16 : Format::bf16;
    const std::vector<float> values = stored_values(w, stored);
    const QuantizedTensor q = quantize(values, rows, cols, Format::q4_0);
    ASSERT_TRUE(t.stats.has_value());
    expect_identical(*t.stats, measure(values, q));
    const auto written = out.tensor_data(*out.find_tensor(t.decision.name));
    EXPECT_TRUE(std::equal(written.begin(), written.end(), q.data().begin(), q.data().end()));
  }
}

}  // namespace
}  // namespace qlinear
