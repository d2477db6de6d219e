// q3_K: not yet implemented (placeholder on the development branch).

#include "core/half.hpp"
#include "formats/kquant_scales.hpp"
#include "formats/reference.hpp"

#include <qlinear/error.hpp>

namespace qlinear::formats {

void quantize_row_q3_K_ref(const float*, block_q3_K*, std::size_t) {
  throw Error(ErrorCode::unsupported, "q3_K quantization is not implemented yet");
}
void quantize_row_q3_K_weighted_ref(const float*, block_q3_K*, std::size_t, const float*) {
  throw Error(ErrorCode::unsupported, "q3_K quantization is not implemented yet");
}
void dequantize_row_q3_K_ref(const block_q3_K* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock256; ++b) {
    const float d = core::fp16_to_fp32(x[b].d);
    const std::array<std::int8_t, 16> scales = unpack_q3_K_scales(x[b].scales);
    const std::uint8_t* q = x[b].qs;
    std::size_t sub = 0;
    unsigned mask = 1;  // the bit of hmask that holds the third bit of this pass
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, mask <<= 1) {
        for (int part = 0; part < 2; ++part, ++sub) {
          const float dl = d * static_cast<float>(scales[sub] - 32);
          for (int l = 16 * part; l < 16 * part + 16; ++l) {
            const int low = (q[l] >> shift) & 3;
            const int value = low - ((x[b].hmask[l] & mask) ? 0 : 4);
            *y++ = dl * static_cast<float>(value);
          }
        }
      }
    }
  }
}

}  // namespace qlinear::formats
