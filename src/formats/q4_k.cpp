// q4_K: not yet implemented (placeholder on the development branch).

#include "core/half.hpp"
#include "formats/kquant_scales.hpp"
#include "formats/reference.hpp"

#include <qlinear/error.hpp>

namespace qlinear::formats {

void quantize_row_q4_K_ref(const float*, block_q4_K*, std::size_t) {
  throw Error(ErrorCode::unsupported, "q4_K quantization is not implemented yet");
}
void quantize_row_q4_K_weighted_ref(const float*, block_q4_K*, std::size_t, const float*) {
  throw Error(ErrorCode::unsupported, "q4_K quantization is not implemented yet");
}
void dequantize_row_q4_K_ref(const block_q4_K* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock256; ++b) {
    const float d = core::fp16_to_fp32(x[b].d);
    const float dmin = core::fp16_to_fp32(x[b].dmin);
    const std::uint8_t* q = x[b].qs;
    // 32 bytes hold sub-blocks 2k (low nibbles) and 2k+1 (high nibbles).
    for (int k = 0; k < 4; ++k, q += 32) {
      const ScaleMin lo = k_scale_min(x[b].scales, 2 * k), hi = k_scale_min(x[b].scales, 2 * k + 1);
      const float d1 = d * static_cast<float>(lo.scale), m1 = dmin * static_cast<float>(lo.min);
      const float d2 = d * static_cast<float>(hi.scale), m2 = dmin * static_cast<float>(hi.min);
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0x0f) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

}  // namespace qlinear::formats
