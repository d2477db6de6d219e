// QuantizedLinear: forward against x · dequantize(W)ᵀ + b in double over a sweep of shapes, against
// the unquantized product within the quantization error, size accounting, concurrency, and errors.

#include "test_support.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace qlinear {
namespace {

using test::error_message;

struct Variant {
  Format format;
  AffineOptions affine;
  std::string label;
};

void PrintTo(const Variant& v, std::ostream* os) { *os << v.label; }

std::vector<Variant> all_variants() {
  std::vector<Variant> v;
  for (const FormatInfo& f : all_formats()) {
    if (!f.affine) v.push_back({f.format, {}, std::string(f.name)});
  }
  AffineOptions group_asym;
  group_asym.symmetric = false;
  group_asym.granularity = AffineOptions::Granularity::group;
  group_asym.group_size = 32;
  AffineOptions tensor_sym;
  tensor_sym.granularity = AffineOptions::Granularity::tensor;
  v.push_back({Format::i8, {}, "i8_channel"});
  v.push_back({Format::i4, {}, "i4_channel"});
  v.push_back({Format::i8, group_asym, "i8_group32_asym"});
  v.push_back({Format::i4, group_asym, "i4_group32_asym"});
  v.push_back({Format::i4, tensor_sym, "i4_tensor"});
  return v;
}

class Forward : public ::testing::TestWithParam<Variant> {};

// Every shape of the sweep: forward equals q8(x) · dequantize(W)ᵀ + b computed in double (x itself
// for the float formats), within the float roundings the kernels make (test::check_forward).
TEST_P(Forward, MatchesTheQuantizedInputTimesTheDequantizedWeightsOverAShapeSweep) {
  const Variant& v = GetParam();
  for (std::size_t in : {1, 7, 31, 32, 33, 100, 120, 257}) {
    for (std::size_t out = 1; out <= 9; ++out) {
      const auto w = test::gaussian(out * in, in * 100 + out);
      const auto bias = out % 2 ? test::gaussian(out, out) : std::vector<float>{};
      const auto layer = QuantizedLinear::from_weights(w, bias, out, in, v.format, v.affine);
      for (std::size_t batch = 1; batch <= 5; ++batch) {
        const auto x = test::gaussian(batch * in, batch + in + out);
        const auto y = layer.forward(x, batch);
        const auto check = test::check_forward(layer, x, batch);
        ASSERT_EQ(y.size(), batch * out);
        for (std::size_t i = 0; i < y.size(); ++i) {
          ASSERT_NEAR(y[i], check.expected[i], check.tolerance[i])
              << v.label << " in=" << in << " out=" << out << " batch=" << batch << " i=" << i;
        }
      }
    }
  }
}

// Against the unquantized weights and inputs the output moves by at most Σ|x|·|w − ŵ| (the weight
// error) plus Σ|ŵ|·|x − x̂| (the activation error of the quantized formats) plus rounding: the
// layer applies the weights it reports, in the right rows and columns.
TEST_P(Forward, StaysWithinTheWeightAndInputErrorOfTheExactProduct) {
  const Variant& v = GetParam();
  const std::size_t in = 120, out = 24, batch = 3;
  const auto w = test::gaussian(out * in, 77);
  const auto bias = test::gaussian(out, 78);
  const auto layer = QuantizedLinear::from_weights(w, bias, out, in, v.format, v.affine);
  const auto wq = layer.dequantize_weights();
  const auto x = test::gaussian(batch * in, 79);
  const auto xq = test::effective_input(v.format, x, batch, in);
  const auto y = layer.forward(x, batch);
  const auto exact = test::reference_forward(x, batch, w, out, in, bias);
  const auto check = test::check_forward(layer, x, batch);
  for (std::size_t b = 0; b < batch; ++b) {
    for (std::size_t r = 0; r < out; ++r) {
      double weight_error = 0, input_error = 0;
      for (std::size_t c = 0; c < in; ++c) {
        weight_error += std::fabs(double(x[b * in + c])) * std::fabs(double(w[r * in + c]) - wq[r * in + c]);
        input_error += std::fabs(double(wq[r * in + c])) * std::fabs(double(x[b * in + c]) - xq[b * in + c]);
      }
      const std::size_t i = b * out + r;
      ASSERT_LE(std::fabs(y[i] - exact[i]), weight_error + input_error + check.tolerance[i]) << v.label;
    }
  }
}

TEST_P(Forward, ReportsItsSizeHonestly) {
  const Variant& v = GetParam();
  const auto w = test::gaussian(10 * 33, 5);
  const auto layer = QuantizedLinear::from_weights(w, {}, 10, 33, v.format, v.affine);
  EXPECT_EQ(layer.in_features(), 33u);
  EXPECT_EQ(layer.out_features(), 10u);
  EXPECT_EQ(layer.format(), v.format);
  EXPECT_EQ(layer.weight_bytes(), layer.weight().nbytes());
  EXPECT_DOUBLE_EQ(layer.compression_ratio(), 4.0 * 10 * 33 / layer.weight_bytes());
  EXPECT_EQ(layer.dequantize_weights(), dequantize(layer.weight()));
  EXPECT_EQ(layer.dequantize_weights().size(), 10u * 33);
  EXPECT_TRUE(layer.bias().empty());
}

INSTANTIATE_TEST_SUITE_P(Variants, Forward, ::testing::ValuesIn(all_variants()),
                         [](const auto& p) { return p.param.label; });

TEST(ForwardConcurrency, ManyThreadsOnOneLayerGetTheSequentialResults) {
  const std::size_t in = 100, out = 37, batch = 3;
  const auto layer = QuantizedLinear::from_weights(test::gaussian(out * in, 1), test::gaussian(out, 2),
                                                   out, in, Format::q4_1);
  std::vector<std::vector<float>> inputs, expected;
  for (int t = 0; t < 8; ++t) {
    inputs.push_back(test::gaussian(batch * in, 100 + t));
    expected.push_back(layer.forward(inputs.back(), batch));
  }
  std::vector<std::vector<float>> results(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int repeat = 0; repeat < 20; ++repeat) results[t] = layer.forward(inputs[t], batch);
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(results[t], expected[t]) << "thread " << t;
}

TEST(ForwardBasics, BiasIsAddedAndAnEmptyBatchDoesNothing) {
  // W = [[1, 2], [3, 4]] is exact in f16; with b = [10, 20] and x = [1, 1]: y = [13, 27].
  const std::vector<float> w = {1, 2, 3, 4}, bias = {10, 20};
  const auto layer = QuantizedLinear::from_weights(w, bias, 2, 2, Format::f16);
  EXPECT_EQ(layer.forward(std::vector<float>{1, 1}, 1), (std::vector<float>{13, 27}));
  std::vector<float> y;
  EXPECT_NO_THROW(layer.forward(std::span<const float>{}, 0, std::span<float>(y)));
  EXPECT_TRUE(layer.forward(std::span<const float>{}, 0).empty());
}

TEST(ForwardErrors, WrongSizesNameExpectedAndActual) {
  const auto w = test::gaussian(5 * 8, 3);
  std::string m = error_message([&] { QuantizedLinear::from_weights(w, std::vector<float>(4), 5, 8, Format::q8_0); },
                                ErrorCode::size_mismatch);
  EXPECT_NE(m.find("bias has 4 values, expected out_features = 5"), std::string::npos) << m;

  const auto layer = QuantizedLinear::from_weights(w, {}, 5, 8, Format::q8_0);
  std::vector<float> y(10);
  m = error_message([&] { layer.forward(std::vector<float>(15), 2, y); }, ErrorCode::size_mismatch);
  EXPECT_NE(m.find("x has 15 values, expected batch × in_features = 2 × 8"), std::string::npos) << m;
  std::vector<float> small_y(9);
  m = error_message([&] { layer.forward(std::vector<float>(16), 2, small_y); }, ErrorCode::size_mismatch);
  EXPECT_NE(m.find("y has 9 values, expected batch × out_features = 2 × 5"), std::string::npos) << m;
  m = error_message([&] { layer.forward(std::vector<float>(16), SIZE_MAX / 2); }, ErrorCode::size_mismatch);
  error_message([&] { layer.forward(std::vector<float>(3), 0); }, ErrorCode::size_mismatch);
  error_message([&] { QuantizedLinear().forward(std::vector<float>(1), 1); }, ErrorCode::invalid_argument);
}

TEST(ForwardErrors, BadWeightsAndBias) {
  auto w = test::gaussian(3 * 4, 1);
  error_message([&] { QuantizedLinear::from_weights(w, {}, 0, 4, Format::q4_0); }, ErrorCode::size_mismatch);
  error_message([&] { QuantizedLinear::from_weights(w, {}, 3, 5, Format::q4_0); }, ErrorCode::size_mismatch);
  std::vector<float> bias = {0, NAN, 0};
  const std::string m = error_message([&] { QuantizedLinear::from_weights(w, bias, 3, 4, Format::q4_0); },
                                 ErrorCode::non_finite);
  EXPECT_NE(m.find("bias[1] is NaN"), std::string::npos) << m;
  w[5] = INFINITY;
  const std::string m2 = error_message([&] { QuantizedLinear::from_weights(w, {}, 3, 4, Format::q4_0); },
                                  ErrorCode::non_finite);
  EXPECT_NE(m2.find("row 1, column 1 is Inf"), std::string::npos) << m2;
  error_message([&] { QuantizedLinear::from_quantized(QuantizedTensor(), {}); }, ErrorCode::size_mismatch);
}

TEST(FromQuantized, UsesTheGivenWeightsAsTheyAre) {
  const auto w = test::gaussian(6 * 64, 8);
  const QuantizedTensor q = quantize(w, 6, 64, Format::q5_0);
  const auto a = QuantizedLinear::from_quantized(q, {});
  const auto b = QuantizedLinear::from_weights(w, {}, 6, 64, Format::q5_0);
  const auto x = test::gaussian(2 * 64, 9);
  EXPECT_EQ(a.forward(x, 2), b.forward(x, 2));
  EXPECT_TRUE(std::equal(a.weight().data().begin(), a.weight().data().end(), q.data().begin()));
}

}  // namespace
}  // namespace qlinear
