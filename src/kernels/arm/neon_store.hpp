#pragma once
// Helpers shared by the NEON kernel files, and included by them only: internal linkage (an unnamed
// namespace), so a copy compiled with +dotprod is never the one another file keeps.

#include "kernels/kernel_table.hpp"

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace qlinear::kernels::neon {
namespace {

// Eight rows of outputs: rows 0..3 in lo, 4..7 in hi.
struct Rows8 {
  float32x4_t lo, hi;
};

// Writes rows [0, n) of v, plus bias where given, to y.
inline void store_rows(float* y, const float* bias, Rows8 v, std::size_t n) {
  if (n == 8) {
    if (bias) {
      v.lo = vaddq_f32(v.lo, vld1q_f32(bias));
      v.hi = vaddq_f32(v.hi, vld1q_f32(bias + 4));
    }
    vst1q_f32(y, v.lo);
    vst1q_f32(y + 4, v.hi);
    return;
  }
  float lanes[8];
  vst1q_f32(lanes, v.lo);
  vst1q_f32(lanes + 4, v.hi);
  for (std::size_t i = 0; i < n; ++i) y[i] = lanes[i] + (bias ? bias[i] : 0.0f);
}

inline std::int32_t load_i32(const std::byte* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline float load_f32(const std::byte* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

inline uint8x16_t load_u8(const std::byte* p) { return vld1q_u8(reinterpret_cast<const std::uint8_t*>(p)); }
inline int8x16_t load_s8(const std::byte* p) { return vld1q_s8(reinterpret_cast<const std::int8_t*>(p)); }

// The 8 fp16 scales at the head of a record, as f32 (fcvtl: ARMv8.0, exact).
inline Rows8 load_scales(const std::byte* p) {
  const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(reinterpret_cast<const std::uint16_t*>(p)));
  return {vcvt_f32_f16(vget_low_f16(h)), vcvt_high_f32_f16(h)};
}

// acc += float(sum − offset·Σq) · (wscale · dx): the per-block float work of one activation row,
// with sum the 8 rows' integer dots and act_sum the activation block's Σq.
inline void accumulate_block(Rows8& acc, int32x4_t sum_lo, int32x4_t sum_hi, std::int32_t offset_sum,
                             Rows8 wscale, float dx) {
  const int32x4_t o = vdupq_n_s32(offset_sum);
  const float32x4_t fl = vcvtq_f32_s32(vsubq_s32(sum_lo, o)), fh = vcvtq_f32_s32(vsubq_s32(sum_hi, o));
  acc.lo = vfmaq_f32(acc.lo, fl, vmulq_n_f32(wscale.lo, dx));
  acc.hi = vfmaq_f32(acc.hi, fh, vmulq_n_f32(wscale.hi, dx));
}

// The outer loop of the integer kernels, the x86 levels' own: every 8-row weight panel in
// [row_begin, row_end) against every activation tile of C rows in [tile_begin, tile_end).
// panel_tile(panel, tile_records, out) computes the panel's 8 outputs for each of the C rows.
template <int C, typename PanelTile>
inline void for_each_panel_and_tile(const GemmArgs& a, std::size_t row_begin, std::size_t row_end,
                                    std::size_t tile_begin, std::size_t tile_end, PanelTile&& panel_tile) {
  const ActivationTiles& t = a.act;
  const std::size_t tile_bytes = t.blocks * t.record_bytes;
  for (std::size_t p = row_begin / 8; p * 8 < row_end; ++p) {
    const std::size_t r0 = p * 8, n = row_end - r0 < 8 ? row_end - r0 : 8;
    for (std::size_t tile = tile_begin; tile < tile_end; ++tile) {
      Rows8 out[C];
      panel_tile(p, t.data + tile * tile_bytes, out);
      for (int c = 0; c < C; ++c) {
        const std::size_t b = tile * C + c;
        if (b < a.batch) store_rows(a.y + b * a.rows + r0, a.bias ? a.bias + r0 : nullptr, out[c], n);
      }
    }
  }
}

}  // namespace
}  // namespace qlinear::kernels::neon
