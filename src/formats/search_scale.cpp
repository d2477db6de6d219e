// Signed-scale searches (see search_scale.hpp for what each one minimizes).

#include "formats/search_scale.hpp"

#include "formats/nearest_int.hpp"

#include <algorithm>
#include <cmath>

namespace qlinear::formats {
namespace {

// The value of largest magnitude, sign included (the first one on ties), and that magnitude.
struct Extreme {
  float value, magnitude;
};
Extreme signed_extreme_of(const float* x, int n) noexcept {
  Extreme e{0.0f, 0.0f};
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > e.magnitude) e = {x[i], ax};
  }
  return e;
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
  // The groups are at most 32 values long (q4_0, q5_0) and 16 for the K-quants.
  constexpr int kMaxGroup = 32;
  float own_weights[kMaxGroup];
  if (weights == nullptr) {
    for (int i = 0; i < n; ++i) own_weights[i] = x[i] * x[i];
    weights = own_weights;
  }
  int best_levels[kMaxGroup], trial[kMaxGroup];

  float inverse_scale = static_cast<float>(-nmax) / e.value;
  Sums sums = round_and_sum(x, weights, n, nmax, inverse_scale, best_levels);
  float scale = sums.l2 != 0.0f ? sums.xl / sums.l2 : 0.0f;
  float best = scale * sums.xl;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    inverse_scale = -(static_cast<float>(nmax) + 0.1f * static_cast<float>(k)) / e.value;
    sums = round_and_sum(x, weights, n, nmax, inverse_scale, trial);
    // (Σw·x·l)² / Σw·l² > best, without dividing.
    if (sums.l2 > 0.0f && sums.xl * sums.xl > best * sums.l2) {
      std::copy(trial, trial + n, best_levels);
      scale = sums.xl / sums.l2;
      best = scale * sums.xl;
    }
  }
  for (int i = 0; i < n; ++i) levels[i] = static_cast<std::int8_t>(best_levels[i] + nmax);
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
