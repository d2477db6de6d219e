// q2_K: not yet implemented (placeholder on the development branch).

#include "core/half.hpp"
#include "formats/kquant_scales.hpp"
#include "formats/reference.hpp"

#include <qlinear/error.hpp>

namespace qlinear::formats {

void quantize_row_q2_K_ref(const float*, block_q2_K*, std::size_t) {
  throw Error(ErrorCode::unsupported, "q2_K quantization is not implemented yet");
}
void quantize_row_q2_K_weighted_ref(const float*, block_q2_K*, std::size_t, const float*) {
  throw Error(ErrorCode::unsupported, "q2_K quantization is not implemented yet");
}
void dequantize_row_q2_K_ref(const block_q2_K* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock256; ++b) {
    const float d = core::fp16_to_fp32(x[b].d);
    const float dmin = core::fp16_to_fp32(x[b].dmin);
    const std::uint8_t* q = x[b].qs;
    std::size_t sub = 0;
    // Two halves of 128 weights; in each, byte l of the 32 holds weights l, l+32, l+64, l+96 (by 2 bits).
    for (int half = 0; half < 2; ++half, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int part = 0; part < 2; ++part, ++sub) {
          const float dl = d * static_cast<float>(x[b].scales[sub] & 0x0f);
          const float ml = dmin * static_cast<float>(x[b].scales[sub] >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[16 * part + l] >> shift) & 3) - ml;
        }
      }
    }
  }
}

}  // namespace qlinear::formats
