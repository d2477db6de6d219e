// The neon level's integer kernels (ARMv8.0 Advanced SIMD; compiled with -march=armv8-a): every
// legacy and affine format on the packed panels (neon_panels.hpp), with widening multiplies
// (smull/smlal) and pairwise adds; the scalar kernel where the layer has no packed copy.

#include "kernels/arm/neon.hpp"
#include "kernels/arm/neon_panels.hpp"
#include "kernels/scalar_kernels.hpp"

namespace qlinear::kernels::neon {
namespace {

// Step s's 4 activation bytes in every 32-bit lane (dup by lane).
template <int S>
inline int8x16_t broadcast(const int8x16_t (&xs)[2]) {
  return vreinterpretq_s8_s32(vdupq_laneq_s32(vreinterpretq_s32_s8(xs[S / 4]), S % 4));
}

struct Armv8 {
  // The integer dots of one block, 8 rows × C activation rows: lo[c] rows 0..3, hi[c] rows 4..7.
  template <class P, int C>
  static void block_dots(const std::byte* rec, const std::byte* x, int32x4_t (&lo)[C], int32x4_t (&hi)[C]) {
    int8x16_t xs[C][2], v[4][2];
    load_activations<C>(x, xs);
    // Four registers per activation row, two rows in each (the 8 bytes of a row pair of a step):
    // acc[c][0] rows 0, 1; [1] rows 2, 3; [2] rows 4, 5; [3] rows 6, 7.
    if constexpr (P::bits == CodeBits::eight) {
      // A product reaches 128·127 = 16256 in magnitude: each pair of 16-bit products goes
      // straight into 32-bit sums (sadalp).
      int32x4_t acc[C][4];
      for (int c = 0; c < C; ++c) acc[c][0] = acc[c][1] = acc[c][2] = acc[c][3] = vdupq_n_s32(0);
      const auto step = [&]<int H, int I>() {
        #pragma GCC unroll 4
        for (int c = 0; c < C; ++c) {
          const int8x16_t a = broadcast<step_of<P::bits>(H, I)>(xs[c]);
          acc[c][0] = vpadalq_s16(acc[c][0], vmull_s8(vget_low_s8(v[I][0]), vget_low_s8(a)));
          acc[c][1] = vpadalq_s16(acc[c][1], vmull_high_s8(v[I][0], a));
          acc[c][2] = vpadalq_s16(acc[c][2], vmull_s8(vget_low_s8(v[I][1]), vget_low_s8(a)));
          acc[c][3] = vpadalq_s16(acc[c][3], vmull_high_s8(v[I][1], a));
        }
      };
      load_half<P>(rec, 0, v);
      for_each_step<0>(step);
      half_barrier();
      load_half<P>(rec, 1, v);
      for_each_step<1>(step);
      for (int c = 0; c < C; ++c) {
        lo[c] = vpaddq_s32(acc[c][0], acc[c][1]);
        hi[c] = vpaddq_s32(acc[c][2], acc[c][3]);
      }
    } else {
      // 16-bit sums: each lane takes one product per step, 8 per block, of at most 31·127 (the
      // activation codes are within ±127): 8·3937 = 31496 fits.
      int16x8_t acc[C][4];
      for (int c = 0; c < C; ++c) acc[c][0] = acc[c][1] = acc[c][2] = acc[c][3] = vdupq_n_s16(0);
      const auto step = [&]<int H, int I>() {
        #pragma GCC unroll 4
        for (int c = 0; c < C; ++c) {
          const int8x16_t a = broadcast<step_of<P::bits>(H, I)>(xs[c]);
          acc[c][0] = vmlal_s8(acc[c][0], vget_low_s8(v[I][0]), vget_low_s8(a));
          acc[c][1] = vmlal_high_s8(acc[c][1], v[I][0], a);
          acc[c][2] = vmlal_s8(acc[c][2], vget_low_s8(v[I][1]), vget_low_s8(a));
          acc[c][3] = vmlal_high_s8(acc[c][3], v[I][1], a);
        }
      };
      load_half<P>(rec, 0, v);
      for_each_step<0>(step);
      half_barrier();
      load_half<P>(rec, 1, v);
      for_each_step<1>(step);
      for (int c = 0; c < C; ++c) {
        lo[c] = vpaddq_s32(vpaddlq_s16(acc[c][0]), vpaddlq_s16(acc[c][1]));
        hi[c] = vpaddq_s32(vpaddlq_s16(acc[c][2]), vpaddlq_s16(acc[c][3]));
      }
    }
  }
};

}  // namespace

void gemm_quantized(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
                    std::size_t tile_end) {
  RunFn fn = pick<Armv8, 1>(a);
  if (fn == nullptr) fn = pick<Armv8, static_cast<int>(kIntTileRows)>(a);
  if (fn == nullptr) {
    scalar::gemm_quantized(a, row_begin, row_end, tile_begin, tile_end);
    return;
  }
  fn(a, row_begin, row_end, tile_begin, tile_end);
}

}  // namespace qlinear::kernels::neon
