#pragma once
// The searches ggml uses to give a group of weights a scale AND a min (w ≈ scale·q − min, q in
// [0, nmax]): the per-group search of q2_K, q4_K, q5_K (and of q4_1, q5_1 with importance weights),
// and the search that turns a super-block's float sub-block scales into small integers. They
// reproduce ggml's choices exactly: same float operations in the same order, same rounding
// (nearest_int), same tie-breaking (a later trial must be strictly better).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace qlinear::formats {

// A group's fit: w ≈ scale·q − min. `min` is what ggml stores as the group's min (>= 0 in all but
// degenerate cases; the offset subtracted, so the group's smallest weight is about −min).
struct ScaleMinFit {
  float scale;
  float min;
};

// Which per-weight error the scale-and-min search adds up (times the weight's importance).
enum class FitError { squared, absolute };

// The trial inverse scales (nmax + first + step·k) / (max − min), k = 0..steps, that the search
// tries after the plain one nmax / (max − min).
struct ScaleTrials {
  float first;
  float step;
  int steps;
};

// The largest group the scale-and-min search takes (q4_K/q5_K sub-blocks, q4_1/q5_1 blocks).
inline constexpr int kMaxScaleMinGroup = 32;

// Minimizes Σ w_i·e(scale·q_i − min − x_i) (e = square or absolute value, w_i = weights[i] >= 0)
// over the codes q_i in [0, nmax] and the pair (scale, min) with min >= 0. It starts from the
// range fit (min = smallest weight or 0, scale = range / nmax); each trial inverse scale rounds
// every weight to a code, then refits scale and min to those codes by weighted least squares
// (scale alone when the fitted min would be negative), and is kept when its error is strictly
// smaller. Writes the chosen codes to codes[0..n). n <= kMaxScaleMinGroup.
// This is the search ggml calls make_qkx2_quants, and make_qkx3_quants when given weights (the two
// differ only when make_qkx3_quants derives the weights itself, which none of its callers here does).
// The formats call search_scale_and_min_groups; this one-group form is the plain statement of the
// steps, which the tests hold the grouped search to, bit for bit.
ScaleMinFit search_scale_and_min(const float* x, const float* weights, int n, int nmax, std::uint8_t* codes,
                                 ScaleTrials trials, FitError error);

// search_scale_and_min on `groups` consecutive groups of n values (group g at x + g·n, its weights
// at weights + g·n, its codes to codes + g·n, its fit to fits[g]), with exactly the same results;
// several groups are searched side by side, which is several times faster than one after another.
void search_scale_and_min_groups(const float* x, const float* weights, int groups, int n, int nmax,
                                 std::uint8_t* codes, ScaleMinFit* fits, ScaleTrials trials, FitError error);

// Splits n fits into their scales and mins and returns the largest of each (0 when none is
// positive): what the K-quants quantize their sub-block scales and mins against.
struct ScaleMinMaxima {
  float scale, min;
};
inline ScaleMinMaxima split_fits(const ScaleMinFit* fits, int n, float* scales, float* mins) noexcept {
  ScaleMinMaxima max{0.0f, 0.0f};
  for (int j = 0; j < n; ++j) {
    scales[j] = fits[j].scale;
    mins[j] = fits[j].min;
    if (fits[j].scale > max.scale) max.scale = fits[j].scale;
    if (fits[j].min > max.min) max.min = fits[j].min;
  }
  return max;
}

// ggml's importance path of q4_1 and q5_1 (quantize_row_q4_1_impl / q5_1_impl) over a row of n
// weights: per block of 32, the squared-error search with trials (nmax − 0.9 + 0.05·k)/range,
// k = 0..36, weighted by importance_j·sqrt(σ² + x_j²), σ² the mean square of the whole row. Unlike
// the plain rule, the min may sit below the block's smallest weight and the scale away from
// range / nmax when that lowers the weighted error. store(b, fit, codes) takes block b's fit and its
// 32 codes. Eight blocks at a time: the search runs them side by side.
template <typename Store>
void search_blocks_of_32_weighted(const float* x, std::size_t n, const float* importance, int nmax, Store&& store) {
  constexpr std::size_t kBlock = 32, kChunk = 8;
  float sum_x2 = 0;
  for (std::size_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  const float sigma2 = sum_x2 / static_cast<float>(n);
  float weights[kChunk * kBlock];
  std::uint8_t codes[kChunk * kBlock];
  ScaleMinFit fits[kChunk];
  const std::size_t blocks = n / kBlock;
  for (std::size_t first = 0; first < blocks; first += kChunk) {
    const std::size_t count = std::min(kChunk, blocks - first);
    const float* xc = x + first * kBlock;
    for (std::size_t j = 0; j < count * kBlock; ++j) {
      weights[j] = importance[first * kBlock + j] * std::sqrt(sigma2 + xc[j] * xc[j]);
    }
    search_scale_and_min_groups(xc, weights, static_cast<int>(count), static_cast<int>(kBlock), nmax, codes, fits,
                                {-0.9f, 0.05f, 36}, FitError::squared);
    for (std::size_t k = 0; k < count; ++k) store(first + k, fits[k], codes + k * kBlock);
  }
}

// Minimizes Σ w_i·(v_i − d·L_i)² over one factor d and integer codes L_i in [0, nmax], for values
// v_i >= 0 (a super-block's sub-block scales, or its mins): the plain fit d = max / nmax, then eight
// nearby inverse scales (nmax ± 0.1·k)/max, then up to five passes that move single codes to the
// value that lowers the error for the least-squares d. Returns that least-squares d (0 for an
// all-zero group) and writes the codes. What ggml calls make_qp_quants.
float search_scale_of_positive_values(const float* v, const float* weights, int n, int nmax, std::uint8_t* codes);

// q4_K and q5_K share everything but the code width: 8 sub-blocks of 32 weights, each with a scale
// and a min, stored as 6-bit integers that fp16 factors d and dmin multiply (12 bytes, see
// kquant_scales.hpp). These choose the 12 scale bytes, d, dmin and the 256 codes (in [0, nmax],
// weight order) for one super-block of x.
struct ScaleMinSuperBlock {
  std::uint16_t d, dmin;
  std::uint8_t scales[12];
  std::uint8_t codes[256];
};

// ggml's reference rule (quantize_row_q4_K_ref / q5_K_ref): per sub-block, the scale-and-min search
// with weights rms(sub-block) + |x|; d and dmin are the largest scale and min over 63.
void quantize_scale_min_super_block(const float* x, int nmax, ScaleTrials trials, ScaleMinSuperBlock& out);

// ggml's importance path (quantize_row_q4_K_impl / q5_K_impl with quant_weights): weights
// importance_i·sqrt(σ² + x_i²) with σ² = 2·mean(x²) over the super-block; the sub-block scales and
// mins are quantized by search_scale_of_positive_values weighted by each sub-block's total weight.
// q5_K clamps the 6-bit codes to 63 before packing, q4_K does not (they differ only if a sub-block
// scale came out negative).
void quantize_scale_min_super_block_weighted(const float* x, const float* importance, int nmax,
                                             bool clamp_codes, ScaleMinSuperBlock& out);

}  // namespace qlinear::formats
