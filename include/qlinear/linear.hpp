#pragma once
// QuantizedLinear: y = x · Wᵀ + b with W stored in a quantized format.

#include <qlinear/tensor.hpp>

#include <cstddef>
#include <span>
#include <vector>

namespace qlinear {

class QuantizedLinear {
 public:
  QuantizedLinear() = default;

  // w: row-major [out_features, in_features]; bias: out_features values, or empty for none.
  static QuantizedLinear from_weights(std::span<const float> w, std::span<const float> bias,
                                      std::size_t out_features, std::size_t in_features, Format format,
                                      const AffineOptions& affine = {});

  // A layer around weights that are already quantized (e.g. read from a file).
  static QuantizedLinear from_quantized(QuantizedTensor weight, std::span<const float> bias);

  // x: row-major [batch, in_features]; y: [batch, out_features]. const and safe to call from several
  // threads at once. Throws Error when a size does not match.
  void forward(std::span<const float> x, std::size_t batch, std::span<float> y) const;
  std::vector<float> forward(std::span<const float> x, std::size_t batch) const;

  std::size_t in_features() const noexcept { return weight_.cols(); }
  std::size_t out_features() const noexcept { return weight_.rows(); }
  Format format() const noexcept { return weight_.format(); }
  const QuantizedTensor& weight() const noexcept { return weight_; }
  std::span<const float> bias() const noexcept { return bias_; }

  std::size_t weight_bytes() const noexcept { return weight_.nbytes(); }
  double compression_ratio() const noexcept;  // 4·out·in / weight_bytes()
  std::vector<float> dequantize_weights() const;

 private:
  QuantizedTensor weight_;
  std::vector<float> bias_;
};

}  // namespace qlinear
