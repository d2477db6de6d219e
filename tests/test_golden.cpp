// Golden vectors: ggml's reference quantizers' bytes and dequantized floats must come out identical.

#include "formats/registry.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <bit>

namespace qlinear {
namespace {

struct Golden {
  std::uint32_t type = 0, rows = 0, per_row = 0, row_bytes = 0;
  std::vector<float> input, importance, dequantized;
  std::vector<std::byte> quantized;
};

std::uint32_t u32_at(const std::vector<std::byte>& b, std::size_t offset) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + offset, 4);
  return v;
}

Golden load_golden(const std::string& name) {
  const auto bytes = test::read_file(test::test_data("golden/" + name + ".bin"));
  Golden g;
  if (bytes.size() < 28 || std::memcmp(bytes.data(), "QLGV", 4) != 0 || u32_at(bytes, 4) != 1) {
    throw std::runtime_error(name + ": not a QLGV v1 file");
  }
  g.type = u32_at(bytes, 8);
  g.rows = u32_at(bytes, 12);
  g.per_row = u32_at(bytes, 16);
  g.row_bytes = u32_at(bytes, 20);
  const bool has_importance = u32_at(bytes, 24) != 0;
  const std::size_t n = std::size_t{g.rows} * g.per_row, q = std::size_t{g.rows} * g.row_bytes;
  const std::size_t m = has_importance ? g.per_row : 0;
  if (bytes.size() != 28 + 4 * n + 4 * m + q + 4 * n) throw std::runtime_error(name + ": wrong size");
  g.input.resize(n);
  g.importance.resize(m);
  g.quantized.resize(q);
  g.dequantized.resize(n);
  std::size_t at = 28;
  std::memcpy(g.input.data(), bytes.data() + at, 4 * n);
  at += 4 * n;
  if (m > 0) std::memcpy(g.importance.data(), bytes.data() + at, 4 * m);
  std::memcpy(g.quantized.data(), bytes.data() + (at += 4 * m), q);
  std::memcpy(g.dequantized.data(), bytes.data() + at + q, 4 * n);
  return g;
}

// A format, and whether its golden file carries importance weights.
struct GoldenCase {
  Format format;
  bool importance;
  std::string file() const { return std::string(format_name(format)) + (importance ? ".imatrix" : ""); }
};

// What the test lists show for a case (gtest would otherwise print its bytes, padding included).
void PrintTo(const GoldenCase& c, std::ostream* os) { *os << c.file(); }

class GoldenTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenTest, ReferenceRowFunctionsMatchGgmlRowByRow) {
  const formats::FormatTraits& t = formats::traits(GetParam().format);
  const Golden g = load_golden(GetParam().file());
  ASSERT_EQ(static_cast<int>(g.type), t.info.ggml_type);
  ASSERT_EQ(g.row_bytes, g.per_row / t.info.block_size * t.info.block_bytes);
  ASSERT_EQ(g.importance.empty(), !GetParam().importance);
  for (std::uint32_t r = 0; r < g.rows; ++r) {
    const std::byte* expected = g.quantized.data() + r * g.row_bytes;
    std::vector<float> d(g.per_row);
    t.dequantize_row_ref(expected, d.data(), g.per_row);
    for (std::size_t i = 0; i < g.per_row; ++i) {
      ASSERT_EQ(std::bit_cast<std::uint32_t>(d[i]),
                std::bit_cast<std::uint32_t>(g.dequantized[r * g.per_row + i]))
          << "row " << r << ", element " << i << ": " << d[i] << " vs " << g.dequantized[r * g.per_row + i];
    }
    std::vector<std::byte> q(g.row_bytes);
    if (GetParam().importance && t.quantize_row_weighted_ref) {
      t.quantize_row_weighted_ref(g.input.data() + r * g.per_row, q.data(), g.per_row, g.importance.data());
    } else {
      t.quantize_row_ref(g.input.data() + r * g.per_row, q.data(), g.per_row);
    }
    for (std::size_t i = 0; i < g.row_bytes; ++i) {
      ASSERT_EQ(q[i], expected[i]) << "row " << r << ", byte " << i;
    }
  }
}

TEST_P(GoldenTest, PublicApiReproducesEveryByteAndFloat) {
  const Golden g = load_golden(GetParam().file());
  const QuantizedTensor q = quantize(g.input, g.rows, g.per_row, GetParam().format, {.importance = g.importance});
  ASSERT_EQ(q.nbytes(), g.quantized.size());
  ASSERT_TRUE(std::equal(q.data().begin(), q.data().end(), g.quantized.begin()));
  const std::vector<float> d = dequantize(q);
  ASSERT_EQ(d.size(), g.dequantized.size());
  for (std::size_t i = 0; i < d.size(); ++i) {
    ASSERT_EQ(std::bit_cast<std::uint32_t>(d[i]), std::bit_cast<std::uint32_t>(g.dequantized[i])) << i;
  }
  // The same bytes wrapped as already-quantized blocks dequantize the same way.
  const QuantizedTensor wrapped =
      QuantizedTensor::from_blocks(GetParam().format, g.rows, g.per_row, g.quantized);
  EXPECT_EQ(dequantize(wrapped), d);
}

std::vector<GoldenCase> golden_cases() {
  std::vector<GoldenCase> cases;
  for (Format f : {Format::f16, Format::bf16, Format::q8_0, Format::q4_0, Format::q4_1, Format::q5_0,
                   Format::q5_1, Format::q2_K, Format::q3_K, Format::q4_K, Format::q5_K, Format::q6_K,
                   Format::iq4_nl, Format::iq4_xs}) {
    cases.push_back({f, false});
    // ggml weights these formats' search by importance (f16, bf16 and q8_0 have no search).
    if (formats::traits(f).quantize_row_weighted_ref) cases.push_back({f, true});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Ggml, GoldenTest, ::testing::ValuesIn(golden_cases()),
                         [](const auto& p) {
                           return std::string(format_name(p.param.format)) + (p.param.importance ? "_imatrix" : "");
                         });

}  // namespace
}  // namespace qlinear
