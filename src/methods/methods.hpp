#pragma once
// The methods layer: ways of choosing codes beyond the reference rule (Method::search, Method::gptq).
// It writes ordinary tensors of the formats layer; formats never include this layer, the public
// quantize() (src/kernels/quantize_tensor.cpp) routes here.

#include <qlinear/tensor.hpp>

#include <cstddef>
#include <span>

namespace qlinear::methods {

// quantize() for options.method != Method::reference. Validates like quantize() does, plus the
// calibration (width, presence for gptq) and the damping.
QuantizedTensor quantize_by_method(std::span<const float> w, std::size_t rows, std::size_t cols, Format format,
                                   const QuantizeOptions& options);

}  // namespace qlinear::methods
