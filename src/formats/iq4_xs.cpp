// iq4_xs: super-blocks of 256, w = d·(ls − 32)·grid[q] for sub-block scales ls in [0, 63] (6 bits,
// split as 4 low + 2 high bits) under one fp16 d, and the grid kIq4nlValues. Each sub-block of 32
// gets its scale from iq4_nl's search; d is the largest of those scales over −32, and the codes are
// chosen again for each rounded sub-block scale d·(ls − 32).

#include "core/half.hpp"
#include "formats/iq4_search.hpp"
#include "formats/nearest_int.hpp"
#include "formats/reference.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace qlinear::formats {

namespace {

constexpr std::size_t kSubBlocks = kBlock256 / iq4::kSubBlock;

// Without importance the error weights are x² (ggml's rule), with it importance·sqrt(spread + x²).
void quantize_iq4_xs(const float* x, block_iq4_xs* y, std::size_t n, const float* importance) {
  float weight[iq4::kSubBlock];
  float scales[kSubBlocks];
  for (std::size_t b = 0; b < n / kBlock256; ++b, x += kBlock256) {
    const float sigma2 = iq4::spread(x, kBlock256);
    float max_scale = 0.0f, amax_scale = 0.0f;  // the first sub-block scale of largest magnitude
    for (std::size_t s = 0; s < kSubBlocks; ++s) {
      const float* xs = x + s * iq4::kSubBlock;
      iq4::error_weights(xs, importance ? importance + b * kBlock256 + s * iq4::kSubBlock : nullptr, sigma2,
                         weight);
      scales[s] = iq4::best_scale(xs, weight);
      if (std::fabs(scales[s]) > amax_scale) {
        amax_scale = std::fabs(scales[s]);
        max_scale = scales[s];
      }
    }
    // −32 is the one level without a positive twin, so the largest scale takes it; d is negative
    // when that scale is positive.
    const float d = -max_scale / 32.0f;
    y[b].d = core::fp32_to_fp16(d);
    const float inverse = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].scales_h = 0;
    std::memset(y[b].scales_l, 0, sizeof y[b].scales_l);
    for (std::size_t s = 0; s < kSubBlocks; ++s) {
      const int level = std::clamp(nearest_int(inverse * scales[s]), -32, 31);
      const float dl = d * static_cast<float>(level);
      iq4::store_codes(x + s * iq4::kSubBlock, iq4::kSubBlock, dl != 0.0f ? 1.0f / dl : 0.0f,
                       y[b].qs + s * iq4::kSubBlock / 2);
      const auto ls = static_cast<unsigned>(level + 32);
      y[b].scales_l[s / 2] = static_cast<std::uint8_t>(y[b].scales_l[s / 2] | ((ls & 0x0fu) << (4 * (s % 2))));
      y[b].scales_h = static_cast<std::uint16_t>(y[b].scales_h | ((ls >> 4) << (2 * s)));
    }
  }
}

}  // namespace

void quantize_row_iq4_xs_ref(const float* x, block_iq4_xs* y, std::size_t n) {
  quantize_iq4_xs(x, y, n, nullptr);
}

void quantize_row_iq4_xs_weighted_ref(const float* x, block_iq4_xs* y, std::size_t n, const float* importance) {
  quantize_iq4_xs(x, y, n, importance);
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
