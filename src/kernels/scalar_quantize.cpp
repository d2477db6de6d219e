// Scalar activation quantization: ggml's q8_0 reference quantizer, block by block, plus the sums.

#include "core/half.hpp"
#include "formats/reference.hpp"
#include "kernels/scalar_kernels.hpp"

#include <algorithm>
#include <cstring>

namespace qlinear::kernels::scalar {

void quantize_activation_row(const float* x, std::size_t cols, std::size_t blocks,
                             const ActivationRowOut& out) {
  float padded[kActBlock];
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t begin = b * kActBlock;
    // Blocks past the row (the K-quants pad rows to 256) are all zeros.
    const std::size_t n = begin < cols ? std::min(kActBlock, cols - begin) : 0;
    std::fill(std::copy_n(x + begin, n, padded), padded + kActBlock, 0.0f);
    formats::block_q8_0 block;
    formats::quantize_row_q8_0_ref(padded, &block, kActBlock);
    std::int32_t sum = 0;
    for (std::int8_t q : block.qs) sum += q;
    const std::size_t at = b * out.stride;
    auto* codes = reinterpret_cast<std::int8_t*>(reinterpret_cast<std::byte*>(out.codes) + at);
    std::memcpy(codes, block.qs, kActBlock);
    const float d = core::fp16_to_fp32(block.d);
    std::memcpy(reinterpret_cast<std::byte*>(out.scale) + at, &d, sizeof d);
    std::memcpy(reinterpret_cast<std::byte*>(out.sum) + at, &sum, sizeof sum);
    const float scaled = d * static_cast<float>(sum);
    std::memcpy(reinterpret_cast<std::byte*>(out.scaled_sum) + at, &scaled, sizeof scaled);
    std::int16_t halves[2] = {0, 0};
    for (std::size_t i = 0; i < kActBlock; ++i) halves[i / 16] = static_cast<std::int16_t>(halves[i / 16] + block.qs[i]);
    std::memcpy(reinterpret_cast<std::byte*>(out.half_sums) + at, halves, sizeof halves);
  }
}

}  // namespace qlinear::kernels::scalar
