#include "formats/weight_view.hpp"
#include "kernels/forward.hpp"
#include "kernels/packed.hpp"

#include <qlinear/error.hpp>
#include <qlinear/linear.hpp>
#include <qlinear/runtime.hpp>

#include <cmath>
#include <string>

namespace qlinear {
namespace {

void check_bias(std::span<const float> bias, std::size_t out_features) {
  if (!bias.empty() && bias.size() != out_features) {
    throw Error(ErrorCode::size_mismatch, "bias has " + std::to_string(bias.size()) +
                                              " values, expected out_features = " +
                                              std::to_string(out_features) + " (or none)");
  }
  for (std::size_t i = 0; i < bias.size(); ++i) {
    if (!std::isfinite(bias[i])) {
      throw Error(ErrorCode::non_finite,
                  "bias[" + std::to_string(i) + "] is " + (std::isnan(bias[i]) ? "NaN" : "Inf"));
    }
  }
}

// A span that must hold batch × features values; the product is checked so it cannot wrap around.
void check_batch_span(const char* name, std::size_t actual, std::size_t batch, std::size_t features,
                      const char* feature_name) {
  std::size_t expected = 0;
  if (__builtin_mul_overflow(batch, features, &expected) || actual != expected) {
    throw Error(ErrorCode::size_mismatch,
                std::string(name) + " has " + std::to_string(actual) + " values, expected batch × " +
                    feature_name + " = " + std::to_string(batch) + " × " + std::to_string(features));
  }
}

void check_not_empty(const QuantizedTensor& weight) {
  if (weight.rows() == 0) {
    throw Error(ErrorCode::invalid_argument, "forward on an empty (default-constructed) QuantizedLinear");
  }
}

}  // namespace

QuantizedLinear QuantizedLinear::from_weights(std::span<const float> w, std::span<const float> bias,
                                              std::size_t out_features, std::size_t in_features,
                                              Format format, const AffineOptions& affine) {
  check_bias(bias, out_features);
  return from_weights(w, bias, out_features, in_features, format, QuantizeOptions{.affine = affine});
}

QuantizedLinear QuantizedLinear::from_weights(std::span<const float> w, std::span<const float> bias,
                                              std::size_t out_features, std::size_t in_features,
                                              Format format, const QuantizeOptions& options) {
  check_bias(bias, out_features);
  return from_quantized(quantize(w, out_features, in_features, format, options), bias);
}

QuantizedLinear QuantizedLinear::from_quantized(QuantizedTensor weight, std::span<const float> bias) {
  if (weight.rows() == 0 || weight.cols() == 0) {
    throw Error(ErrorCode::size_mismatch, "a linear layer needs a non-empty weight tensor");
  }
  check_bias(bias, weight.rows());
  QuantizedLinear layer;
  layer.weight_ = std::move(weight);
  layer.bias_.assign(bias.begin(), bias.end());
  // The packed copy is only read by the SIMD kernels (AVX2 and up, NEON and up): a CPU without
  // them does not pay for it.
  if (best_isa() != Isa::scalar) layer.packed_ = kernels::pack_weights(layer.weight_);
  return layer;
}

void QuantizedLinear::forward(std::span<const float> x, std::size_t batch, std::span<float> y) const {
  check_not_empty(weight_);
  check_batch_span("x", x.size(), batch, in_features(), "in_features");
  check_batch_span("y", y.size(), batch, out_features(), "out_features");
  if (batch == 0) return;
  kernels::forward(active_isa(), formats::view_of(weight_), packed_.get(), x.data(), batch,
                   bias_.empty() ? nullptr : bias_.data(), y.data());
}

std::vector<float> QuantizedLinear::forward(std::span<const float> x, std::size_t batch) const {
  check_not_empty(weight_);
  check_batch_span("x", x.size(), batch, in_features(), "in_features");  // before sizing y from batch
  std::vector<float> y(batch * out_features());
  forward(x, batch, y);
  return y;
}

double QuantizedLinear::compression_ratio() const noexcept {
  const std::size_t bytes = weight_bytes();
  return bytes == 0 ? 0.0
                    : 4.0 * static_cast<double>(in_features() * out_features()) /
                          static_cast<double>(bytes);
}

std::vector<float> QuantizedLinear::dequantize_weights() const { return dequantize(weight_); }

}  // namespace qlinear
