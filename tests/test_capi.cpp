// The C API gives what the C++ API gives: the same bytes for every format and option, the same
// forward results, the same error codes and messages. (tests/capi/test_capi.c covers the C side
// alone, compiled as C.)
#include "test_support.hpp"

#include <qlinear/qlinear.h>

#include <cstring>
#include <random>

namespace qlinear::test {
namespace {

std::vector<float> gaussian(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<std::byte> c_bytes(const qlinear_tensor* t) {
  const void* data = nullptr;
  std::size_t size = 0;
  EXPECT_EQ(qlinear_tensor_data(t, &data, &size), QLINEAR_OK) << qlinear_last_error();
  const auto* p = static_cast<const std::byte*>(data);
  return {p, p + size};
}

std::vector<std::byte> cpp_bytes(const QuantizedTensor& q) { return {q.data().begin(), q.data().end()}; }

TEST(CApi, EveryFormatHasACNumberAndTheSameName) {
  for (const FormatInfo& info : all_formats()) {
    qlinear_format f = QLINEAR_FORMAT_COUNT;
    ASSERT_EQ(qlinear_format_parse(std::string(info.name).c_str(), &f), QLINEAR_OK) << info.name;
    const char* name = nullptr;
    ASSERT_EQ(qlinear_format_name(f, &name), QLINEAR_OK);
    EXPECT_EQ(std::string_view(name), info.name);
    double bits = 0;
    ASSERT_EQ(qlinear_format_bits_per_weight(f, &bits), QLINEAR_OK);
    EXPECT_EQ(bits, info.bits_per_weight);
  }
  EXPECT_EQ(all_formats().size(), static_cast<std::size_t>(QLINEAR_FORMAT_COUNT));
}

TEST(CApi, QuantizeGivesTheCppBytesForEveryFormatAndOption) {
  const std::size_t rows = 6, cols = 288;  // not a multiple of 256: padded rows too
  const std::vector<float> w = gaussian(rows * cols, 1);
  std::vector<float> importance = gaussian(cols, 2);
  for (float& v : importance) v = v * v;
  const std::vector<float> x = gaussian(40 * cols, 3);
  Calibration cpp_calibration(cols);
  cpp_calibration.add(x, 40);
  qlinear_calibration* c_calibration = nullptr;
  ASSERT_EQ(qlinear_calibration_new(cols, &c_calibration), QLINEAR_OK);
  ASSERT_EQ(qlinear_calibration_add(c_calibration, x.data(), x.size(), 40), QLINEAR_OK);

  for (const FormatInfo& info : all_formats()) {
    qlinear_format f{};
    ASSERT_EQ(qlinear_format_parse(std::string(info.name).c_str(), &f), QLINEAR_OK);
    struct Case {
      const char* what;
      QuantizeOptions cpp;
      qlinear_quantize_options c;
    };
    std::vector<Case> cases;
    qlinear_quantize_options c{};
    ASSERT_EQ(qlinear_quantize_options_init(&c), QLINEAR_OK);
    cases.push_back({"defaults", {}, c});
    c.importance = importance.data();
    c.importance_count = cols;
    cases.push_back({"importance", {.importance = importance}, c});
    c.method = QLINEAR_METHOD_SEARCH;
    cases.push_back({"search", {.importance = importance, .method = Method::search}, c});
    if (info.affine) {
      ASSERT_EQ(qlinear_quantize_options_init(&c), QLINEAR_OK);
      c.affine = {0, QLINEAR_GRANULARITY_GROUP, 32, QLINEAR_CLIP_MSE, 99.0};
      cases.push_back({"asymmetric group mse",
                       {.affine = {.symmetric = false, .granularity = AffineOptions::Granularity::group,
                                   .group_size = 32, .calibration = AffineOptions::Calibration::mse,
                                   .percentile = 99.0}},
                       c});
    }
    if (info.format == Format::q4_0 || info.format == Format::q8_0 || info.format == Format::i4) {
      ASSERT_EQ(qlinear_quantize_options_init(&c), QLINEAR_OK);
      c.method = QLINEAR_METHOD_GPTQ;
      c.calibration = c_calibration;
      c.damping = 0.05;
      cases.push_back({"gptq", {.method = Method::gptq, .calibration = &cpp_calibration, .damping = 0.05}, c});
    }
    for (const Case& k : cases) {
      SCOPED_TRACE(std::string(info.name) + " " + k.what);
      const QuantizedTensor expected = quantize(w, rows, cols, info.format, k.cpp);
      qlinear_tensor* t = nullptr;
      ASSERT_EQ(qlinear_quantize(w.data(), w.size(), rows, cols, f, &k.c, &t), QLINEAR_OK) << qlinear_last_error();
      EXPECT_EQ(c_bytes(t), cpp_bytes(expected));
      std::size_t nbytes = 0;
      ASSERT_EQ(qlinear_tensor_nbytes(t, &nbytes), QLINEAR_OK);
      EXPECT_EQ(nbytes, expected.nbytes());  // scales and zero points too
      std::vector<float> back(rows * cols);
      ASSERT_EQ(qlinear_dequantize(t, back.data(), back.size()), QLINEAR_OK);
      EXPECT_EQ(back, dequantize(expected));
      qlinear_tensor_free(t);
    }
  }
  qlinear_calibration_free(c_calibration);
}

TEST(CApi, ForwardGivesTheCppResults) {
  const std::size_t out = 33, in = 100, batch = 5;
  const std::vector<float> w = gaussian(out * in, 4), bias = gaussian(out, 5), x = gaussian(batch * in, 6);
  for (const FormatInfo& info : all_formats()) {
    SCOPED_TRACE(info.name);
    qlinear_format f{};
    ASSERT_EQ(qlinear_format_parse(std::string(info.name).c_str(), &f), QLINEAR_OK);
    const auto expected = QuantizedLinear::from_weights(w, bias, out, in, info.format).forward(x, batch);
    qlinear_layer* layer = nullptr;
    ASSERT_EQ(qlinear_layer_create(w.data(), w.size(), bias.data(), bias.size(), out, in, f, nullptr, &layer),
              QLINEAR_OK)
        << qlinear_last_error();
    std::vector<float> y(batch * out);
    ASSERT_EQ(qlinear_layer_forward(layer, x.data(), x.size(), batch, y.data(), y.size()), QLINEAR_OK);
    EXPECT_EQ(y, expected);
    qlinear_layer_free(layer);
  }
}

TEST(CApi, ErrorsCarryTheCppCodeAndMessage) {
  const std::vector<float> w(64, 1.0f);
  std::string message;
  const ErrorCode code = error_code_of([&] { quantize(std::span(w).first(63), 2, 32, Format::q4_0); }, &message);
  qlinear_tensor* t = nullptr;
  EXPECT_EQ(qlinear_quantize(w.data(), 63, 2, 32, QLINEAR_Q4_0, nullptr, &t), QLINEAR_SIZE_MISMATCH);
  EXPECT_EQ(code, ErrorCode::size_mismatch);
  EXPECT_EQ(qlinear_last_error(), message);
  EXPECT_EQ(std::string(qlinear_status_name(QLINEAR_SIZE_MISMATCH)), error_code_name(code));
}

}  // namespace
}  // namespace qlinear::test
