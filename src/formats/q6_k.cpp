// q6_K: not yet implemented (placeholder on the development branch).

#include "core/half.hpp"
#include "formats/kquant_scales.hpp"
#include "formats/reference.hpp"

#include <qlinear/error.hpp>

namespace qlinear::formats {

void quantize_row_q6_K_ref(const float*, block_q6_K*, std::size_t) {
  throw Error(ErrorCode::unsupported, "q6_K quantization is not implemented yet");
}
void quantize_row_q6_K_weighted_ref(const float*, block_q6_K*, std::size_t, const float*) {
  throw Error(ErrorCode::unsupported, "q6_K quantization is not implemented yet");
}
void dequantize_row_q6_K_ref(const block_q6_K* x, float* y, std::size_t n) {
  for (std::size_t b = 0; b < n / kBlock256; ++b, y += kBlock256) {
    const float d = core::fp16_to_fp32(x[b].d);
    // Two halves of 128: ql byte l (l < 64) holds elements l (low nibble) and l+64 (high), qh byte
    // l (l < 32) holds the high bits of elements l, l+32, l+64, l+96 (2 bits each, in that order).
    for (int half = 0; half < 2; ++half) {
      const std::uint8_t* ql = x[b].ql + 64 * half;
      const std::uint8_t* qh = x[b].qh + 32 * half;
      const std::int8_t* sc = x[b].scales + 8 * half;
      float* out = y + 128 * half;
      for (int l = 0; l < 32; ++l) {
        const int s = l / 16;
        const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        out[l] = d * static_cast<float>(sc[s]) * static_cast<float>(q1);
        out[l + 32] = d * static_cast<float>(sc[s + 2]) * static_cast<float>(q2);
        out[l + 64] = d * static_cast<float>(sc[s + 4]) * static_cast<float>(q3);
        out[l + 96] = d * static_cast<float>(sc[s + 6]) * static_cast<float>(q4);
      }
    }
  }
}

}  // namespace qlinear::formats
