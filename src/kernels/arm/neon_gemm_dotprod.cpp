// The dotprod level's integer kernels (ARMv8.2 sdot; compiled with -march=armv8.2-a+dotprod, the
// only file that is besides the i8mm one): every legacy and affine format on the packed panels
// (neon_panels.hpp), one sdot per 4 inputs of 4 rows, by element (the activation's 4 bytes are a
// lane of a register loaded once per block); the scalar kernel where the layer has no packed copy.
// The i8mm level's GEMV is this one.

#include "kernels/arm/neon.hpp"
#include "kernels/arm/neon_panels.hpp"
#include "kernels/scalar_kernels.hpp"

namespace qlinear::kernels::neon {
namespace {

struct Dotprod {
  // The integer dots of one block, 8 rows × C activation rows: lo[c] rows 0..3, hi[c] rows 4..7.
  // The codes are signed int8 (load_half()), so sdot takes them as they are.
  template <class P, int C>
  static void block_dots(const std::byte* rec, const std::byte* x, int32x4_t (&lo)[C], int32x4_t (&hi)[C]) {
    int8x16_t xs[C][2];
    load_activations<C>(x, xs);
    for (int c = 0; c < C; ++c) lo[c] = hi[c] = vdupq_n_s32(0);
    int8x16_t v[4][2];
    const auto step = [&]<int H, int I>() {
      constexpr int s = step_of<P::bits>(H, I);
      #pragma GCC unroll 4
      for (int c = 0; c < C; ++c) {
        lo[c] = vdotq_laneq_s32(lo[c], v[I][0], xs[c][s / 4], s % 4);
        hi[c] = vdotq_laneq_s32(hi[c], v[I][1], xs[c][s / 4], s % 4);
      }
    };
    load_half<P>(rec, 0, v);
    for_each_step<0>(step);
    half_barrier();
    load_half<P>(rec, 1, v);
    for_each_step<1>(step);
  }
};

}  // namespace

void gemm_quantized_dotprod(const GemmArgs& a, std::size_t row_begin, std::size_t row_end,
                            std::size_t tile_begin, std::size_t tile_end) {
  RunFn fn = pick<Dotprod, 1>(a);
  if (fn == nullptr) fn = pick<Dotprod, static_cast<int>(kIntTileRows)>(a);
  if (fn == nullptr) {
    scalar::gemm_quantized(a, row_begin, row_end, tile_begin, tile_end);
    return;
  }
  fn(a, row_begin, row_end, tile_begin, tile_end);
}

}  // namespace qlinear::kernels::neon
