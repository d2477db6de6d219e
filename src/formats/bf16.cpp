// bf16: the top 16 bits of an f32, rounded to nearest even (subnormals are kept, not flushed).

#include "core/half.hpp"
#include "formats/reference.hpp"

namespace qlinear::formats {

void quantize_row_bf16_ref(const float* x, std::uint16_t* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = core::fp32_to_bf16(x[i]);
}

void dequantize_row_bf16_ref(const std::uint16_t* x, float* y, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) y[i] = core::bf16_to_fp32(x[i]);
}

}  // namespace qlinear::formats
