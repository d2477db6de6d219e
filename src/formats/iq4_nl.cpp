// iq4_nl: not yet implemented (placeholder on the development branch).

#include "formats/reference.hpp"

#include <qlinear/error.hpp>

namespace qlinear::formats {

void quantize_row_iq4_nl_ref(const float*, block_iq4_nl*, std::size_t) {
  throw Error(ErrorCode::unsupported, "iq4_nl quantization is not implemented yet");
}
void quantize_row_iq4_nl_weighted_ref(const float*, block_iq4_nl*, std::size_t, const float*) {
  throw Error(ErrorCode::unsupported, "iq4_nl quantization is not implemented yet");
}
void dequantize_row_iq4_nl_ref(const block_iq4_nl*, float*, std::size_t) {
  throw Error(ErrorCode::unsupported, "iq4_nl dequantization is not implemented yet");
}

}  // namespace qlinear::formats
