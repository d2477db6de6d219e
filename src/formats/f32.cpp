// f32: weights kept as they are (the unquantized baseline).

#include "formats/reference.hpp"

#include <cstring>

namespace qlinear::formats {

void quantize_row_f32_ref(const float* x, float* y, std::size_t n) {
  if (n != 0) std::memcpy(y, x, n * sizeof(float));
}

void dequantize_row_f32_ref(const float* x, float* y, std::size_t n) {
  if (n != 0) std::memcpy(y, x, n * sizeof(float));
}

}  // namespace qlinear::formats
