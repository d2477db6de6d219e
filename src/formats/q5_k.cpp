// q5_K: not yet implemented (placeholder on the development branch).

#include "formats/reference.hpp"

#include <qlinear/error.hpp>

namespace qlinear::formats {

void quantize_row_q5_K_ref(const float*, block_q5_K*, std::size_t) {
  throw Error(ErrorCode::unsupported, "q5_K quantization is not implemented yet");
}
void quantize_row_q5_K_weighted_ref(const float*, block_q5_K*, std::size_t, const float*) {
  throw Error(ErrorCode::unsupported, "q5_K quantization is not implemented yet");
}
void dequantize_row_q5_K_ref(const block_q5_K*, float*, std::size_t) {
  throw Error(ErrorCode::unsupported, "q5_K dequantization is not implemented yet");
}

}  // namespace qlinear::formats
