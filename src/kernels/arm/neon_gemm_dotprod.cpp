// The dotprod level's integer kernels (ARMv8.2 sdot; compiled with -march=armv8.2-a+dotprod, the
// only file that is): q4_0 and q8_0 on the packed panels (neon_panels.hpp), the scalar kernel for
// the rest.

#include "kernels/arm/neon.hpp"
#include "kernels/arm/neon_panels.hpp"
#include "kernels/scalar_kernels.hpp"

namespace qlinear::kernels::neon {

void gemm_quantized_dotprod(const GemmArgs& a, std::size_t row_begin, std::size_t row_end,
                            std::size_t tile_begin, std::size_t tile_end) {
  const RunFn fn = pick<true>(a);
  if (fn == nullptr) {
    scalar::gemm_quantized(a, row_begin, row_end, tile_begin, tile_end);
    return;
  }
  fn(a, row_begin, row_end, tile_begin, tile_end);
}

}  // namespace qlinear::kernels::neon
