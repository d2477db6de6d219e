// Golden vectors: ggml's reference quantizers' bytes and dequantized floats must come out identical.

#include "formats/registry.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <bit>

namespace qlinear {
namespace {

struct Golden {
  std::uint32_t type = 0, rows = 0, per_row = 0, row_bytes = 0;
  std::vector<float> input, dequantized;
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
  if (u32_at(bytes, 24) != 0) throw std::runtime_error(name + ": has an importance matrix");
  const std::size_t n = std::size_t{g.rows} * g.per_row, q = std::size_t{g.rows} * g.row_bytes;
  if (bytes.size() != 28 + 4 * n + q + 4 * n) throw std::runtime_error(name + ": wrong size");
  g.input.resize(n);
  g.quantized.resize(q);
  g.dequantized.resize(n);
  std::memcpy(g.input.data(), bytes.data() + 28, 4 * n);
  std::memcpy(g.quantized.data(), bytes.data() + 28 + 4 * n, q);
  std::memcpy(g.dequantized.data(), bytes.data() + 28 + 4 * n + q, 4 * n);
  return g;
}

class GoldenTest : public ::testing::TestWithParam<Format> {};

TEST_P(GoldenTest, ReferenceRowFunctionsMatchGgmlRowByRow) {
  const formats::FormatTraits& t = formats::traits(GetParam());
  const Golden g = load_golden(std::string(t.info.name));
  ASSERT_EQ(static_cast<int>(g.type), t.info.ggml_type);
  ASSERT_EQ(g.row_bytes, g.per_row / t.info.block_size * t.info.block_bytes);
  for (std::uint32_t r = 0; r < g.rows; ++r) {
    std::vector<std::byte> q(g.row_bytes);
    t.quantize_row_ref(g.input.data() + r * g.per_row, q.data(), g.per_row);
    const std::byte* expected = g.quantized.data() + r * g.row_bytes;
    for (std::size_t i = 0; i < g.row_bytes; ++i) {
      ASSERT_EQ(q[i], expected[i]) << "row " << r << ", byte " << i;
    }
    std::vector<float> d(g.per_row);
    t.dequantize_row_ref(expected, d.data(), g.per_row);
    for (std::size_t i = 0; i < g.per_row; ++i) {
      ASSERT_EQ(std::bit_cast<std::uint32_t>(d[i]),
                std::bit_cast<std::uint32_t>(g.dequantized[r * g.per_row + i]))
          << "row " << r << ", element " << i << ": " << d[i] << " vs " << g.dequantized[r * g.per_row + i];
    }
  }
}

TEST_P(GoldenTest, PublicApiReproducesEveryByteAndFloat) {
  const Golden g = load_golden(std::string(format_name(GetParam())));
  const QuantizedTensor q = quantize(g.input, g.rows, g.per_row, GetParam());
  ASSERT_EQ(q.nbytes(), g.quantized.size());
  ASSERT_TRUE(std::equal(q.data().begin(), q.data().end(), g.quantized.begin()));
  const std::vector<float> d = dequantize(q);
  ASSERT_EQ(d.size(), g.dequantized.size());
  for (std::size_t i = 0; i < d.size(); ++i) {
    ASSERT_EQ(std::bit_cast<std::uint32_t>(d[i]), std::bit_cast<std::uint32_t>(g.dequantized[i])) << i;
  }
  // The same bytes wrapped as already-quantized blocks dequantize the same way.
  const QuantizedTensor wrapped = QuantizedTensor::from_blocks(GetParam(), g.rows, g.per_row, g.quantized);
  EXPECT_EQ(dequantize(wrapped), d);
}

INSTANTIATE_TEST_SUITE_P(Ggml, GoldenTest,
                         ::testing::Values(Format::f16, Format::bf16, Format::q8_0, Format::q4_0,
                                           Format::q4_1, Format::q5_0, Format::q5_1),
                         [](const auto& p) { return std::string(format_name(p.param)); });

}  // namespace
}  // namespace qlinear
