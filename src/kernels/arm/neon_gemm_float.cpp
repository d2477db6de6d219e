// The neon level's GEMM/GEMV for f32, f16 and bf16 weights with float activations (ARMv8.0
// Advanced SIMD; compiled with -march=armv8-a), on the x86 levels' panels of 16 rows stored
// input-major (packed.hpp) and the same activation tiles, so that `qlinear bench` on ARM measures
// the structure measured on x86.
//
// The micro-kernel keeps 4 × C accumulators (16 rows × C activation rows): per input it loads (and
// widens) the 16 weights once, into 4 vectors, and does 4·C fmla by element, the activation values
// read as lanes of a vector instead of broadcast one by one. C = 6 (x86's AVX2 shape): 24
// accumulators + 4 weights + 2 activation vectors of the 32 registers.
// f16 widens with the native fcvtl (exact), bf16 with a 16-bit shift (shll).
// Instructions per 32 weights of one row and one activation row, inner loop; a tile's weight loads
// and widenings serve its 6 activation rows, its 2 activation loads per input its 16 × 6 products:
//   f32    8 fmla + 8/6 ldr q (weights) + 2/3 activation loads
//   f16    8 fmla + 4/6 ldr q + 8/6 fcvtl + 2/3 activation loads
//   bf16   8 fmla + 4/6 ldr q + 8/6 shll  + 2/3 activation loads
// ggml on ARMv8.0 (f16 weights, activations converted to f16, no FP16 arithmetic): 8 fmla + 16
// fcvtl + 16 ldr d per 32 weights and activation row, each weight widened again for every row; with
// ARMv8.2 FP16 arithmetic, 4 half-precision fmla (whose sums are rounded to half).
//
// Each output is one FMA chain over the inputs in order, whatever C, so results do not depend on
// the batch or the thread count, as on x86.

#include "kernels/arm/neon_float.hpp"
#include "kernels/scalar_kernels.hpp"

#include <arm_neon.h>

#include <cstdint>

namespace qlinear::kernels::neon {
namespace {

// The 16 weights of input k of a panel (or 16 rows of outputs) as 4 vectors of 4 floats.
struct Weights16 {
  float32x4_t v[4];
};

template <Format kFormat>
inline Weights16 load_weights(const std::byte* panel, std::size_t k) {
  if constexpr (kFormat == Format::f32) {
    const auto* p = reinterpret_cast<const float*>(panel) + k * 16;
    return {{vld1q_f32(p), vld1q_f32(p + 4), vld1q_f32(p + 8), vld1q_f32(p + 12)}};
  } else {
    const auto* p = reinterpret_cast<const std::uint16_t*>(panel + k * 32);
    const uint16x8_t h0 = vld1q_u16(p), h1 = vld1q_u16(p + 8);
    if constexpr (kFormat == Format::f16) {
      const float16x8_t a = vreinterpretq_f16_u16(h0), b = vreinterpretq_f16_u16(h1);
      return {{vcvt_f32_f16(vget_low_f16(a)), vcvt_high_f32_f16(a), vcvt_f32_f16(vget_low_f16(b)),
               vcvt_high_f32_f16(b)}};
    } else {  // bf16: the upper half of a float
      return {{vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h0), 16)),
               vreinterpretq_f32_u32(vshll_high_n_u16(h0, 16)),
               vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h1), 16)),
               vreinterpretq_f32_u32(vshll_high_n_u16(h1, 16))}};
    }
  }
}

inline std::size_t lanes(std::size_t n, std::size_t first) { return n <= first ? 0 : n - first < 4 ? n - first : 4; }

// Rows [r0, r0 + 16) ∩ [r0, row_end) of activation row b: y = v (+ bias when `final`).
inline void store16(const GemmArgs& a, std::size_t b, std::size_t r0, std::size_t row_end, Weights16 v, bool final) {
  float* y = a.y + b * a.rows + r0;
  const float* bias = final && a.bias ? a.bias + r0 : nullptr;
  const std::size_t n = row_end - r0;
  if (n >= 16) {
    for (int i = 0; i < 4; ++i) vst1q_f32(y + 4 * i, bias ? vaddq_f32(v.v[i], vld1q_f32(bias + 4 * i)) : v.v[i]);
    return;
  }
  float all[16];
  for (int i = 0; i < 4; ++i) vst1q_f32(all + 4 * i, v.v[i]);
  for (std::size_t i = 0; i < n; ++i) y[i] = bias ? all[i] + bias[i] : all[i];
}

// The partial sums of rows [r0, r0 + 16) ∩ [r0, row_end) waiting in y; zeros past row_end.
inline Weights16 load16(const GemmArgs& a, std::size_t b, std::size_t r0, std::size_t row_end) {
  const float* y = a.y + b * a.rows + r0;
  const std::size_t n = row_end - r0;
  float all[16] = {};
  if (n >= 16) return {{vld1q_f32(y), vld1q_f32(y + 4), vld1q_f32(y + 8), vld1q_f32(y + 12)}};
  for (std::size_t i = 0; i < n; ++i) all[i] = y[i];
  return {{vld1q_f32(all), vld1q_f32(all + 4), vld1q_f32(all + 8), vld1q_f32(all + 12)}};
}

// Inputs in blocks of kInputBlock, the partial sums waiting in y in between (a float stored and
// reloaded is the same float, so each output's FMA chain is unchanged): x86's choice, which keeps a
// panel's block at 64 KiB for f32; not measured on ARM hardware.
constexpr std::size_t kInputBlock = 1024;

// acc[c][i] += w[i] · x[c] for the C activation values of one input (x: C consecutive floats).
template <int C>
inline void fma_tile(Weights16 (&acc)[C], const Weights16& w, const float* x) {
  static_assert(C == 6, "the lanes below read 6 activation values");
  const float32x4_t x03 = vld1q_f32(x);
  const float32x2_t x45 = vld1_f32(x + 4);
  #pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    acc[0].v[i] = vfmaq_laneq_f32(acc[0].v[i], w.v[i], x03, 0);
    acc[1].v[i] = vfmaq_laneq_f32(acc[1].v[i], w.v[i], x03, 1);
    acc[2].v[i] = vfmaq_laneq_f32(acc[2].v[i], w.v[i], x03, 2);
    acc[3].v[i] = vfmaq_laneq_f32(acc[3].v[i], w.v[i], x03, 3);
    acc[4].v[i] = vfmaq_lane_f32(acc[4].v[i], w.v[i], x45, 0);
    acc[5].v[i] = vfmaq_lane_f32(acc[5].v[i], w.v[i], x45, 1);
  }
}

// One panel × one tile of C activation rows (x: input-major, C values per input), inputs [k0, k1).
template <Format kFormat, int C>
void panel_tile(const GemmArgs& a, std::size_t p, std::size_t tile, std::size_t row_end, std::size_t k0,
                std::size_t k1) {
  const PackedView& w = *a.packed;
  const std::byte* panel = w.data + p * w.panel_bytes;
  const float* x = a.xf.data + (tile * a.cols + k0) * C;
  const std::size_t r0 = p * 16;
  Weights16 acc[C];
  #pragma GCC unroll 8
  for (int c = 0; c < C; ++c) {
    const std::size_t b = tile * C + c;
    const float32x4_t zero = vdupq_n_f32(0.0f);
    acc[c] = k0 == 0 || b >= a.batch ? Weights16{{zero, zero, zero, zero}} : load16(a, b, r0, row_end);
  }
  for (std::size_t k = k0; k < k1; ++k, x += C) fma_tile<C>(acc, load_weights<kFormat>(panel, k), x);
  #pragma GCC unroll 8
  for (int c = 0; c < C; ++c) {
    const std::size_t b = tile * C + c;
    if (b < a.batch) store16(a, b, r0, row_end, acc[c], k1 == a.cols);
  }
}

// GEMV: two panels at a time, eight FMA chains to hide the FMA latency (x86's structure).
template <Format kFormat>
void gemv_panels(const GemmArgs& a, std::size_t p, std::size_t count, std::size_t row_end) {
  const PackedView& w = *a.packed;
  const std::byte* panel0 = w.data + p * w.panel_bytes;
  const std::byte* panel1 = count > 1 ? panel0 + w.panel_bytes : panel0;
  const float* x = a.xf.data;
  const float32x4_t zero = vdupq_n_f32(0.0f);
  Weights16 acc0{{zero, zero, zero, zero}}, acc1 = acc0;
  for (std::size_t k = 0; k < a.cols; ++k) {
    const float32x4_t xb = vdupq_n_f32(x[k]);
    const Weights16 w0 = load_weights<kFormat>(panel0, k), w1 = load_weights<kFormat>(panel1, k);
    #pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      acc0.v[i] = vfmaq_f32(acc0.v[i], w0.v[i], xb);
      acc1.v[i] = vfmaq_f32(acc1.v[i], w1.v[i], xb);
    }
  }
  store16(a, 0, p * 16, row_end, acc0, true);
  if (count > 1) store16(a, 0, p * 16 + 16, row_end, acc1, true);
}

template <Format kFormat>
void run(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
         std::size_t tile_end) {
  const std::size_t first = row_begin / 16, last = (row_end + 15) / 16;
  if (a.xf.tile_rows == 1) {
    for (std::size_t p = first; p < last; p += 2) gemv_panels<kFormat>(a, p, last - p < 2 ? 1 : 2, row_end);
    return;
  }
  for (std::size_t k0 = 0; k0 < a.cols; k0 += kInputBlock) {
    const std::size_t k1 = a.cols - k0 < kInputBlock ? a.cols : k0 + kInputBlock;
    for (std::size_t p = first; p < last; ++p) {
      for (std::size_t tile = tile_begin; tile < tile_end; ++tile) {
        panel_tile<kFormat, kFloatTileRows>(a, p, tile, row_end, k0, k1);
      }
    }
  }
}

}  // namespace

void gemm_float(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
                std::size_t tile_end) {
  if (a.packed == nullptr || (a.xf.tile_rows != 1 && a.xf.tile_rows != kFloatTileRows)) {
    scalar::gemm_float(a, row_begin, row_end, tile_begin, tile_end);
    return;
  }
  switch (a.weight->format) {
    case Format::f32: run<Format::f32>(a, row_begin, row_end, tile_begin, tile_end); break;
    case Format::f16: run<Format::f16>(a, row_begin, row_end, tile_begin, tile_end); break;
    case Format::bf16: run<Format::bf16>(a, row_begin, row_end, tile_begin, tile_end); break;
    default: scalar::gemm_float(a, row_begin, row_end, tile_begin, tile_end); break;
  }
}

}  // namespace qlinear::kernels::neon
