#pragma once
// The searches ggml uses to give a group of weights a scale AND a min (w ≈ scale·q − min, q in
// [0, nmax]): the per-group search of q2_K, q4_K, q5_K (and of q4_1, q5_1 with importance weights),
// and the search that turns a super-block's float sub-block scales into small integers. They
// reproduce ggml's choices exactly: same float operations in the same order, same rounding
// (nearest_int), same tie-breaking (a later trial must be strictly better).

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
