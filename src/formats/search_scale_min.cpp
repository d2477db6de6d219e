// The scale-and-min searches of the K-quants. Every expression keeps ggml's operand order and types
// (codes are converted to float where ggml multiplies a float by an integer), since a single
// different rounding can flip a comparison and change the stored bytes.

#include "formats/search_scale_min.hpp"

#include "core/half.hpp"
#include "formats/kquant_scales.hpp"
#include "formats/nearest_int.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace qlinear::formats {

namespace {

// The error of one weight under the fit, before its importance multiplies it.
inline float fit_error(float diff, FitError error) noexcept {
  return error == FitError::absolute ? std::fabs(diff) : diff * diff;
}

inline int clamp_code(int l, int nmax) noexcept { return std::max(0, std::min(nmax, l)); }

}  // namespace

ScaleMinFit search_scale_and_min(const float* x, const float* weights, int n, int nmax, std::uint8_t* codes,
                                 ScaleTrials trials, FitError error) {
  float lo = x[0], hi = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  // The offset only ever shifts values up: a group of positive weights is fitted from 0.
  if (lo > 0) lo = 0;
  if (hi == lo) {
    std::memset(codes, 0, static_cast<std::size_t>(n));
    return {0.0f, -lo};
  }
  const float fnmax = static_cast<float>(nmax);
  float iscale = fnmax / (hi - lo);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    codes[i] = static_cast<std::uint8_t>(clamp_code(nearest_int(iscale * (x[i] - lo)), nmax));
    const float diff = scale * static_cast<float>(codes[i]) + lo - x[i];
    best_error += weights[i] * fit_error(diff, error);
  }
  if (trials.steps < 1) return {scale, -lo};

  std::uint8_t trial[kMaxScaleMinGroup];
  for (int step = 0; step <= trials.steps; ++step) {
    iscale = (trials.first + trials.step * static_cast<float>(step) + fnmax) / (hi - lo);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_code(nearest_int(iscale * (x[i] - lo)), nmax);
      trial[i] = static_cast<std::uint8_t>(l);
      const float w = weights[i], fl = static_cast<float>(l);
      sum_l += w * fl;
      sum_l2 += w * fl * fl;
      sum_xl += w * fl * x[i];
    }
    // Weighted least squares of x on the codes: x ≈ this_scale·l + this_min.
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0)) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_min > 0) {  // the offset may not be positive: refit the scale alone
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float cur_error = 0;
    for (int i = 0; i < n; ++i) {
      const float diff = this_scale * static_cast<float>(trial[i]) + this_min - x[i];
      cur_error += weights[i] * fit_error(diff, error);
    }
    if (cur_error < best_error) {
      std::memcpy(codes, trial, static_cast<std::size_t>(n));
      best_error = cur_error;
      scale = this_scale;
      lo = this_min;
    }
  }
  return {scale, -lo};
}

namespace {

// search_scale_and_min on kLanes groups at once, lane s holding group s. Alone, one group's search
// is a chain of dependent float additions (its sums must keep ggml's order), so the adder mostly
// waits; independent groups side by side fill that wait, and the lane loops below compile to vector
// instructions of the baseline ISA. Every lane performs exactly the scalar search's operations, in
// its order: only what is computed between them is interleaved. Codes are kept as floats, the
// values the sums multiply by.
constexpr int kLanes = 8;
#define LANES _Pragma("GCC unroll 1")
using LaneValues = float[kLanes];

// nearest_int(v) clamped to [0, nmax], as the float that ggml multiplies by. Clamping before the
// rounding gives the same code (the rounding is monotonic and maps 0 and nmax to themselves), and
// adding and taking off 1.5·2^23 is the rounding itself, done in float. Both hold for |v| < 2^22,
// nearest_int's valid range; lanes that leave it are flagged (see in_range below) and searched again
// by the one-group search, whose integer steps reproduce ggml's codes even there.
inline float clamped_code(float v, float nmax) noexcept {
  const float c = std::min(std::max(v, 0.0f), nmax);
  return (c + 12582912.0f) - 12582912.0f;
}

// Whether v lies well inside nearest_int's valid range (false for inf and NaN).
inline int rounding_in_range(float v) noexcept { return std::fabs(v) < 4.0e6f; }

// x where flag is 1, y where it is 0. Written on the bits, since GCC keeps a float select whose
// condition is a float comparison as a branch (the comparison may trap under -ftrapping-math), and a
// branch per lane would keep these loops from becoming vector code.
inline float select(int flag, float x, float y) noexcept {
  const std::int32_t mask = -flag;
  return std::bit_cast<float>((std::bit_cast<std::int32_t>(x) & mask) | (std::bit_cast<std::int32_t>(y) & ~mask));
}

template <FitError kError>
inline float lane_error(float diff) noexcept {
  if constexpr (kError == FitError::absolute) {
    return std::fabs(diff);
  } else {
    return diff * diff;
  }
}

// The codes of a lane are not copied at each better trial: the inverse scale and offset that gave
// them are kept instead, and the codes recomputed once at the end (the same operations, so the same
// codes). Lane flags are ints and every select is unconditional, so that no loop has a branch.
//
// A code is iscale·(x − lo) rounded, monotonic in x, so the group's smallest and largest weights
// give the extreme values: checking those two per lane and per trial is checking every weight.
// in_range[s] says the whole search of lane s stayed in nearest_int's valid range.
template <FitError kError>
void search_lanes(const LaneValues* x, const LaneValues* w, int n, int nmax, LaneValues* best, ScaleMinFit* fits,
                  int* in_range, ScaleTrials trials) {
  const float fnmax = static_cast<float>(nmax);
  alignas(64) float lo[kLanes], hi[kLanes], sum_w[kLanes], sum_x[kLanes], iscale[kLanes], scale[kLanes];
  alignas(64) float best_error[kLanes], code_iscale[kLanes], code_lo[kLanes], x_min[kLanes];
  alignas(64) int live[kLanes];
  LANES for (int s = 0; s < kLanes; ++s) {
    lo[s] = hi[s] = x[0][s];
    sum_w[s] = w[0][s];
    sum_x[s] = sum_w[s] * x[0][s];
  }
  for (int i = 1; i < n; ++i) {
    LANES for (int s = 0; s < kLanes; ++s) {
      const float v = x[i][s];
      lo[s] = v < lo[s] ? v : lo[s];
      hi[s] = v > hi[s] ? v : hi[s];
      sum_w[s] += w[i][s];
      sum_x[s] += w[i][s] * v;
    }
  }
  LANES for (int s = 0; s < kLanes; ++s) {
    x_min[s] = lo[s];
    lo[s] = select(lo[s] > 0, 0.0f, lo[s]);
    live[s] = hi[s] != lo[s];  // a flat group keeps scale 0 and codes 0, whatever its lane computes
    iscale[s] = fnmax / (hi[s] - lo[s]);
    scale[s] = 1 / iscale[s];
    code_iscale[s] = iscale[s];
    code_lo[s] = lo[s];
    best_error[s] = 0;
    in_range[s] = rounding_in_range(iscale[s] * (x_min[s] - lo[s])) & rounding_in_range(iscale[s] * (hi[s] - lo[s]));
  }
  for (int i = 0; i < n; ++i) {
    LANES for (int s = 0; s < kLanes; ++s) {
      const float l = clamped_code(iscale[s] * (x[i][s] - lo[s]), fnmax);
      const float diff = scale[s] * l + lo[s] - x[i][s];
      best_error[s] += w[i][s] * lane_error<kError>(diff);
    }
  }
  alignas(64) float trial[kMaxScaleMinGroup][kLanes];
  for (int step = 0; trials.steps >= 1 && step <= trials.steps; ++step) {
    const float numerator = trials.first + trials.step * static_cast<float>(step) + fnmax;
    alignas(64) float sum_l[kLanes] = {}, sum_l2[kLanes] = {}, sum_xl[kLanes] = {};
    LANES for (int s = 0; s < kLanes; ++s) {
      iscale[s] = numerator / (hi[s] - lo[s]);
      in_range[s] &= rounding_in_range(iscale[s] * (x_min[s] - lo[s])) &
                     rounding_in_range(iscale[s] * (hi[s] - lo[s]));
    }
    for (int i = 0; i < n; ++i) {
      LANES for (int s = 0; s < kLanes; ++s) {
        const float l = clamped_code(iscale[s] * (x[i][s] - lo[s]), fnmax);
        trial[i][s] = l;
        const float wl = w[i][s] * l;
        sum_l[s] += wl;
        sum_l2[s] += wl * l;
        sum_xl[s] += wl * x[i][s];
      }
    }
    alignas(64) float this_scale[kLanes], this_min[kLanes], cur_error[kLanes] = {};
    alignas(64) int fitted[kLanes];
    LANES for (int s = 0; s < kLanes; ++s) {
      const float det = sum_w[s] * sum_l2[s] - sum_l[s] * sum_l[s];
      const float fit_scale = (sum_w[s] * sum_xl[s] - sum_x[s] * sum_l[s]) / det;
      const float fit_min = (sum_l2[s] * sum_x[s] - sum_l[s] * sum_xl[s]) / det;
      const float scale_alone = sum_xl[s] / sum_l2[s];
      const int positive_min = fit_min > 0;
      this_scale[s] = select(positive_min, scale_alone, fit_scale);
      this_min[s] = select(positive_min, 0.0f, fit_min);
      fitted[s] = (det > 0) & live[s];
    }
    for (int i = 0; i < n; ++i) {
      LANES for (int s = 0; s < kLanes; ++s) {
        const float diff = this_scale[s] * trial[i][s] + this_min[s] - x[i][s];
        cur_error[s] += w[i][s] * lane_error<kError>(diff);
      }
    }
    LANES for (int s = 0; s < kLanes; ++s) {
      const int better = fitted[s] & (cur_error[s] < best_error[s]);
      best_error[s] = select(better, cur_error[s], best_error[s]);
      scale[s] = select(better, this_scale[s], scale[s]);
      code_iscale[s] = select(better, iscale[s], code_iscale[s]);
      code_lo[s] = select(better, lo[s], code_lo[s]);
      lo[s] = select(better, this_min[s], lo[s]);
    }
  }
  for (int i = 0; i < n; ++i) {
    LANES for (int s = 0; s < kLanes; ++s) {
      const float l = clamped_code(code_iscale[s] * (x[i][s] - code_lo[s]), fnmax);
      best[i][s] = select(live[s], l, 0.0f);
    }
  }
  for (int s = 0; s < kLanes; ++s) {
    fits[s] = {live[s] ? scale[s] : 0.0f, -lo[s]};
    in_range[s] |= !live[s];  // a flat group's result does not depend on its codes
  }
}

}  // namespace

void search_scale_and_min_groups(const float* x, const float* weights, int groups, int n, int nmax,
                                 std::uint8_t* codes, ScaleMinFit* fits, ScaleTrials trials, FitError error) {
  alignas(64) float xt[kMaxScaleMinGroup][kLanes], wt[kMaxScaleMinGroup][kLanes], best[kMaxScaleMinGroup][kLanes];
  ScaleMinFit lane_fits[kLanes];
  int in_range[kLanes];
  for (int first = 0; first < groups; first += kLanes) {
    const int count = std::min(kLanes, groups - first);
    // Lanes without a group get zeros: a flat group, whose result is dropped.
    for (int i = 0; i < n; ++i) {
      LANES for (int s = 0; s < kLanes; ++s) {
        const std::size_t at = static_cast<std::size_t>(first + s) * static_cast<std::size_t>(n) + i;
        xt[i][s] = s < count ? x[at] : 0.0f;
        wt[i][s] = s < count ? weights[at] : 0.0f;
      }
    }
    if (error == FitError::absolute) {
      search_lanes<FitError::absolute>(xt, wt, n, nmax, best, lane_fits, in_range, trials);
    } else {
      search_lanes<FitError::squared>(xt, wt, n, nmax, best, lane_fits, in_range, trials);
    }
    for (int s = 0; s < count; ++s) {
      const std::size_t at = static_cast<std::size_t>(first + s) * static_cast<std::size_t>(n);
      if (!in_range[s]) {  // weights so small that the inverse scale overflows: ggml's steps exactly
        fits[first + s] = search_scale_and_min(x + at, weights + at, n, nmax, codes + at, trials, error);
        continue;
      }
      fits[first + s] = lane_fits[s];
      for (int i = 0; i < n; ++i) codes[at + i] = static_cast<std::uint8_t>(best[i][s]);
    }
  }
}

float search_scale_of_positive_values(const float* v, const float* weights, int n, int nmax, std::uint8_t* codes) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = max > v[i] ? max : v[i];  // ggml's MAX, down to which zero it keeps
  if (max < 1e-15f) {  // all zero (ggml's GROUP_MAX_EPS)
    std::memset(codes, 0, static_cast<std::size_t>(n));
    return 0.0f;
  }
  const float fnmax = static_cast<float>(nmax);
  float iscale = fnmax / max;
  // Codes are bytes as in ggml: a negative value (never expected) wraps the same way there.
  for (int i = 0; i < n; ++i) codes[i] = static_cast<std::uint8_t>(nearest_int(iscale * v[i]));
  const float scale = 1 / iscale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i) {
    const float diff = v[i] - scale * static_cast<float>(codes[i]);
    best_mse += weights[i] * diff * diff;
  }
  for (int k = -4; k <= 4; ++k) {
    if (k == 0) continue;
    const float iscale_k = (0.1f * static_cast<float>(k) + fnmax) / max;
    const float scale_k = 1 / iscale_k;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::min(nmax, nearest_int(iscale_k * v[i]));
      const float diff = v[i] - scale_k * static_cast<float>(l);
      mse += weights[i] * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_k;
    }
  }
  float sum_lx = 0, sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::min(nmax, nearest_int(iscale * v[i]));
    codes[i] = static_cast<std::uint8_t>(l);
    const float w = weights[i], fl = static_cast<float>(l);
    sum_lx += w * v[i] * fl;
    sum_l2 += w * fl * fl;
  }
  // Move one code at a time to the best value for the current least-squares scale, keeping the move
  // when it raises (Σ w·v·l)² / Σ w·l², i.e. lowers the error of the least-squares fit.
  for (int pass = 0; pass < 5; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = weights[i], fc = static_cast<float>(codes[i]);
      float slx = sum_lx - w * v[i] * fc;
      float sl2 = sum_l2 - w * fc * fc;
      if (slx > 0 && sl2 > 0) {
        const int l = std::min(nmax, nearest_int(v[i] * sl2 / slx));
        if (l != codes[i]) {
          const float fl = static_cast<float>(l);
          slx += w * v[i] * fl;
          sl2 += w * fl * fl;
          if (slx * slx * sum_l2 > sum_lx * sum_lx * sl2) {
            codes[i] = static_cast<std::uint8_t>(l);
            sum_lx = slx;
            sum_l2 = sl2;
            ++changed;
          }
        }
      }
    }
    if (!changed) break;
  }
  return sum_l2 > 0.0f ? sum_lx / sum_l2 : 0.0f;
}

namespace {

// Round every weight of the super-block again with the stored (fp16, 6-bit) scale and min, so that
// the codes match what dequantization will multiply. A sub-block whose scale is 0 keeps the codes
// of its search.
void requantize_with_stored_scales(const float* x, int nmax, ScaleMinSuperBlock& out) {
  const float d_all = core::fp16_to_fp32(out.d), dmin_all = core::fp16_to_fp32(out.dmin);
  for (int j = 0; j < 8; ++j) {
    const ScaleMin sm = k_scale_min(out.scales, j);
    const float d = d_all * static_cast<float>(sm.scale);
    if (d == 0.0f) continue;
    const float dm = dmin_all * static_cast<float>(sm.min);
    for (int i = 0; i < 32; ++i) {
      out.codes[32 * j + i] = static_cast<std::uint8_t>(clamp_code(nearest_int((x[32 * j + i] + dm) / d), nmax));
    }
  }
}

}  // namespace

void quantize_scale_min_super_block(const float* x, int nmax, ScaleTrials trials, ScaleMinSuperBlock& out) {
  float scales[8], mins[8], weights[256];
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int i = 0; i < 32; ++i) sum_x2 += xs[i] * xs[i];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int i = 0; i < 32; ++i) weights[32 * j + i] = av_x + std::fabs(xs[i]);
  }
  ScaleMinFit fits[8];
  search_scale_and_min_groups(x, weights, 8, 32, nmax, out.codes, fits, trials, FitError::squared);
  // Scales are positive once the min is taken off.
  const auto [max_scale, max_min] = split_fits(fits, 8, scales, mins);
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  std::uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    // ggml narrows to a byte before clamping to 63; kept so that every input gives its bytes.
    ls[j] = std::min<std::uint8_t>(63, static_cast<std::uint8_t>(nearest_int(inv_scale * scales[j])));
    lm[j] = std::min<std::uint8_t>(63, static_cast<std::uint8_t>(nearest_int(inv_min * mins[j])));
  }
  pack_k_scale_min(out.scales, ls, lm);
  out.d = core::fp32_to_fp16(max_scale / 63.f);
  out.dmin = core::fp32_to_fp16(max_min / 63.f);
  requantize_with_stored_scales(x, nmax, out);
}

void quantize_scale_min_super_block_weighted(const float* x, const float* importance, int nmax, bool clamp_codes,
                                             ScaleMinSuperBlock& out) {
  constexpr ScaleTrials kTrials{-0.9f, 0.05f, 36};
  float sum_x2 = 0;
  for (int i = 0; i < 256; ++i) sum_x2 += x[i] * x[i];
  const float sigma2 = 2 * sum_x2 / 256;
  float scales[8], mins[8], sub_block_weight[8], weights[256];
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float* ws = weights + 32 * j;
    for (int i = 0; i < 32; ++i) ws[i] = importance[32 * j + i] * std::sqrt(sigma2 + xs[i] * xs[i]);
    float sum_w = 0;
    for (int i = 0; i < 32; ++i) sum_w += ws[i];
    sub_block_weight[j] = sum_w;
  }
  ScaleMinFit fits[8];
  search_scale_and_min_groups(x, weights, 8, 32, nmax, out.codes, fits, kTrials, FitError::squared);
  for (int j = 0; j < 8; ++j) {
    scales[j] = fits[j].scale;
    mins[j] = fits[j].min;
  }
  std::uint8_t ls[8], lm[8];
  const float d = search_scale_of_positive_values(scales, sub_block_weight, 8, 63, ls);
  const float dmin = search_scale_of_positive_values(mins, sub_block_weight, 8, 63, lm);
  if (clamp_codes) {
    for (int j = 0; j < 8; ++j) {
      ls[j] = std::min<std::uint8_t>(63, ls[j]);
      lm[j] = std::min<std::uint8_t>(63, lm[j]);
    }
  }
  pack_k_scale_min(out.scales, ls, lm);
  out.d = core::fp32_to_fp16(d);
  out.dmin = core::fp32_to_fp16(dmin);
  requantize_with_stored_scales(x, nmax, out);
}

}  // namespace qlinear::formats
