// The usage examples of three libraries whose users may move to qlinear, expressed with our API:
// what they do there must work here, with errors where they would silently misbehave.

#include "test_support.hpp"

#include <gtest/gtest.h>

namespace qlinear {
namespace {

// axonml-quant style: a Q8_0 / Q4_0 linear layer with a bias, built from float weights and run on a
// batch (there: QuantizedLinear::from_linear_params(weights, Some(bias), in, out, Q8_0) and
// forward_f32(input, batch)).
TEST(SeedExamples, AxonmlStyleQ8AndQ4LinearWithBias) {
  for (Format f : {Format::q8_0, Format::q4_0}) {
    for (std::size_t in : {64, 100}) {  // 100: a row length that is not a multiple of 32
      const std::size_t out = 16, batch = 4;
      const auto w = test::gaussian(out * in, 1, 0.1f);
      const auto bias = test::gaussian(out, 2);
      const auto layer = QuantizedLinear::from_weights(w, bias, out, in, f);
      const auto x = test::gaussian(batch * in, 3);
      const auto y = layer.forward(x, batch);
      const auto ref = test::reference_forward(x, batch, layer.dequantize_weights(), out, in, bias);
      const auto mag = test::magnitude_forward(x, batch, layer.dequantize_weights(), out, in, bias);
      for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], test::dot_tolerance(in, mag[i]));
      // 34 bytes per 32 weights (q8_0) and 18 (q4_0), rows padded to whole blocks.
      const double block_bytes = f == Format::q8_0 ? 34 : 18;
      EXPECT_DOUBLE_EQ(layer.compression_ratio(), 4.0 * out * in / (out * ((in + 31) / 32) * block_bytes));
    }
  }
}

// shrew style: QuantConfig::int4().asymmetric() on a whole tensor, and int8 per channel; both round
// trip within half a quantization step.
TEST(SeedExamples, ShrewStyleInt4AsymmetricPerTensorRoundTrip) {
  const std::vector<float> w = {-1.0f, -0.5f, 0.0f, 0.25f, 0.5f, 1.5f, 2.0f, 3.0f};
  AffineOptions o;
  o.symmetric = false;
  o.granularity = AffineOptions::Granularity::tensor;
  const QuantizedTensor q = quantize(w, 2, 4, Format::i4, o);
  ASSERT_EQ(q.scales().size(), 1u);
  const float s = q.scales()[0];
  EXPECT_FLOAT_EQ(s, 4.0f / 15);  // range [-1, 3] over 15 steps
  EXPECT_EQ(q.zero_points()[0], 4);  // round(1 / s) = round(3.75)
  const auto d = dequantize(q);
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_LE(std::fabs(w[i] - d[i]), s / 2 * (1 + 1e-6)) << i;
  EXPECT_EQ(d[2], 0.0f);  // zero is exact
}

TEST(SeedExamples, ShrewStyleInt8PerChannelRoundTrip) {
  const std::vector<float> w = {0.1f, -0.2f, 0.3f, -0.4f,   // each row gets its own scale
                                1.0f, 2.0f,  -3.0f, 4.0f,
                                0.01f, 0.02f, 0.03f, -0.04f};
  const QuantizedTensor q = quantize(w, 3, 4, Format::i8);  // default: symmetric, per channel
  ASSERT_EQ(q.scales().size(), 3u);
  const auto d = dequantize(q);
  for (std::size_t r = 0; r < 3; ++r) {
    EXPECT_FLOAT_EQ(q.scales()[r], std::fabs(w[r * 4 + 3]) / 127);
    for (std::size_t c = 0; c < 4; ++c) {
      EXPECT_LE(std::fabs(w[r * 4 + c] - d[r * 4 + c]), q.scales()[r] / 2 * (1 + 1e-6));
    }
  }
}

// trustformers style: a per-channel int8 linear with a bias; a bias of the wrong shape is an error
// that names both sizes.
TEST(SeedExamples, TrustformersStylePerChannelInt8WithBiasShapeError) {
  const std::size_t out = 6, in = 40;
  const auto w = test::gaussian(out * in, 4);
  try {
    QuantizedLinear::from_weights(w, test::gaussian(out + 1, 5), out, in, Format::i8);
    FAIL() << "a bias of 7 values for 6 outputs must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::size_mismatch);
    EXPECT_NE(std::string(e.what()).find("bias has 7 values, expected out_features = 6"), std::string::npos);
  }
  const auto bias = test::gaussian(out, 5);
  const auto layer = QuantizedLinear::from_weights(w, bias, out, in, Format::i8);
  const auto x = test::gaussian(2 * in, 6);
  const auto y = layer.forward(x, 2);
  const auto ref = test::reference_forward(x, 2, layer.dequantize_weights(), out, in, bias);
  const auto mag = test::magnitude_forward(x, 2, layer.dequantize_weights(), out, in, bias);
  for (std::size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], test::dot_tolerance(in, mag[i]));
}

}  // namespace
}  // namespace qlinear
