#pragma once
// Searches for one signed scale per group, as ggml's K-quants (q3_K, q6_K) and the importance paths
// of q4_0 and q5_0 choose it: levels l in [−nmax, nmax − 1], stored as l + nmax, and w ≈ s·l.
// The scale's sign follows the group's value of largest magnitude, which is mapped to −nmax, so that
// the asymmetric level range spends its extra level on that value's side.
//
// Byte-identical results need ggml's float operations in ggml's order: every sum below accumulates
// in float, left to right, with products grouped as written (the library builds with
// -ffp-contract=off, so none of them fuses).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace qlinear::formats {

// float(clamp(nearest_int(v), lowest, highest)), computed in float: v + 1.5·2^23 is an integer in
// [2^23, 2^24) for |v| <= 2^22, rounded to nearest even by the addition, and subtracting 1.5·2^23
// again is exact. Unlike the integer form it stays in float lanes, so loops of it vectorize. Only
// for |v| <= 2^22 (the searches' scaled values are within nmax + 1); for NaN or infinities, which
// ggml's integer form maps to definite levels, use nearest_int.
inline float clamped_nearest(float v, float lowest, float highest) noexcept {
  constexpr float kShift = 12582912.0f;
  const float rounded = (v + kShift) - kShift;
  return std::min(std::max(rounded, lowest), highest);
}

// A group whose largest magnitude is below this is treated as all zero (scale 0, levels 0).
inline constexpr float kNegligibleGroupMax = 1e-15f;

// Chooses the scale s and the levels of n values minimizing the weighted squared error
// Σ w_i·(x_i − s·l_i)². For fixed levels the best s is Σw·x·l / Σw·l², which lowers the error by
// (Σw·x·l)² / Σw·l²; the search rounds x with 19 candidate inverse scales −(nmax + k/10)/max,
// k = 0 first and then −9…9, and keeps the levels whose reduction is largest (a later candidate
// replaces the best only when ggml's float comparison says strictly larger).
// `weights` may be null: the weights are then x_i², which favours the large values. n <= 32.
// Writes levels[i] = l_i + nmax and returns s (0 and all levels 0 for a negligible group).
float search_signed_scale(const float* x, int n, int nmax, const float* weights, std::int8_t* levels) noexcept;

// ggml's importance path of q4_0 and q5_0 (quantize_row_q4_0_impl / q5_0_impl) over a row of n
// weights: per block of 32, search_signed_scale with each weight's error weighted by
// importance·√(σ² + w²), σ² the row's mean square: the importance scaled by a magnitude that favours
// large weights without letting near-zero ones count for nothing. store(b, d, levels) takes block
// b's scale and its 32 levels (in [0, 2·nmax)).
template <typename Store>
void search_blocks_of_32_signed_weighted(const float* x, std::size_t n, const float* importance, int nmax,
                                         Store&& store) {
  constexpr std::size_t kBlock = 32;
  float sum_x2 = 0.0f;
  for (std::size_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  const float sigma2 = sum_x2 / static_cast<float>(n);
  for (std::size_t b = 0; b < n / kBlock; ++b, x += kBlock, importance += kBlock) {
    float weight[kBlock];
    for (std::size_t j = 0; j < kBlock; ++j) weight[j] = importance[j] * std::sqrt(sigma2 + x[j] * x[j]);
    std::int8_t levels[kBlock];
    const float d = search_signed_scale(x, kBlock, nmax, weight, levels);
    store(b, d, levels);
  }
}

// q3_K's search: starts from the levels of −nmax/max, then moves single levels, a value at a time,
// to the level that fits the scale of all the others best, accepting a move only when it raises
// (Σw·x·l)² / Σw·l² (weights x_i²), for at most five passes or until a pass changes nothing.
// n <= 32. Writes levels[i] = l_i + nmax and returns Σw·x·l / Σw·l² (0 for a negligible group).
float refine_signed_scale_per_value(const float* x, int n, int nmax, std::int8_t* levels) noexcept;

}  // namespace qlinear::formats
