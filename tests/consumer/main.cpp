// Quantizes a small layer through the installed headers and library and checks one product.
#include <qlinear/qlinear.hpp>

#include <cstdio>
#include <vector>

int main() {
  const std::vector<float> w = {1, 2, 3, 4, 5, 6}, bias = {0.5f, -0.5f};
  const auto layer = qlinear::QuantizedLinear::from_weights(w, bias, 2, 3, qlinear::Format::f16);
  const std::vector<float> y = layer.forward(std::vector<float>{1, 1, 1}, 1);
  std::printf("qlinear %s: y = [%g, %g]\n", qlinear::version_string, y[0], y[1]);

  // The options spelled as the README spells them.
  const qlinear::QuantizedTensor q = qlinear::quantize(w, 2, 3, qlinear::Format::i4,
      {.symmetric = false, .granularity = qlinear::AffineOptions::Granularity::group, .group_size = 32,
       .calibration = qlinear::AffineOptions::Calibration::mse});
  const qlinear::QuantStats s = qlinear::measure(w, q);
  std::printf("i4 group-32 asymmetric: rmse %g, %zu bytes\n", s.rmse, s.bytes);

  // Thrown inside the library, caught here by its type: with the shared library this needs the
  // exported type information of qlinear::Error.
  bool caught = false;
  try {
    qlinear::parse_format("q3_0");
  } catch (const qlinear::Error& e) {
    caught = e.code() == qlinear::ErrorCode::unknown_format;
  }
  std::printf("parse_format(\"q3_0\") threw qlinear::Error: %s\n", caught ? "yes" : "no");
  return y[0] == 6.5f && y[1] == 14.5f && s.bytes == q.nbytes() && caught ? 0 : 1;
}
