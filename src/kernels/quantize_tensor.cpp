// qlinear::quantize(): the formats layer's validation and layout, with the active level's row
// quantizers (byte-identical to the reference ones).

#include "formats/registry.hpp"
#include "kernels/kernel_table.hpp"
#include "methods/methods.hpp"

#include <qlinear/tensor.hpp>

namespace qlinear {

QuantizedTensor quantize(std::span<const float> w, std::size_t rows, std::size_t cols, Format format,
                         const QuantizeOptions& options) {
  if (options.method != Method::reference) return methods::quantize_by_method(w, rows, cols, format, options);
  const kernels::KernelTable& k = kernels::active_kernels();
  const formats::QuantizeRowFn row_fn = k.quantize_row[static_cast<std::size_t>(formats::traits(format).info.format)];
  return formats::quantize_with(w, rows, cols, format, options, row_fn, k.any_out_of_range);
}

QuantizedTensor quantize(std::span<const float> w, std::size_t rows, std::size_t cols, Format format,
                         const AffineOptions& affine) {
  return quantize(w, rows, cols, format, QuantizeOptions{.affine = affine});
}

}  // namespace qlinear
