// The search of a K-quant or iq4 block's params (see search_kquant_block in kquant_codec.hpp).
//
// Three stages, all ranking by Σ w·(x − ŵ)² in float with the weights scaled to mean 1 (cheap and
// close), the final choice by the exact error in double:
// 1. Each sub-block alone: the best continuous scale (and min) over a wide grid, each candidate's
//    levels refitted by weighted least squares (w ≈ a·L − b).
// 2. The super-scale d over a grid around the largest sub-scale (both orientations for the signed
//    codes), dmin with the largest min on its end code (more dmin steps: 0.5 % better, 1.4× the
//    time); for each, every sub-block's integer code rounded from its continuous fit and its
//    neighbours tried, the sub-blocks being independent once d is fixed.
// 3. Alternating refits from the best of stage 2 and from ggml's own params: d (and dmin) by least
//    squares over the whole block for fixed levels and sub-codes; each sub-block's scale (and min)
//    by least squares for fixed levels, rounded, its integer neighbours tried; levels rounded again.
// ggml's unrefined result stays a candidate, so the result is never worse than it.

#include "methods/kquant_codec.hpp"

#include "core/half.hpp"
#include "formats/blocks.hpp"
#include "formats/iq4_search.hpp"
#include "formats/registry.hpp"
#include "formats/search_scale.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>


namespace qlinear::methods {
namespace {

using formats::kIq4nlValues;

constexpr std::size_t kMaxBlock = 256;
// Stage 1: the extreme put on t·(end level), t in [0.70, 1.20], this many steps per orientation.
constexpr int kSubSteps = 21;
constexpr int kSubRefits = 2;
// Stage 2: the largest sub-scale put on t·(end code), t in this list (19 steps in [0.70, 1.15]:
// under 0.5 % better on the real layers, for 2.7× this stage); the largest min on t·(end code).
constexpr float kSuperSteps[] = {0.80f, 0.85f, 0.90f, 0.95f, 1.00f, 1.05f, 1.10f};
constexpr float kMinSteps[] = {1.00f};
// Stage 3: rounds of alternating refits (each stops early when nothing improves).
constexpr int kRefineRounds = 4;

// An fp16 value and its float; beyond the f16 range, the largest finite half.
std::uint16_t to_half(float v) noexcept {
  std::uint16_t h = core::fp32_to_fp16(v);
  if ((h & 0x7c00u) == 0x7c00u) h = static_cast<std::uint16_t>((h & 0x8000u) | 0x7bffu);
  return h;
}

struct Levels {
  float lo, hi;  // the smallest and largest level value
};
Levels level_range(const KQuantLayout& l) noexcept {
  if (l.grid) return {static_cast<float>(kIq4nlValues[0]), static_cast<float>(kIq4nlValues[15])};
  return {static_cast<float>(-l.level_offset), static_cast<float>(l.code_max - l.level_offset)};
}

// For the grid: the index of the last grid value <= k, for every integer k in [−128, 127] (the
// grid values are integers, so it is also the last one <= any t in [k, k + 1)).
struct GridBelow {
  std::int8_t index[256];
  GridBelow() noexcept {
    for (int k = -128; k < 128; ++k) {
      int below = 0;
      for (int q = 0; q < 16; ++q) {
        if (kIq4nlValues[q] <= k) below = q;
      }
      index[k + 128] = static_cast<std::int8_t>(below);
    }
  }
};
const GridBelow kGridBelow;

// The level value nearest t (in level units), for ranking: plain rounding, no neighbour check.
template <bool Grid>
inline float fast_level(const Levels& r, float t) noexcept {
  if constexpr (Grid) {
    // Written so that NaN (0·∞ from the inverse of a subnormal scale) lands on a level too.
    t = t >= r.lo ? (t <= r.hi ? t : r.hi) : r.lo;
    const int q = kGridBelow.index[static_cast<int>(std::floor(t)) + 128];
    const float below = kIq4nlValues[q], above = kIq4nlValues[q < 15 ? q + 1 : 15];
    return t - below < above - t ? below : above;
  } else {
    return formats::clamped_nearest(std::clamp(t, r.lo - 1.0f, r.hi + 1.0f), r.lo, r.hi);
  }
}
inline float fast_level(const KQuantLayout& l, const Levels& r, float t) noexcept {
  return l.grid ? fast_level<true>(r, t) : fast_level<false>(r, t);
}

// Lanes of partial sums (n is a multiple of 8): the compiler can keep them in vector registers,
// which one running float sum (its order fixed without -ffast-math) does not allow.
constexpr std::size_t kLanes = 8;

template <bool Grid>
float fast_error_impl(const Levels& r, const float* x, const float* w, std::size_t n, float a, float b) noexcept {
  float lane[kLanes] = {};
  const float inv = 1.0f / a;
  for (std::size_t i = 0; i < n; i += kLanes) {
    for (std::size_t k = 0; k < kLanes; ++k) {
      const float v = a * fast_level<Grid>(r, (x[i + k] + b) * inv) - b;
      const float diff = x[i + k] - v;
      lane[k] += w[i + k] * diff * diff;
    }
  }
  float e = 0.0f;
  for (const float v : lane) e += v;
  return e;
}

float fast_error(const KQuantLayout& l, const Levels& r, const float* x, const float* w, std::size_t n, float a,
                 float b) noexcept {
  if (!(a != 0.0f) || !std::isfinite(a)) {
    float e = 0.0f;
    for (std::size_t i = 0; i < n; ++i) e += w[i] * (x[i] + b) * (x[i] + b);
    return e;
  }
  return l.grid ? fast_error_impl<true>(r, x, w, n, a, b) : fast_error_impl<false>(r, x, w, n, a, b);
}

// Weighted sums over one sub-block for least-squares fits of w ≈ a·L − b.
struct Sums {
  double w = 0, x = 0, xx = 0, l = 0, ll = 0, xl = 0;
};

template <bool Grid>
Sums level_sums_impl(const Levels& r, const float* x, const float* w, std::size_t n, float a, float b) noexcept {
  float sl[kLanes] = {}, sll[kLanes] = {}, sxl[kLanes] = {};
  const float inv = a != 0.0f ? 1.0f / a : 0.0f;
  for (std::size_t i = 0; i < n; i += kLanes) {
    for (std::size_t k = 0; k < kLanes; ++k) {
      const float level = fast_level<Grid>(r, (x[i + k] + b) * inv);
      const float wl = w[i + k] * level;
      sl[k] += wl, sll[k] += wl * level, sxl[k] += wl * x[i + k];
    }
  }
  Sums s;
  for (std::size_t k = 0; k < kLanes; ++k) s.l += sl[k], s.ll += sll[k], s.xl += sxl[k];
  return s;
}

// The sums that do not depend on the levels.
Sums base_sums(const float* x, const float* w, std::size_t n) noexcept {
  Sums s;
  for (std::size_t i = 0; i < n; ++i) s.w += w[i], s.x += w[i] * x[i], s.xx += double(w[i]) * x[i] * x[i];
  return s;
}

Sums level_sums(const KQuantLayout& l, const Levels& r, const Sums& base, const float* x, const float* w,
                std::size_t n, float a, float b) noexcept {
  Sums s = l.grid ? level_sums_impl<true>(r, x, w, n, a, b) : level_sums_impl<false>(r, x, w, n, a, b);
  s.w = base.w, s.x = base.x, s.xx = base.xx;
  return s;
}

struct Fit {
  float a = 0.0f, b = 0.0f;
  double predicted = std::numeric_limits<double>::infinity();
};

// Least squares for fixed levels: a alone, or a and b with b >= 0 when `nonnegative_min` (the
// stored mins are codes >= 0 times a positive dmin), else b free.
Fit least_squares(const Sums& s, bool with_min, bool nonnegative_min) noexcept {
  Fit f;
  if (with_min) {
    const double det = s.ll * s.w - s.l * s.l;
    if (det > 0.0) {
      const double a = (s.xl * s.w - s.l * s.x) / det, c = (s.ll * s.x - s.l * s.xl) / det;  // w ≈ a·L + c
      if (!(nonnegative_min && c > 0.0)) {
        f.a = static_cast<float>(a), f.b = static_cast<float>(-c);
        f.predicted = s.xx - a * s.xl - c * s.x;
        return f;
      }
    }
  }
  if (!(s.ll > 0.0)) return f;
  f.a = static_cast<float>(s.xl / s.ll);
  f.predicted = s.xx - s.xl * s.xl / s.ll;
  return f;
}

// Stage 1 for one sub-block of n values.
Fit fit_sub_block(const KQuantLayout& l, const Levels& r, const float* x, const float* w, std::size_t n) noexcept {
  float lo = x[0], hi = x[0], extreme = x[0];
  for (std::size_t i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]), hi = std::max(hi, x[i]);
    if (std::fabs(x[i]) > std::fabs(extreme)) extreme = x[i];
  }
  Fit best;
  const Sums base = base_sums(x, w, n);
  const auto consider = [&](float a0, float b0) {
    if (!(a0 != 0.0f) || !std::isfinite(a0)) return;
    const Fit f = least_squares(level_sums(l, r, base, x, w, n, a0, b0), l.has_min, true);
    if (f.predicted < best.predicted) best = f;
  };
  if (!l.has_min) {
    if (extreme == 0.0f) return {0.0f, 0.0f, 0.0};
    for (const float end : {r.lo, r.hi}) {
      for (int k = 0; k < kSubSteps; ++k) {
        const float t = 0.70f + 0.50f * static_cast<float>(k) / (kSubSteps - 1);
        consider(extreme / (end * t), 0.0f);
      }
    }
  } else {
    if (hi == lo) return {0.0f, std::max(0.0f, -lo), 0.0};
    const float floor = std::min(lo, 0.0f);  // ggml's start: the min at the smallest value or 0
    consider((hi - floor) / r.hi, -floor);
    for (const float anchor : {0.0f, 0.5f, 1.0f}) {
      for (int k = 0; k < kSubSteps; ++k) {
        const float t = 0.70f + 0.50f * static_cast<float>(k) / (kSubSteps - 1);
        const float a0 = (hi - lo) / (t * r.hi);
        const float lowest = lo + anchor * ((hi - lo) - a0 * r.hi);  // the value of level 0
        consider(a0, -std::min(lowest, 0.0f));
      }
    }
  }
  for (int k = 0; k < kSubRefits; ++k) {
    const Fit before = best;
    consider(best.a, best.b);
    if (!(best.predicted < before.predicted)) break;
  }
  if (!std::isfinite(best.predicted)) best = {0.0f, 0.0f, 0.0};
  return best;
}

template <std::size_t S>
struct Work {
  const KQuantLayout& l;
  Levels r;
  const float* x;
  const float* w;  // mean 1
  float sub_error(const KQuantParams<S>& p, std::size_t j) const noexcept {
    return fast_error(l, r, x + j * l.sub, w + j * l.sub, l.sub, p.a[j], p.b[j]);
  }
  float total(const KQuantParams<S>& p, float* per_sub) const noexcept {
    float e = 0.0f;
    for (std::size_t j = 0; j < S; ++j) e += per_sub[j] = sub_error(p, j);
    return e;
  }
  int clamp_s(double v) const noexcept {
    return static_cast<int>(std::clamp(std::nearbyint(v), static_cast<double>(l.smin), static_cast<double>(l.smax)));
  }
  int clamp_m(double v) const noexcept {
    return static_cast<int>(std::clamp(std::nearbyint(v), 0.0, static_cast<double>(l.mmax)));
  }
  // Sub-block j's best integer codes near (s0, m0) under the fixed d, dmin: s0 and its neighbours,
  // then the min's neighbours for the best s. Updates p and err when better.
  void best_codes_near(KQuantParams<S>& p, std::size_t j, int s0, int m0, float& err) const noexcept {
    const float d = core::fp16_to_fp32(p.d16), dmin = core::fp16_to_fp32(p.dmin16);
    const auto trial = [&](int s, int m) {
      if (s < l.smin || s > l.smax || m < 0 || m > (l.has_min ? l.mmax : 0)) return;
      const float a = d * static_cast<float>(s), b = l.has_min ? dmin * static_cast<float>(m) : 0.0f;
      const float e = fast_error(l, r, x + j * l.sub, w + j * l.sub, l.sub, a, b);
      if (e < err) {
        err = e, p.s[j] = static_cast<std::int8_t>(s), p.m[j] = static_cast<std::uint8_t>(m), p.a[j] = a, p.b[j] = b;
      }
    };
    trial(s0, m0);
    for (const int ds : {-1, 1}) trial(s0 + ds, m0);
    if (l.has_min) {
      const int s = p.s[j];
      for (const int dm : {-1, 1}) trial(s, p.m[j] + dm);
    }
  }
};

// Stage 2: the super-scales over a grid, each with its best integer sub-codes.
template <std::size_t S>
KQuantParams<S> quantize_fits(const Work<S>& k, const Fit* fits) {
  const KQuantLayout& l = k.l;
  float amax = 0.0f, a_extreme = 0.0f, bmax = 0.0f;
  for (std::size_t j = 0; j < S; ++j) {
    if (std::fabs(fits[j].a) > amax) amax = std::fabs(fits[j].a), a_extreme = fits[j].a;
    bmax = std::max(bmax, fits[j].b);
  }
  KQuantParams<S> best;
  set_sub_values(l, best);
  float errors[S];
  float best_error = k.total(best, errors);
  if (amax == 0.0f && bmax == 0.0f) return best;
  float d_candidates[2 * std::size(kSuperSteps)];
  std::size_t nd = 0;
  for (const int end : {l.smin, l.smax}) {
    if (end == 0 || (end == l.smax && l.smin == l.smax)) continue;
    for (const float t : kSuperSteps) d_candidates[nd++] = a_extreme / (static_cast<float>(end) * t);
  }
  float m_candidates[std::size(kMinSteps)];
  std::size_t nm = 0;
  if (l.has_min && bmax > 0.0f) {
    for (const float t : kMinSteps) m_candidates[nm++] = bmax / (static_cast<float>(l.mmax) * t);
  } else {
    m_candidates[nm++] = 0.0f;
  }
  for (std::size_t id = 0; id < nd; ++id) {
    for (std::size_t im = 0; im < nm; ++im) {
      KQuantParams<S> p;
      p.d16 = to_half(d_candidates[id]);
      p.dmin16 = to_half(m_candidates[im]);
      const float d = core::fp16_to_fp32(p.d16), dmin = core::fp16_to_fp32(p.dmin16);
      if (d == 0.0f) continue;
      float total = 0.0f;
      for (std::size_t j = 0; j < S && total < best_error; ++j) {
        float e = std::numeric_limits<float>::infinity();
        const int s0 = k.clamp_s(fits[j].a / d);
        const int m0 = (l.has_min && dmin != 0.0f) ? k.clamp_m(fits[j].b / dmin) : 0;
        k.best_codes_near(p, j, s0, m0, e);
        total += e;
      }
      if (total < best_error) best_error = total, best = p;
    }
  }
  return best;
}

// Stage 3: alternating least-squares refits, accepting only what lowers the (float) error.
template <std::size_t S>
void refine(const Work<S>& k, KQuantParams<S>& p) {
  const KQuantLayout& l = k.l;
  float errors[S];
  float total = k.total(p, errors);
  for (int round = 0; round < kRefineRounds; ++round) {
    bool changed = false;
    // d (and dmin) for the fixed levels and sub-codes: w ≈ d·(s_j·L) − dmin·m_j.
    double uu = 0, ux = 0, uc = 0, cc = 0, cx = 0;
    for (std::size_t j = 0; j < S; ++j) {
      const float inv = p.a[j] != 0.0f ? 1.0f / p.a[j] : 0.0f;
      const double s = p.s[j], c = p.m[j];
      for (std::size_t i = j * l.sub; i < (j + 1) * l.sub; ++i) {
        const double u = s * fast_level(l, k.r, (k.x[i] + p.b[j]) * inv), wi = k.w[i], xi = k.x[i];
        uu += wi * u * u, ux += wi * u * k.x[i], uc += wi * u * c, cc += wi * c * c, cx += wi * c * xi;
      }
    }
    KQuantParams<S> trial = p;
    bool fitted = false;
    if (l.has_min && cc > 0.0) {
      const double det = uu * cc - uc * uc;  // w ≈ d·u − e·c
      if (det > 0.0) {
        trial.d16 = to_half(static_cast<float>((ux * cc - uc * cx) / det));
        trial.dmin16 = to_half(static_cast<float>((ux * uc - uu * cx) / det));
        fitted = true;
      }
    } else if (uu > 0.0) {
      trial.d16 = to_half(static_cast<float>(ux / uu));
      fitted = true;
    }
    if (fitted && (trial.d16 != p.d16 || trial.dmin16 != p.dmin16)) {
      set_sub_values(l, trial);
      float trial_errors[S];
      const float e = k.total(trial, trial_errors);
      if (e < total) {
        p = trial, total = e, changed = true;
        std::copy(trial_errors, trial_errors + S, errors);
      }
    }
    // Each sub-block's codes for the fixed d, dmin.
    const float d = core::fp16_to_fp32(p.d16), dmin = core::fp16_to_fp32(p.dmin16);
    if (d != 0.0f && std::isfinite(d)) {
      for (std::size_t j = 0; j < S; ++j) {
        const std::size_t at = j * l.sub;
        const Fit f = least_squares(level_sums(l, k.r, base_sums(k.x + at, k.w + at, l.sub), k.x + at, k.w + at,
                                               l.sub, p.a[j], p.b[j]),
                                    l.has_min,
                                    !(dmin < 0.0f));
        const int s0 = k.clamp_s(f.a / d);
        const int m0 = (l.has_min && dmin != 0.0f) ? k.clamp_m(f.b / dmin) : p.m[j];
        const float before = errors[j];
        k.best_codes_near(p, j, s0, m0, errors[j]);
        if (errors[j] < before) changed = true;
      }
      total = 0.0f;
      for (std::size_t j = 0; j < S; ++j) total += errors[j];
    }
    if (!changed) break;
  }
}


// The search's weights: the importance scaled to mean 1 (float, for ranking), and whether it is
// all zero (then uniform).
struct Weights {
  float w[kMaxBlock];
  bool uniform;
};
Weights mean_one_weights(const float* importance, std::size_t n) noexcept {
  Weights r;
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) sum += importance[i];
  r.uniform = !(sum > 0.0);
  const double mean = sum / static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i) r.w[i] = r.uniform ? 1.0f : static_cast<float>(importance[i] / mean);
  return r;
}

// The search's three finalists, least exact error first (ties in the order: searched, ggml's
// refined, ggml's own).
template <std::size_t S>
struct Finalists {
  KQuantParams<S> params[3];
};

template <std::size_t S>
Finalists<S> search_finalists(const KQuantLayout& l, const float* x, const float* importance) {
  const std::size_t n = l.block;
  const Weights weights = mean_one_weights(importance, n);
  const Work<S> k{l, level_range(l), x, weights.w};

  Fit fits[S];
  for (std::size_t j = 0; j < S; ++j) fits[j] = fit_sub_block(l, k.r, x + j * l.sub, k.w + j * l.sub, l.sub);
  Finalists<S> f;
  f.params[0] = quantize_fits(k, fits);
  refine(k, f.params[0]);

  // ggml's weighted quantizer on the same block with the same importance: as quantize() with
  // importance gives it (a padded row's zeros included).
  std::byte bytes[sizeof(formats::block_q6_K)];
  formats::traits(l.format).quantize_row_weighted_ref(x, bytes, n, importance);
  f.params[2] = decode_kquant_params<S>(l, bytes);
  f.params[1] = f.params[2];
  refine(k, f.params[1]);

  const float* exact_weights = weights.uniform ? nullptr : importance;
  double error[3];
  for (int i = 0; i < 3; ++i) error[i] = kquant_block_error(l, f.params[i], x, exact_weights);
  // A stable sort of three by error (NaN, from degenerate ggml params, last).
  const auto before = [&](int a, int b) {
    return error[a] < error[b] || (!std::isnan(error[a]) && std::isnan(error[b]));
  };
  int order[3] = {0, 1, 2};
  for (int i = 1; i < 3; ++i) {
    for (int j = i; j > 0 && before(order[j], order[j - 1]); --j) std::swap(order[j], order[j - 1]);
  }
  const Finalists<S> unsorted = f;
  for (int i = 0; i < 3; ++i) f.params[i] = unsorted.params[order[i]];
  return f;
}

}  // namespace

template <std::size_t S>
KQuantParams<S> search_kquant_block(const KQuantLayout& l, const float* x, const float* importance) {
  return search_finalists<S>(l, x, importance).params[0];
}

template <std::size_t S>
typename KQuantGroupCodec<S>::Params KQuantGroupCodec<S>::choose(const float* x, const float* importance,
                                                                 std::size_t n) const {
  float xb[kMaxBlock] = {}, ib[kMaxBlock] = {};
  std::copy(x, x + n, xb);
  std::copy(importance, importance + n, ib);
  return search_kquant_block<S>(layout, xb, ib);
}

template <std::size_t S>
typename KQuantGroupCodec<S>::Params KQuantGroupCodec<S>::choose_compensated(const float* x, const float* importance,
                                                                             std::size_t n, const float* u,
                                                                             std::size_t ld) const {
  const std::size_t block = layout.block;
  // A block cut short by the row's end: its padding columns (zero, of zero importance) have no rows
  // of U and are never compensated; the n real ones are simulated.
  float xb[kMaxBlock] = {}, ib[kMaxBlock] = {};
  std::copy(x, x + n, xb);
  std::copy(importance, importance + n, ib);
  // GPTQ's loss of params p, and the weights as each column will be when it is rounded.
  int codes[kMaxBlock] = {}, trial_codes[kMaxBlock] = {};
  const auto simulate = [&](const Params& p, float* y, int* q) {
    std::copy(xb, xb + block, y);
    double loss = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      q[i] = nearest(p, i, y[i]);
      const float error = (y[i] - value(p, i, q[i])) / u[i * ld + i];
      loss += static_cast<double>(error) * error;
      const float* row = u + i * ld;
      for (std::size_t m = i + 1; m < n; ++m) y[m] -= error * row[m];
    }
    return loss;
  };
  const Finalists<S> finalists = search_finalists<S>(layout, xb, ib);
  Params best = finalists.params[0];
  float seen[kMaxBlock], trial_seen[kMaxBlock];
  double best_loss = simulate(best, seen, codes);
  // Nothing compensated inside the block (no off-diagonal terms in u): the search's choice stands.
  if (std::equal(seen, seen + block, xb)) return best;
  for (int i = 1; i < 3; ++i) {
    const double loss = simulate(finalists.params[i], trial_seen, trial_codes);
    if (loss < best_loss) {
      best_loss = loss, best = finalists.params[i];
      std::copy_n(trial_seen, block, seen), std::copy_n(trial_codes, n, codes);
    }
  }
  // The params refined on the weights as the compensation makes them, while that lowers the loss.
  const Weights weights = mean_one_weights(ib, block);
  for (int k = 0; k < kRechoices; ++k) {
    const Work<S> work{layout, level_range(layout), seen, weights.w};
    Params next = best;
    refine(work, next);
    const double loss = simulate(next, trial_seen, trial_codes);
    if (!(loss < best_loss)) break;
    best = next, best_loss = loss;
    std::copy_n(trial_seen, block, seen), std::copy_n(trial_codes, n, codes);
  }
  refit_on_gptq_loss<S>(layout, xb, n, u, ld, kLossRefits, best, best_loss, codes);
  return best;
}

template KQuantParams<1> search_kquant_block<1>(const KQuantLayout&, const float*, const float*);
template KQuantParams<8> search_kquant_block<8>(const KQuantLayout&, const float*, const float*);
template KQuantParams<16> search_kquant_block<16>(const KQuantLayout&, const float*, const float*);
template struct KQuantGroupCodec<1>;
template struct KQuantGroupCodec<8>;
template struct KQuantGroupCodec<16>;

}  // namespace qlinear::methods
