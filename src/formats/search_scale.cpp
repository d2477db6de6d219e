// Signed-scale searches (see search_scale.hpp for what each one minimizes).

#include "formats/search_scale.hpp"

#include "formats/nearest_int.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace qlinear::formats {
namespace {

// The value of largest magnitude, sign included (the first one on ties), and that magnitude.
struct Extreme {
  float value, magnitude;
};
inline Extreme signed_extreme_of(const float* x, int n) noexcept {
  // The largest magnitude first, in four independent lanes (max is exact in any order, and lanes
  // vectorize), then the first value that has it: the one ggml's strict "greater than" scan keeps.
  float lane[4] = {};
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int j = 0; j < 4; ++j) lane[j] = std::max(lane[j], std::fabs(x[i + j]));
  }
  for (; i < n; ++i) lane[0] = std::max(lane[0], std::fabs(x[i]));
  const float magnitude = std::max(std::max(lane[0], lane[1]), std::max(lane[2], lane[3]));
  // The first index that holds it, from a mask of matches: no branch on the data to mispredict.
  std::uint32_t matches = 0;
  for (i = 0; i < n; ++i) matches |= static_cast<std::uint32_t>(std::fabs(x[i]) == magnitude) << i;
  return {x[std::countr_zero(matches)], magnitude};
}

int clamped_level(float scaled, int nmax) noexcept {
  return std::max(-nmax, std::min(nmax - 1, nearest_int(scaled)));
}

// Σw·x·l and Σw·l² of the levels that `inverse_scale` gives, written to `levels` (signed).
struct Sums {
  float xl, l2;
};
Sums round_and_sum(const float* x, const float* w, int n, int nmax, float inverse_scale,
                   int* levels) noexcept {
  Sums s{0.0f, 0.0f};
  for (int i = 0; i < n; ++i) {
    const int l = clamped_level(inverse_scale * x[i], nmax);
    levels[i] = l;
    const float fl = static_cast<float>(l);
    s.xl += w[i] * x[i] * fl;
    s.l2 += w[i] * fl * fl;
  }
  return s;
}

}  // namespace

float search_signed_scale(const float* x, int n, int nmax, const float* weights, std::int8_t* levels) noexcept {
  const Extreme e = signed_extreme_of(x, n);
  if (e.magnitude < kNegligibleGroupMax) {
    std::fill(levels, levels + n, std::int8_t{0});
    return 0.0f;
  }
  // The 19 candidate inverse scales −(nmax + k/10)/max, k = 0 first and then −9…−1, 1…9 (the order
  // in which ggml compares them), padded to 20 (a multiple of 4 lanes) with a k = 0 never compared.
  constexpr int kCandidates = 19, kPadded = 20;
  constexpr float kTenths[kPadded] = {0, -9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0};
  float inverse_scale[kPadded];
  for (int c = 0; c < kPadded; ++c) {
    inverse_scale[c] = -(static_cast<float>(nmax) + 0.1f * kTenths[c]) / e.value;
  }

  // All candidates' Σw·x·l and Σw·l² in one pass over the values. Each candidate's sums still add
  // the values in order, so they are ggml's bits, but the candidates are independent lanes that
  // the compiler vectorizes with baseline SSE2 (ggml tries one candidate after the other).
  const float lowest = static_cast<float>(-nmax), highest = static_cast<float>(nmax - 1);
  constexpr int kMaxGroup = 32;  // q4_0 and q5_0; the K-quants' groups are 16
  float w_of[kMaxGroup], wx_of[kMaxGroup];
  for (int i = 0; i < n; ++i) {
    w_of[i] = weights != nullptr ? weights[i] : x[i] * x[i];
    wx_of[i] = w_of[i] * x[i];
  }
  float sum_xl[kPadded] = {}, sum_l2[kPadded] = {};
  for (int i = 0; i < n; ++i) {
    const float xi = x[i], wi = w_of[i], wx = wx_of[i];
    for (int c = 0; c < kPadded; ++c) {
      const float l = clamped_nearest(inverse_scale[c] * xi, lowest, highest);
      sum_xl[c] += wx * l;
      sum_l2[c] += wi * l * l;
    }
  }

  // ggml's comparisons, in its order: a candidate wins only by a strictly larger (Σw·x·l)²/Σw·l²,
  // compared without dividing.
  int winner = 0;
  float scale = sum_l2[0] != 0.0f ? sum_xl[0] / sum_l2[0] : 0.0f;
  float best = scale * sum_xl[0];
  for (int c = 1; c < kCandidates; ++c) {
    if (sum_l2[c] > 0.0f && sum_xl[c] * sum_xl[c] > best * sum_l2[c]) {
      winner = c;
      scale = sum_xl[c] / sum_l2[c];
      best = scale * sum_xl[c];
    }
  }
  const float winning_inverse = inverse_scale[winner];
  for (int i = 0; i < n; ++i) {
    const float l = clamped_nearest(winning_inverse * x[i], lowest, highest);
    levels[i] = static_cast<std::int8_t>(static_cast<int>(l) + nmax);
  }
  return scale;
}

float refine_signed_scale_per_value(const float* x, int n, int nmax, std::int8_t* levels) noexcept {
  const Extreme e = signed_extreme_of(x, n);
  if (e.magnitude < kNegligibleGroupMax) {
    std::fill(levels, levels + n, std::int8_t{0});
    return 0.0f;
  }
  constexpr int kMaxGroup = 32;
  int l[kMaxGroup];
  float w[kMaxGroup];
  for (int i = 0; i < n; ++i) w[i] = x[i] * x[i];
  const float inverse_scale = static_cast<float>(-nmax) / e.value;
  Sums sums = round_and_sum(x, w, n, nmax, inverse_scale, l);

  for (int pass = 0; pass < 5; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      // The sums without value i; its best level for their scale is x_i·Σ'w·l² / Σ'w·x·l.
      const float old_l = static_cast<float>(l[i]);
      float xl = sums.xl - w[i] * x[i] * old_l;
      if (!(xl > 0.0f)) continue;
      float l2 = sums.l2 - w[i] * old_l * old_l;
      const int moved = clamped_level(x[i] * l2 / xl, nmax);
      if (moved == l[i]) continue;
      const float fm = static_cast<float>(moved);
      xl += w[i] * x[i] * fm;
      l2 += w[i] * fm * fm;
      if (l2 > 0.0f && xl * xl * sums.l2 > sums.xl * sums.xl * l2) {
        l[i] = moved;
        sums = {xl, l2};
        ++changed;
      }
    }
    if (changed == 0) break;
  }
  for (int i = 0; i < n; ++i) levels[i] = static_cast<std::int8_t>(l[i] + nmax);
  return sums.l2 > 0.0f ? sums.xl / sums.l2 : 0.0f;
}

}  // namespace qlinear::formats
