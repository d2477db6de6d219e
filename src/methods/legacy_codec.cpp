// Scale search and block encoding for q4_0, q4_1, q5_0, q5_1 and q8_0 (see legacy_codec.hpp).

#include "methods/legacy_codec.hpp"

#include "core/half.hpp"
#include "formats/blocks.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace qlinear::methods {
namespace {

using formats::kBlock32;

// Candidate scales per orientation. The largest |x| is put on level t·s (s the end level of that
// orientation): t < 1 widens the grid (no clipping, coarser), t > 1 clips the extremes for a finer
// grid. ggml's weighted q4_0 tries t in [0.89, 1.11] in one orientation (19 steps); this covers
// [0.70, 1.20] in both, every 0.025 of the end level (0.2 of a level for q4_0).
constexpr int kSteps = 21;
constexpr float kLow = 0.70f, kHigh = 1.20f;
// Rounds of "levels under the rounded params → least-squares params → fp16" after the grid.
constexpr int kRefineRounds = 4;

struct Sums {  // weighted sums over one block for the least-squares fits
  double w = 0, x = 0, xx = 0, q = 0, qq = 0, xq = 0;
};

double exact_error(const LegacyCodec& c, const LegacyParams& p, const float* x, const float* w, std::size_t n) {
  double e = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double diff = static_cast<double>(x[i]) - level_value(c, p, nearest_level(c, p, x[i]));
    e += static_cast<double>(w[i]) * diff * diff;
  }
  return e;
}

// The parts of the sums that do not depend on the levels.
Sums block_sums(const float* x, const float* w, std::size_t n) {
  Sums s;
  for (std::size_t i = 0; i < n; ++i) {
    const double wi = w[i], xi = x[i];
    s.w += wi, s.x += wi * xi, s.xx += wi * xi * xi;
  }
  return s;
}

// The levels that params give, summed for a least-squares refit. Float sums of 32 terms in a loop
// the compiler vectorizes: they only rank candidates and seed a fit that is then checked exactly.
Sums level_sums(const LegacyCodec& c, const LegacyParams& p, const Sums& base, const float* x, const float* w,
                std::size_t n) {
  float q1 = 0.0f, q2 = 0.0f, xq = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    const float q = static_cast<float>(nearest_level(c, p, x[i]));
    const float wq = w[i] * q;
    q1 += wq, q2 += wq * q, xq += wq * x[i];
  }
  Sums s = base;
  s.q = q1, s.qq = q2, s.xq = xq;
  return s;
}

// nearest_level's level as a float, written for loops over many params at once: clamping before
// rounding to the nearest integer equals clamping after (the bounds are integers), and the float
// operations vectorize (SSE2 has no 32-bit integer min/max). Bit for bit nearest_level's result.
inline float nearest_level_lane(float x, float m, float inv_d, float lo, float hi) noexcept {
  float t = (x - m) * inv_d;  // m = 0 without a minimum: x − 0 is x
  t = t < lo ? lo : t;
  t = t > hi ? hi : t;
  return (t + 12582912.0f) - 12582912.0f;  // round to nearest, ties to even
}

// level_sums for `count` params at once (lanes), each lane summed in the same order as
// level_sums, so the results are the same floats.
constexpr std::size_t kMaxTrials = 64;
void level_sums_lanes(const LegacyCodec& c, const LegacyParams* p, std::size_t count, const Sums& base,
                      const float* x, const float* w, std::size_t n, Sums* out) {
  float m[kMaxTrials], inv[kMaxTrials], q1[kMaxTrials] = {}, q2[kMaxTrials] = {}, xq[kMaxTrials] = {};
  for (std::size_t k = 0; k < count; ++k) m[k] = c.has_min ? p[k].m : 0.0f, inv[k] = p[k].inv_d;
  const float lo = static_cast<float>(c.qmin), hi = static_cast<float>(c.qmax);
  for (std::size_t i = 0; i < n; ++i) {
    const float xi = x[i], wi = w[i];
    for (std::size_t k = 0; k < count; ++k) {
      const float q = nearest_level_lane(xi, m[k], inv[k], lo, hi);
      const float wq = wi * q;
      q1[k] += wq, q2[k] += wq * q, xq[k] += wq * xi;
    }
  }
  for (std::size_t k = 0; k < count; ++k) out[k] = base, out[k].q = q1[k], out[k].qq = q2[k], out[k].xq = xq[k];
}

// A value as the fp16 field stores it; beyond the f16 range, the largest finite half (storing Inf
// would break the block), the closest valid one.
std::uint16_t to_half(float v) noexcept {
  std::uint16_t h = core::fp32_to_fp16(v);
  if ((h & 0x7c00u) == 0x7c00u) h = static_cast<std::uint16_t>((h & 0x8000u) | 0x7bffu);
  return h;
}

// exact_error for `count` params at once (lanes), each lane summed in exact_error's order: the
// same doubles.
void exact_errors_lanes(const LegacyCodec& c, const LegacyParams* p, std::size_t count, const float* x,
                        const float* w, std::size_t n, double* out) {
  float d[kMaxTrials], m[kMaxTrials], inv[kMaxTrials];
  double e[kMaxTrials] = {};
  for (std::size_t k = 0; k < count; ++k) d[k] = p[k].d, m[k] = c.has_min ? p[k].m : 0.0f, inv[k] = p[k].inv_d;
  const float lo = static_cast<float>(c.qmin), hi = static_cast<float>(c.qmax);
  for (std::size_t i = 0; i < n; ++i) {
    const float xi = x[i];
    const double wi = w[i];
    for (std::size_t k = 0; k < count; ++k) {
      // level_value: q·d, or q·d + m (+ 0 changes only the sign of a zero, which x − value ignores).
      const float value = nearest_level_lane(xi, m[k], inv[k], lo, hi) * d[k] + m[k];
      const double diff = static_cast<double>(xi) - value;
      e[k] += wi * diff * diff;
    }
  }
  std::copy(e, e + count, out);
}

// Least-squares d and m for fixed levels: d alone (no minimum), or d then m given the fp16 d
// (make_params of them gives the params). With `predicted`, the squared error of the unrounded
// least-squares params, a cheap ranking of candidates. False (and nothing set) when the levels
// do not determine them.
bool refit_values(const LegacyCodec& c, const Sums& s, float& d_out, float& m_out, double* predicted = nullptr) {
  if (predicted) *predicted = std::numeric_limits<double>::infinity();
  if (!c.has_min) {
    if (s.qq <= 0.0) return false;
    if (predicted) *predicted = s.xx - s.xq * s.xq / s.qq;
    d_out = static_cast<float>(s.xq / s.qq), m_out = 0.0f;
    return true;
  }
  const double det = s.w * s.qq - s.q * s.q;
  if (!(det > 0.0)) return false;
  const double d = (s.w * s.xq - s.q * s.x) / det;
  if (predicted) *predicted = s.xx - d * s.xq - ((s.qq * s.x - s.q * s.xq) / det) * s.x;
  // m refitted for the rounded d, so that the rounding of d is partly absorbed by m.
  d_out = core::fp16_to_fp32(to_half(static_cast<float>(d)));
  m_out = static_cast<float>((s.x - static_cast<double>(d_out) * s.q) / s.w);
  return true;
}

LegacyParams refit(const LegacyCodec& c, const Sums& s, const LegacyParams& fallback) {
  float d, m;
  return refit_values(c, s, d, m) ? make_params(d, m) : fallback;
}

// The grid's candidates, ranked by their predicted error; only the best few are checked exactly
// (after fp16 rounding), which halves the passes over the block.
struct Ranked {
  float d, m;  // make_params(d, m) gives the params
  double predicted;
};

}  // namespace

std::optional<LegacyCodec> legacy_codec(Format format) noexcept {
  switch (format) {
    case Format::q4_0: return LegacyCodec{format, -8, 7, false, sizeof(formats::block_q4_0)};
    case Format::q4_1: return LegacyCodec{format, 0, 15, true, sizeof(formats::block_q4_1)};
    case Format::q5_0: return LegacyCodec{format, -16, 15, false, sizeof(formats::block_q5_0)};
    case Format::q5_1: return LegacyCodec{format, 0, 31, true, sizeof(formats::block_q5_1)};
    // -128 fits the byte but not the integer kernels' sign trick (|−128| overflows an int8).
    case Format::q8_0: return LegacyCodec{format, -127, 127, false, sizeof(formats::block_q8_0)};
    default: return std::nullopt;
  }
}

LegacyParams make_params(float d, float m) noexcept {
  LegacyParams p;
  p.d16 = to_half(d);
  p.m16 = to_half(m);
  p.d = core::fp16_to_fp32(p.d16);
  p.m = core::fp16_to_fp32(p.m16);
  p.inv_d = p.d != 0.0f ? 1.0f / p.d : 0.0f;
  return p;
}

LegacyParams search_block(const LegacyCodec& c, const float* x, const float* importance, std::size_t n,
                          std::vector<ScoredParams>* tried, std::size_t checked) {
  float w[kBlock32];
  double total = 0.0;
  for (std::size_t i = 0; i < n; ++i) total += importance[i];
  // Weights of mean 1: only their ratios matter, and importance of any overall size (a mean x²,
  // a sum, a GPTQ weight) then gives the same float arithmetic for proportional inputs.
  const double mean = total / static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i) w[i] = total > 0.0 ? static_cast<float>(importance[i] / mean) : 1.0f;

  float lo = x[0], hi = x[0], signed_max = x[0];
  for (std::size_t i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    if (std::fabs(x[i]) > std::fabs(signed_max)) signed_max = x[i];
  }

  const Sums base = block_sums(x, w, n);
  const auto scored = [&](const LegacyParams& p, const float* xs, const float* ws, std::size_t count) {
    const double e = exact_error(c, p, xs, ws, count);
    if (tried) tried->push_back({p, e});
    return e;
  };
  LegacyParams best;
  double best_error;
  Ranked grid[3 * kSteps];
  LegacyParams trials[3 * kSteps];
  std::size_t count = 0;
  // The grid: each candidate's levels, refitted by least squares before it is compared.
  if (!c.has_min) {
    if (signed_max == 0.0f) return make_params(0.0f, 0.0f);
    // ggml's reference rule competes too: the max on the negative end level (q8_0: amax/127).
    best = make_params(c.qmin == -c.qmax ? std::fabs(signed_max) / static_cast<float>(c.qmax)
                                         : signed_max / static_cast<float>(c.qmin),
                       0.0f);
    best_error = scored(best, x, w, n);
    for (const int end : {c.qmin, c.qmax}) {
      if (end == c.qmax && c.qmin == -c.qmax) break;  // symmetric levels: one orientation is enough
      for (int k = 0; k < kSteps; ++k) {
        const float t = static_cast<float>(end) * (kLow + (kHigh - kLow) * static_cast<float>(k) / (kSteps - 1));
        trials[count++] = make_params(signed_max / t, 0.0f);
      }
    }
  } else {
    if (hi == lo) return make_params(0.0f, lo);
    best = make_params((hi - lo) / static_cast<float>(c.qmax), lo);  // ggml's reference rule
    best_error = scored(best, x, w, n);
    // The range [lo, hi] on t·qmax levels, its lowest level at lo, at hi or the grid centred on
    // the range: t > 1 clips the other end (or both), t < 1 leaves levels unused before the refit.
    for (const float anchor : {0.0f, 0.5f, 1.0f}) {
      for (int k = 0; k < kSteps; ++k) {
        const float t = kLow + (kHigh - kLow) * static_cast<float>(k) / (kSteps - 1);
        const float d = (hi - lo) / (t * static_cast<float>(c.qmax));
        const float span = d * static_cast<float>(c.qmax);
        const float m = lo + anchor * ((hi - lo) - span);
        trials[count++] = make_params(d, m);
      }
    }
  }
  Sums sums[3 * kSteps];
  level_sums_lanes(c, trials, count, base, x, w, n, sums);
  for (std::size_t k = 0; k < count; ++k) {
    if (!refit_values(c, sums[k], grid[k].d, grid[k].m, &grid[k].predicted)) grid[k].d = trials[k].d, grid[k].m = trials[k].m;
  }
  // The best predicted, checked exactly in grid order (so the result does not depend on sorting).
  std::size_t order[3 * kSteps];
  for (std::size_t i = 0; i < count; ++i) order[i] = i;
  checked = std::min(checked, count);
  std::partial_sort(order, order + checked, order + count, [&](std::size_t a, std::size_t b) {
    return grid[a].predicted < grid[b].predicted || (grid[a].predicted == grid[b].predicted && a < b);
  });
  std::sort(order, order + checked);
  LegacyParams exact[3 * kSteps];
  double errors[3 * kSteps];
  for (std::size_t i = 0; i < checked; ++i) exact[i] = make_params(grid[order[i]].d, grid[order[i]].m);
  exact_errors_lanes(c, exact, checked, x, w, n, errors);
  for (std::size_t i = 0; i < checked; ++i) {
    if (tried) tried->push_back({exact[i], errors[i]});
    if (errors[i] < best_error) best_error = errors[i], best = exact[i];
  }
  for (int round = 0; round < kRefineRounds; ++round) {
    const LegacyParams next = refit(c, level_sums(c, best, base, x, w, n), best);
    const double e = scored(next, x, w, n);
    if (!(e < best_error)) break;
    best_error = e, best = next;
  }
  // The neighbouring fp16 scales: rounding the least-squares d may have crossed the optimum.
  if ((best.d16 & 0x7fffu) != 0) {
    const LegacyParams centre = best;
    for (const int step : {-1, 1}) {
      const float d = core::fp16_to_fp32(static_cast<std::uint16_t>(centre.d16 + step));
      LegacyParams near = make_params(d, centre.m);
      if (c.has_min) {  // m refitted for this d
        const Sums s = level_sums(c, near, base, x, w, n);
        if (s.w > 0.0) near = make_params(d, static_cast<float>((s.x - static_cast<double>(near.d) * s.q) / s.w));
      }
      const double e = scored(near, x, w, n);
      if (e < best_error) best_error = e, best = near;
    }
  }
  return best;
}

namespace {

// GPTQ's column-by-column rounding of one block under fixed params: each column rounded to the
// nearest level of the weights as compensated so far, its error spread over the later columns
// through u. Returns Σ g_i·(y_i − value_i)², stopping once it reaches `bound`; q receives the levels.
double simulate(const LegacyCodec& c, const LegacyParams& p, const float* x, std::size_t n, const float* u,
                std::size_t ld, const double* g, double bound, int* q) {
  float y[kBlock32];
  std::copy(x, x + n, y);
  double loss = 0.0;
  for (std::size_t i = 0; i < n && loss < bound; ++i) {
    q[i] = nearest_level(c, p, y[i]);
    const float value = level_value(c, p, q[i]);
    const double diff = static_cast<double>(y[i]) - value;  // as exact_error computes it
    loss += g[i] * diff * diff;
    const float spread = (y[i] - value) / u[i * ld + i];
    const float* row = u + i * ld;
    for (std::size_t m = i + 1; m < n; ++m) y[m] -= spread * row[m];
  }
  return loss;
}

// Four floats in one vector register (GCC/Clang vector extension: SSE2 on x86-64, NEON on Arm):
// the lane loops below are the hot ones, and the compiler does not vectorize them on its own.
using Float4 = float __attribute__((vector_size(16)));

// simulate() for up to kLanes params at once (lanes), without stopping early: the same float
// operations per lane, so the same losses and levels. loss[k] for the k-th params, levels[i][k] its
// level of column i. Four lanes: one SSE2 vector of floats.
constexpr std::size_t kLanes = 4;
void simulate_lanes(const LegacyCodec& c, const LegacyParams* p, std::size_t count, const float* x, std::size_t n,
                    const float* u, std::size_t ld, const double* g, double* loss, float (*levels)[kLanes]) {
  float d[kLanes], m[kLanes], inv[kLanes];
  Float4 y[kBlock32];
  double l[kLanes] = {};
  for (std::size_t k = 0; k < kLanes; ++k) {
    const LegacyParams& pk = p[k < count ? k : 0];  // spare lanes repeat the first params
    d[k] = pk.d, m[k] = c.has_min ? pk.m : 0.0f, inv[k] = pk.inv_d;
  }
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < kLanes; ++k) y[i][k] = x[i];
  }
  const float lo = static_cast<float>(c.qmin), hi = static_cast<float>(c.qmax);
  for (std::size_t i = 0; i < n; ++i) {
    const float uii = u[i * ld + i];
    const double gi = g[i];
    float spread[kLanes];
    for (std::size_t k = 0; k < kLanes; ++k) {
      // level_value: q·d, or q·d + m (+ 0 changes only the sign of a zero, which the difference
      // below does not see).
      const float level = nearest_level_lane(y[i][k], m[k], inv[k], lo, hi);
      levels[i][k] = level;
      const float value = level * d[k] + m[k];
      const double diff = static_cast<double>(y[i][k]) - value;
      l[k] += gi * diff * diff;
      spread[k] = (y[i][k] - value) / uii;
    }
    const Float4 s4 = {spread[0], spread[1], spread[2], spread[3]};
    const float* row = u + i * ld;
    for (std::size_t j = i + 1; j < n; ++j) y[j] -= s4 * row[j];
  }
  for (std::size_t k = 0; k < count; ++k) loss[k] = l[k];
}

// z = U⁻ᵀ·v (forward substitution with the block's factor) for the weights, ones and levels at
// once, one lane each (float: the results only propose params, which are then checked exactly):
// x − value = Uᵀ·e, so the scaled errors e of fixed levels are linear in the params,
// e = U⁻ᵀx − d·U⁻ᵀq − m·U⁻ᵀ1. Sums of the products the least-squares fit needs, in double.
struct SolvedSums {
  double qq = 0, xq = 0, q1 = 0, x1 = 0, s11 = 0;
};
SolvedSums solve_transposed(const float* u, std::size_t ld, std::size_t n, const float* x, const int* q) {
  Float4 v[kBlock32];
  for (std::size_t i = 0; i < n; ++i) v[i] = Float4{x[i], 1.0f, static_cast<float>(q[i]), 0.0f};
  for (std::size_t i = 0; i < n; ++i) {
    v[i] /= u[i * ld + i];
    const Float4 vi = v[i];
    const float* row = u + i * ld;
    for (std::size_t m = i + 1; m < n; ++m) v[m] -= vi * row[m];
  }
  SolvedSums s;
  for (std::size_t i = 0; i < n; ++i) {
    const double zx = v[i][0], z1 = v[i][1], zq = v[i][2];
    s.qq += zq * zq, s.xq += zx * zq, s.q1 += zq * z1, s.x1 += zx * z1, s.s11 += z1 * z1;
  }
  return s;
}

}  // namespace

LegacyParams search_block_compensated(const LegacyCodec& c, const float* x, const float* importance, std::size_t n,
                                      std::size_t judged, const float* u, std::size_t ld, std::size_t keep) {
  // GPTQ's per-column weights 1/U_ii², relative to the first column's (so uniform ones are exactly 1,
  // as search_block's weights are for uniform importance).
  double g[kBlock32];
  bool diagonal = true, uniform = true;
  for (std::size_t i = 0; i < judged; ++i) {
    const double ratio = static_cast<double>(u[0]) / static_cast<double>(u[i * ld + i]);
    g[i] = ratio * ratio;
    uniform = uniform && g[i] == 1.0;
    for (std::size_t m = i + 1; m < judged && diagonal; ++m) diagonal = u[i * ld + m] == 0.0f;
  }
  // Nothing compensated and every column alike: GPTQ's loss is the search's own objective.
  if (judged == 0 || (diagonal && uniform)) return search_block(c, x, importance, n);

  // Reused from block to block: one allocation per thread, not per block.
  thread_local std::vector<ScoredParams> tried;
  tried.clear();
  const LegacyParams searched =
      search_block(c, x, importance, n, &tried, c.has_min ? kCompensatedCheckedWithMin : kExactlyChecked);
  if (tried.empty()) return searched;  // a constant block: nothing was searched

  // The `keep` least errors, least first (ties in the order tried, so that where GPTQ's loss equals
  // the search's error the choice is search_block's).
  // At most ggml's rule, the checked grid, the refits and two neighbours were scored.
  constexpr std::size_t kMaxTried = 1 + 3 * kSteps + kRefineRounds + 2;
  std::size_t index[kMaxTried];
  const std::size_t scored = std::min(tried.size(), kMaxTried);
  keep = std::min({keep, scored, kMaxJudged});
  for (std::size_t i = 0; i < scored; ++i) index[i] = i;
  std::partial_sort(index, index + keep, index + scored, [&](std::size_t a, std::size_t b) {
    return tried[a].error < tried[b].error || (tried[a].error == tried[b].error && a < b);
  });
  LegacyParams candidates[kMaxJudged];
  double losses[kMaxJudged];
  float levels[kBlock32][kLanes];
  // The same params tried twice (a refit or neighbour landing on a grid point) are judged once: the
  // first of equal losses wins anyway.
  std::size_t unique = 0;
  for (std::size_t k = 0; k < keep; ++k) {
    const LegacyParams& p = tried[index[k]].params;
    bool seen = false;
    for (std::size_t j = 0; j < unique && !seen; ++j) seen = candidates[j].d16 == p.d16 && candidates[j].m16 == p.m16;
    if (!seen) candidates[unique++] = p;
  }
  keep = unique;
  LegacyParams best{};
  double best_loss = std::numeric_limits<double>::infinity();
  int q[kBlock32], best_q[kBlock32];
  for (std::size_t k0 = 0; k0 < keep; k0 += kLanes) {
    const std::size_t count = std::min(kLanes, keep - k0);
    simulate_lanes(c, candidates + k0, count, x, judged, u, ld, g, losses + k0, levels);
    for (std::size_t k = 0; k < count; ++k) {
      if (!(losses[k0 + k] < best_loss)) continue;
      best_loss = losses[k0 + k], best = candidates[k0 + k];
      for (std::size_t i = 0; i < judged; ++i) best_q[i] = static_cast<int>(levels[i][k]);
    }
  }
  // The params refitted to the compensated levels by least squares on GPTQ's loss itself (‖e‖²,
  // e linear in d and m) while that lowers it: the search fitted them to nearest levels instead.
  for (int round = 0; round < kCompensatedRefits; ++round) {
    const SolvedSums z = solve_transposed(u, ld, judged, x, best_q);
    LegacyParams next;
    if (!c.has_min) {
      if (!(z.qq > 0.0)) break;
      next = make_params(static_cast<float>(z.xq / z.qq), 0.0f);
    } else {
      const double det = z.qq * z.s11 - z.q1 * z.q1;
      if (!(det > 0.0)) break;
      const double d = (z.xq * z.s11 - z.q1 * z.x1) / det;
      const float d16 = make_params(static_cast<float>(d), 0.0f).d;
      next = make_params(d16, static_cast<float>((z.x1 - static_cast<double>(d16) * z.q1) / z.s11));
    }
    const double loss = simulate(c, next, x, judged, u, ld, g, best_loss, q);
    if (!(loss < best_loss)) break;
    best_loss = loss, best = next, std::copy(q, q + judged, best_q);
  }
  // The formats with a minimum: the neighbouring fp16 scales too, m refitted to the levels on GPTQ's
  // loss (q4_1 pooled eval error 0.00530 → 0.00529; q4_0 would gain 0.3 % for 10 % more time).
  if (c.has_min && (best.d16 & 0x7fffu) != 0) {
    const LegacyParams centre = best;
    const SolvedSums z = solve_transposed(u, ld, judged, x, best_q);
    for (const int step : {-1, 1}) {
      const float d = core::fp16_to_fp32(static_cast<std::uint16_t>(centre.d16 + step));
      const float m = z.s11 > 0.0 ? static_cast<float>((z.x1 - static_cast<double>(d) * z.q1) / z.s11) : centre.m;
      const LegacyParams near = make_params(d, m);
      const double loss = simulate(c, near, x, judged, u, ld, g, best_loss, q);
      if (loss < best_loss) best_loss = loss, best = near, std::copy(q, q + judged, best_q);
    }
  }
  return best;
}

void encode_block(const LegacyCodec& c, const LegacyParams& p, const int* q, std::byte* out) noexcept {
  const auto put16 = [&](std::size_t offset, std::uint16_t v) { std::memcpy(out + offset, &v, sizeof v); };
  put16(0, p.d16);
  if (c.format == Format::q8_0) {
    for (std::size_t i = 0; i < kBlock32; ++i) out[2 + i] = static_cast<std::byte>(static_cast<std::int8_t>(q[i]));
    return;
  }
  std::size_t at = 2;
  if (c.has_min) put16(at, p.m16), at += 2;
  // Stored codes are unsigned: the signed formats add their offset (8 or 16).
  int u[kBlock32];
  for (std::size_t i = 0; i < kBlock32; ++i) u[i] = q[i] - c.qmin;
  if (c.qmax - c.qmin == 31) {  // the fifth bits, element j in bit j
    std::uint32_t qh = 0;
    for (std::size_t i = 0; i < kBlock32; ++i) qh |= static_cast<std::uint32_t>((u[i] >> 4) & 1) << i;
    std::memcpy(out + at, &qh, sizeof qh);
    at += 4;
  }
  for (std::size_t j = 0; j < kBlock32 / 2; ++j) {
    out[at + j] = static_cast<std::byte>((u[j] & 0x0f) | ((u[j + 16] & 0x0f) << 4));
  }
}

}  // namespace qlinear::methods
