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

// Least-squares params for fixed levels: d alone (no minimum), or d then m given the fp16 d. With
// `predicted`, the squared error of the unrounded least-squares params, a cheap ranking of candidates.
LegacyParams refit(const LegacyCodec& c, const Sums& s, const LegacyParams& fallback, double* predicted = nullptr) {
  if (predicted) *predicted = std::numeric_limits<double>::infinity();
  if (!c.has_min) {
    if (s.qq <= 0.0) return fallback;
    if (predicted) *predicted = s.xx - s.xq * s.xq / s.qq;
    return make_params(static_cast<float>(s.xq / s.qq), 0.0f);
  }
  const double det = s.w * s.qq - s.q * s.q;
  if (!(det > 0.0)) return fallback;
  const double d = (s.w * s.xq - s.q * s.x) / det;
  if (predicted) *predicted = s.xx - d * s.xq - ((s.qq * s.x - s.q * s.xq) / det) * s.x;
  const LegacyParams with_d = make_params(static_cast<float>(d), 0.0f);
  // m refitted for the rounded d, so that the rounding of d is partly absorbed by m.
  return make_params(with_d.d, static_cast<float>((s.x - static_cast<double>(with_d.d) * s.q) / s.w));
}

// The grid's candidates, ranked by their predicted error; only the best few are checked exactly
// (after fp16 rounding), which halves the passes over the block.
struct Ranked {
  LegacyParams params;
  double predicted;
};
constexpr std::size_t kExactlyChecked = 4;

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
  // A scale beyond the f16 range would store Inf; the largest finite half is the closest valid one.
  const auto to_half = [](float v) {
    std::uint16_t h = core::fp32_to_fp16(v);
    if ((h & 0x7c00u) == 0x7c00u) h = static_cast<std::uint16_t>((h & 0x8000u) | 0x7bffu);
    return h;
  };
  p.d16 = to_half(d);
  p.m16 = to_half(m);
  p.d = core::fp16_to_fp32(p.d16);
  p.m = core::fp16_to_fp32(p.m16);
  p.inv_d = p.d != 0.0f ? 1.0f / p.d : 0.0f;
  return p;
}

LegacyParams search_block(const LegacyCodec& c, const float* x, const float* importance, std::size_t n,
                          std::vector<ScoredParams>* tried) {
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
        const LegacyParams trial = make_params(signed_max / t, 0.0f);
        double predicted;
        const LegacyParams fitted = refit(c, level_sums(c, trial, base, x, w, n), trial, &predicted);
        grid[count++] = {fitted, predicted};
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
        const LegacyParams trial = make_params(d, m);
        double predicted;
        const LegacyParams fitted = refit(c, level_sums(c, trial, base, x, w, n), trial, &predicted);
        grid[count++] = {fitted, predicted};
      }
    }
  }
  // The best predicted, checked exactly in grid order (so the result does not depend on sorting).
  std::size_t order[3 * kSteps];
  for (std::size_t i = 0; i < count; ++i) order[i] = i;
  const std::size_t checked = std::min(kExactlyChecked, count);
  std::partial_sort(order, order + checked, order + count, [&](std::size_t a, std::size_t b) {
    return grid[a].predicted < grid[b].predicted || (grid[a].predicted == grid[b].predicted && a < b);
  });
  std::sort(order, order + checked);
  for (std::size_t i = 0; i < checked; ++i) {
    const double e = scored(grid[order[i]].params, x, w, n);
    if (e < best_error) best_error = e, best = grid[order[i]].params;
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

LegacyParams search_block_compensated(const LegacyCodec& c, const float* x, const float* importance, std::size_t n,
                                      const float* u, std::size_t ld, std::size_t keep) {
  std::vector<ScoredParams> tried;
  tried.reserve(128);
  const LegacyParams searched = search_block(c, x, importance, n, &tried);
  if (tried.empty()) return searched;  // a constant block: nothing was searched
  // The `keep` least errors, least first (ties in the order tried, so that where GPTQ's loss equals
  // the search's error the choice is search_block's), which lets the simulation stop early.
  std::vector<std::size_t> index(tried.size());
  for (std::size_t i = 0; i < index.size(); ++i) index[i] = i;
  keep = std::min(keep, index.size());
  std::partial_sort(index.begin(), index.begin() + static_cast<std::ptrdiff_t>(keep), index.end(),
                    [&](std::size_t a, std::size_t b) {
                      return tried[a].error < tried[b].error || (tried[a].error == tried[b].error && a < b);
                    });

  // GPTQ's per-column weights 1/U_ii², relative to the first column's (so uniform ones are exactly 1,
  // as search_block's weights are for uniform importance).
  double g[kBlock32];
  for (std::size_t i = 0; i < n; ++i) {
    const double ratio = static_cast<double>(u[0]) / static_cast<double>(u[i * ld + i]);
    g[i] = ratio * ratio;
  }

  LegacyParams best = tried[index[0]].params;
  double best_loss = std::numeric_limits<double>::infinity();
  float y[kBlock32];
  for (std::size_t k = 0; k < keep; ++k) {
    const LegacyParams& p = tried[index[k]].params;
    std::copy(x, x + n, y);
    double loss = 0.0;
    for (std::size_t i = 0; i < n && loss < best_loss; ++i) {
      const float value = level_value(c, p, nearest_level(c, p, y[i]));
      const double diff = static_cast<double>(y[i]) - value;  // as exact_error computes it
      loss += g[i] * diff * diff;
      const float spread = (y[i] - value) / u[i * ld + i];
      for (std::size_t m = i + 1; m < n; ++m) y[m] -= spread * u[i * ld + m];
    }
    if (loss < best_loss) best_loss = loss, best = p;
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
