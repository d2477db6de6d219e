// f16: IEEE binary16, round to nearest even. Like ggml, the row function turns values beyond ±65504
// into ±Inf; quantize() refuses such weights with an error before they get here.

#include "core/half.hpp"
#include "formats/reference.hpp"

namespace qlinear::formats {

void quantize_row_f16_ref(const float* x, std::uint16_t* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = core::fp32_to_fp16(x[i]);
}

void dequantize_row_f16_ref(const std::uint16_t* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = core::fp16_to_fp32(x[i]);
}

}  // namespace qlinear::formats
