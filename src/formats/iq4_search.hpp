#pragma once
// The scale search of the 4-bit non-linear formats, as ggml runs it for iq4_nl (one block of 32) and
// iq4_xs (eight sub-blocks of 32 under one fp16 scale). Implemented in iq4_nl.cpp. Every float
// operation happens in ggml's order, so the chosen codes and scales are bit-identical to its own.

#include "formats/blocks.hpp"

#include <cstddef>
#include <cstdint>

namespace qlinear::formats::iq4 {

inline constexpr std::size_t kSubBlock = 32;

// Index of the grid value (kIq4nlValues) nearest to x; a value exactly halfway goes to the upper one.
// The two distances are compared as rounded floats, the way ggml compares them, since rounding can
// turn a strict "nearer" into a tie near the middle and ties decide the other way.
inline int nearest_grid_index(float x) noexcept {
  if (x <= static_cast<float>(kIq4nlValues[0])) return 0;
  if (x >= static_cast<float>(kIq4nlValues[15])) return 15;
  int below = 0;  // the last grid value <= x: a bisection of the 16 sorted values
  for (int step = 8; step > 0; step /= 2) {
    if (x >= static_cast<float>(kIq4nlValues[below + step])) below += step;
  }
  const float to_below = x - static_cast<float>(kIq4nlValues[below]);
  const float to_above = static_cast<float>(kIq4nlValues[below + 1]) - x;
  return to_below < to_above ? below : below + 1;
}

// The weights of the squared error in the search of one sub-block of 32 values x: x² without
// importance; with it, importance·sqrt(sigma2 + x²), where sigma2 is the super-block's spread()
// (so that small weights in an important column still count).
void error_weights(const float* x, const float* importance, float sigma2, float* weight) noexcept;

// 2·mean(x²) over the n values of a super-block (n = 32 for iq4_nl, 256 for iq4_xs).
float spread(const float* x, std::size_t n) noexcept;

// The scale d of one sub-block of 32 that minimizes Σ weight·(x − d·grid[q])² over the starting
// point d = max/127 and the 15 candidates 1/d = (t − 127)/max, t in [−7, 7], where max is the value
// of largest magnitude. Returns 0 for a sub-block whose largest magnitude is below 1e-15: its codes
// then become those of the grid value nearest 0, so it dequantizes to exactly 0.
float best_scale(const float* x, const float* weight) noexcept;

// Codes of n values for one scale: nearest_grid_index(x·inverse), packed two per byte (value j of
// each 32 in the low nibble of byte j, value j+16 in the high nibble).
void store_codes(const float* x, std::size_t n, float inverse, std::uint8_t* qs) noexcept;

}  // namespace qlinear::formats::iq4
