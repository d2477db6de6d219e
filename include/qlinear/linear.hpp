#pragma once
// QuantizedLinear: y = x · Wᵀ + b with W stored in a quantized format.

#include <qlinear/export.h>
#include <qlinear/tensor.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace qlinear {

namespace kernels {
struct PackedWeights;  // the kernels' interleaved copy of the weights (internal)
}

class QLINEAR_API QuantizedLinear {
 public:
  QuantizedLinear() = default;

  // w: row-major [out_features, in_features]; bias: out_features values, or empty for none.
  static QuantizedLinear from_weights(std::span<const float> w, std::span<const float> bias,
                                      std::size_t out_features, std::size_t in_features, Format format,
                                      const AffineOptions& affine = {});
  static QuantizedLinear from_weights(std::span<const float> w, std::span<const float> bias,
                                      std::size_t out_features, std::size_t in_features, Format format,
                                      const QuantizeOptions& options);

  // A layer around weights that are already quantized (e.g. read from a file).
  static QuantizedLinear from_quantized(QuantizedTensor weight, std::span<const float> bias);

  // x: row-major [batch, in_features]; y: [batch, out_features]. const and safe to call from several
  // threads at once. Throws Error when a size does not match.
  //
  // What forward computes depends on the weight format:
  //  - f32, f16, bf16: y = x · Wᵀ + b in float (f16/bf16 weights widened exactly).
  //  - every quantized format (q8_0 ... q5_1, i8, i4; the K- and i-quants as below): each row of x
  //    is first quantized, per block of 32 inputs, exactly as ggml's q8_0 quantizer does (d = max|x|/127 rounded to fp16, codes
  //    round(x/d) in [-127, 127]), and the product is taken with integers inside each block:
  //    y ≈ q8(x) · dequantize(W)ᵀ + b, the only difference being float rounding (one rounding per
  //    block and scale). Against the float product x · dequantize(W)ᵀ this adds an error of up to
  //    Σ_i |w_i| · d_i/2 per output (half a quantization step of each input's block, plus the fp16
  //    rounding of d: at most 12% more); on the bundled real weights, q8_0's relative forward error
  //    goes from 0.0072 to 0.0089. ggml's CPU backend computes the same thing.
  //  - the K-quants and i-quants (q2_K … q6_K, iq4_nl, iq4_xs) take the same q8 activations per
  //    block of 32 (ggml uses q8_K, one scale per 256, so qlinear's activations are at least as
  //    accurate). Per block of 32 the integer sub-block scales sc (and mins m) enter exact integer
  //    sums, then one float multiply each: Σ_sub sc·(q_w · q_x) · (d · d_x) − Σ_sub m·Σq_x · (dmin · d_x),
  //    with q_w the code less its offset (q3_K: −4, q6_K: −32) or the grid value (iq4_*), the
  //    mins term only for q2_K (mins per 16 inputs), q4_K and q5_K. Every integer sum is below 2^24,
  //    so the result is again q8(x) · dequantize(W)ᵀ + b up to one rounding per term.
  // Results are bit-identical for any thread count; they may differ in the last bits between
  // instruction-set levels (see runtime.hpp).
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
  // Built once when the CPU has a packed kernel for the format; null otherwise. weight_ keeps the
  // standard layout for weight() and the scalar kernels.
  std::shared_ptr<const kernels::PackedWeights> packed_;
};

}  // namespace qlinear
