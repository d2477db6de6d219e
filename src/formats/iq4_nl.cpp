// iq4_nl: not yet implemented (placeholder on the development branch).

#include "core/half.hpp"
#include "formats/kquant_scales.hpp"
#include "formats/reference.hpp"

#include <qlinear/error.hpp>

namespace qlinear::formats {

void quantize_row_iq4_nl_ref(const float*, block_iq4_nl*, std::size_t) {
  throw Error(ErrorCode::unsupported, "iq4_nl quantization is not implemented yet");
}
void quantize_row_iq4_nl_weighted_ref(const float*, block_iq4_nl*, std::size_t, const float*) {
  throw Error(ErrorCode::unsupported, "iq4_nl quantization is not implemented yet");
}
void dequantize_row_iq4_nl_ref(const block_iq4_nl* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock32; ++b, y += kBlock32) {
    const float d = core::fp16_to_fp32(x[b].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * static_cast<float>(kIq4nlValues[x[b].qs[j] & 0x0f]);
      y[j + 16] = d * static_cast<float>(kIq4nlValues[x[b].qs[j] >> 4]);
    }
  }
}

}  // namespace qlinear::formats
