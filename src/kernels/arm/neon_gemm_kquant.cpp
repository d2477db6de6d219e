// The neon level's K-quant and i-quant kernels (ARMv8.0 Advanced SIMD; compiled with -march=armv8-a):
// q2_K … q6_K, iq4_nl and iq4_xs on the packed super records (neon_kquant_panels.hpp), the scalar
// kernel where the layer has no packed copy.

#include "kernels/arm/neon.hpp"
#include "kernels/arm/neon_kquant_panels.hpp"
#include "kernels/scalar_kernels.hpp"

namespace qlinear::kernels::neon {

void gemm_kquant(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
                 std::size_t tile_end) {
  const KQuantRunFn fn = pick_kquant<false>(a);
  if (fn == nullptr) {
    scalar::gemm_quantized(a, row_begin, row_end, tile_begin, tile_end);
    return;
  }
  fn(a, row_begin, row_end, tile_begin, tile_end);
}

}  // namespace qlinear::kernels::neon
