// iq4_xs: not yet implemented (placeholder on the development branch).

#include "core/half.hpp"
#include "formats/kquant_scales.hpp"
#include "formats/reference.hpp"

#include <qlinear/error.hpp>

namespace qlinear::formats {

void quantize_row_iq4_xs_ref(const float*, block_iq4_xs*, std::size_t) {
  throw Error(ErrorCode::unsupported, "iq4_xs quantization is not implemented yet");
}
void quantize_row_iq4_xs_weighted_ref(const float*, block_iq4_xs*, std::size_t, const float*) {
  throw Error(ErrorCode::unsupported, "iq4_xs quantization is not implemented yet");
}
void dequantize_row_iq4_xs_ref(const block_iq4_xs* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock256; ++b) {
    const float d = core::fp16_to_fp32(x[b].d);
    for (int sub = 0; sub < 8; ++sub, y += kBlock32) {
      const int low = (x[b].scales_l[sub / 2] >> (4 * (sub % 2))) & 0x0f;
      const int high = (x[b].scales_h >> (2 * sub)) & 3;
      const float dl = d * static_cast<float>((low | (high << 4)) - 32);
      const std::uint8_t* qs = x[b].qs + 16 * sub;
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * static_cast<float>(kIq4nlValues[qs[j] & 0x0f]);
        y[j + 16] = dl * static_cast<float>(kIq4nlValues[qs[j] >> 4]);
      }
    }
  }
}

}  // namespace qlinear::formats
