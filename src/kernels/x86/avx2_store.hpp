#pragma once
// Helpers shared by the AVX2 kernel files, and included by them only: the code is compiled with
// -mavx2 -mfma, so it has internal linkage (an unnamed namespace) and can never be merged with a
// copy compiled for another level.

#include "kernels/kernel_table.hpp"

#include <immintrin.h>

#include <cstddef>

namespace qlinear::kernels::avx2 {
namespace {

// Writes lanes [0, n) of v, plus bias where given, to y.
inline void store_rows(float* y, const float* bias, __m256 v, std::size_t n) {
  if (n == 8) {
    if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
    _mm256_storeu_ps(y, v);
    return;
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, v);
  for (std::size_t i = 0; i < n; ++i) y[i] = lanes[i] + (bias ? bias[i] : 0.0f);
}

// The outer loop of the integer GEMM kernels: every 8-row weight panel in [row_begin, row_end)
// against every activation tile of C rows in [tile_begin, tile_end). panel_tile(panel, tile_records,
// out) computes the panel's 8 outputs for each of the C rows; they are stored with the bias.
template <int C, typename PanelTile>
inline void for_each_panel_and_tile(const GemmArgs& a, std::size_t row_begin, std::size_t row_end,
                                    std::size_t tile_begin, std::size_t tile_end, PanelTile&& panel_tile) {
  const ActivationTiles& t = a.act;
  const std::size_t tile_bytes = t.blocks * t.record_bytes;
  for (std::size_t p = row_begin / 8; p * 8 < row_end; ++p) {
    const std::size_t r0 = p * 8, n = row_end - r0 < 8 ? row_end - r0 : 8;
    for (std::size_t tile = tile_begin; tile < tile_end; ++tile) {
      __m256 out[C];
      panel_tile(p, t.data + tile * tile_bytes, out);
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const std::size_t b = tile * C + c;
        if (b < a.batch) store_rows(a.y + b * a.rows + r0, a.bias ? a.bias + r0 : nullptr, out[c], n);
      }
    }
  }
}

}  // namespace
}  // namespace qlinear::kernels::avx2
