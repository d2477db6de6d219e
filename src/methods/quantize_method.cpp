// quantize() with Method::search or Method::gptq: validation, then the per-format code choice.

#include "formats/registry.hpp"
#include "methods/methods.hpp"

#include <qlinear/calibration.hpp>
#include <qlinear/error.hpp>

#include <cmath>
#include <string>

namespace qlinear::methods {

QuantizedTensor quantize_by_method(std::span<const float> w, std::size_t rows, std::size_t cols, Format format,
                                   const QuantizeOptions& options) {
  formats::check_quantize_input(w, rows, cols, format, options.importance);
  if (options.calibration != nullptr && options.calibration->in_features() != cols) {
    throw Error(ErrorCode::size_mismatch, "the calibration has " + std::to_string(options.calibration->in_features()) +
                                              " inputs, the weights " + std::to_string(cols) + " columns");
  }
  if (options.method == Method::gptq && options.calibration == nullptr) {
    throw Error(ErrorCode::invalid_argument, "Method::gptq needs a Calibration (QuantizeOptions::calibration)");
  }
  if (!std::isfinite(options.damping) || options.damping < 0.0) {
    throw Error(ErrorCode::invalid_argument, "damping " + std::to_string(options.damping) + " must be finite and >= 0");
  }
  throw Error(ErrorCode::unsupported, "this method is not implemented yet");
}

}  // namespace qlinear::methods
