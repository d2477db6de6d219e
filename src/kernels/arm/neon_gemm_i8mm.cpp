// The i8mm level's integer GEMM (ARMv8.6 int8 matrix multiply; compiled with
// -march=armv8.2-a+dotprod+i8mm, the only file that is): every legacy and affine format on the
// packed panels (neon_panels.hpp) against tiles of 4 activation rows, with smmla, which multiplies
// a 2×8 int8 matrix by an 8×2 one into a 2×2 int32 tile. The GEMV (one activation row, where a
// 2×2 tile would be half wasted) is the dotprod level's; so is the scalar fallback.

#include "kernels/arm/neon.hpp"
#include "kernels/arm/neon_panels.hpp"
#include "kernels/scalar_kernels.hpp"

namespace qlinear::kernels::neon {
namespace {

struct I8mm {
  // The integer dots of one block, 8 rows × 4 activation rows: lo[c] rows 0..3, hi[c] rows 4..7.
  //
  // Two consecutive steps A (inputs 4s..4s + 3) and B (4s + 4..4s + 7) of rows 0..3 hold, per 32-bit
  // lane, one row's 4 codes: zip1(A, B) = rows 0, 1 × 8 inputs and zip2(A, B) = rows 2, 3, each the
  // 2×8 operand smmla takes; the activation operand is rows c, c + 1 × the same 8 inputs (two 8-byte
  // loads). acc[p][q] then holds the 2×2 tile (weight rows 2p, 2p + 1) × (activation rows 2q,
  // 2q + 1) as lanes (2p, 2q), (2p, 2q + 1), (2p + 1, 2q), (2p + 1, 2q + 1); at the block end uzp1
  // of the tiles of p = 0, 1 gathers weight rows 0..3 for activation row 2q, uzp2 for 2q + 1.
  template <class P, int C>
  static void block_dots(const std::byte* rec, const std::byte* x, int32x4_t (&lo)[C], int32x4_t (&hi)[C]) {
    static_assert(C == 4);
    int32x4_t acc[4][2];
    for (auto& row : acc) row[0] = row[1] = vdupq_n_s32(0);
    #pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      int8x16_t v[4][2];
      load_half<P>(rec, h, v);
      #pragma GCC unroll 2
      for (int pair = 0; pair < 2; ++pair) {
        const int i = 2 * pair, step = step_of<P::bits>(h, i);
        static_assert(step_of<P::bits>(0, 1) == step_of<P::bits>(0, 0) + 1 &&
                      step_of<P::bits>(1, 3) == step_of<P::bits>(1, 2) + 1);
        const int32x4_t a0 = vreinterpretq_s32_s8(v[i][0]), b0 = vreinterpretq_s32_s8(v[i + 1][0]);
        const int32x4_t a1 = vreinterpretq_s32_s8(v[i][1]), b1 = vreinterpretq_s32_s8(v[i + 1][1]);
        const int8x16_t w[4] = {vreinterpretq_s8_s32(vzip1q_s32(a0, b0)), vreinterpretq_s8_s32(vzip2q_s32(a0, b0)),
                                vreinterpretq_s8_s32(vzip1q_s32(a1, b1)), vreinterpretq_s8_s32(vzip2q_s32(a1, b1))};
        #pragma GCC unroll 2
        for (int q = 0; q < 2; ++q) {
          const std::byte* xq = x + 64 * q + 4 * step;
          const int8x16_t xs = vcombine_s8(vld1_s8(reinterpret_cast<const std::int8_t*>(xq)),
                                           vld1_s8(reinterpret_cast<const std::int8_t*>(xq + 32)));
          #pragma GCC unroll 4
          for (int p = 0; p < 4; ++p) acc[p][q] = vmmlaq_s32(acc[p][q], w[p], xs);
        }
      }
    }
    #pragma GCC unroll 2
    for (int q = 0; q < 2; ++q) {
      lo[2 * q] = vuzp1q_s32(acc[0][q], acc[1][q]);
      lo[2 * q + 1] = vuzp2q_s32(acc[0][q], acc[1][q]);
      hi[2 * q] = vuzp1q_s32(acc[2][q], acc[3][q]);
      hi[2 * q + 1] = vuzp2q_s32(acc[2][q], acc[3][q]);
    }
  }
};

}  // namespace

void gemm_quantized_i8mm(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
                         std::size_t tile_end) {
  const RunFn fn = pick<I8mm, static_cast<int>(kIntTileRows)>(a);
  if (fn == nullptr) {
    if (a.act.tile_rows != 1) scalar::note_packed_fallback(a);  // the GEMV is dotprod's by design
    gemm_quantized_dotprod(a, row_begin, row_end, tile_begin, tile_end);
    return;
  }
  fn(a, row_begin, row_end, tile_begin, tile_end);
}

}  // namespace qlinear::kernels::neon
