#pragma once
// GPTQ (Frantar et al., 2022): quantize the columns of W one after another and spread each column's
// error over the columns not yet quantized, weighted by the inverse of the inputs' XᵀX, so that the
// layer's output X·Wᵀ, not W itself, stays close.

#include "methods/codecs.hpp"
#include "methods/kquant_codec.hpp"

#include <qlinear/calibration.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace qlinear::methods {

// The upper-triangular U with Uᵀ·U = (H + λ·I)⁻¹, H = XᵀX with its rows and columns taken in
// `order` (column i of w is column order[i] of the calibration), λ = damping · mean(diag H),
// row-major [cols, cols] in float. A column no input ever reached (diag 0) is "dead": its weights in w
// ([rows, cols], row-major) are set to 0 and its H[i,i] to 1 first. Throws Error(invalid_argument)
// when the damped matrix is still not positive definite (telling to raise the damping).
std::vector<float> gptq_factor(const Calibration& calibration, std::span<const std::size_t> order, double damping,
                               std::span<float> w, std::size_t rows, std::size_t cols);

// Method::search with a calibration: the same compensation restricted to windows of `window`
// columns (the block-diagonal of XᵀX), so that each block's levels minimize the block's own output
// error (w − q)ᵀ·H_bb·(w − q) with no effect on other blocks. The factors of the windows, each
// [window, window] (the last one's real size may be shorter), one after another; dead columns and
// damping as gptq_factor.
std::vector<float> local_factors(const Calibration& calibration, std::span<const std::size_t> order, double damping,
                                 std::span<float> w, std::size_t rows, std::size_t cols, std::size_t window);

// Quantizes w ([rows, cols], compensated in place) column by column. With group > 0, the params of
// row r's group g (columns [g·group, (g+1)·group)) are chosen by codec.choose_compensated from the
// compensated weights when the group's first column comes, with importance[columns of the group]
// and the group's rows of u (the legacy formats judge their best candidates by GPTQ's own loss); with
// group == 0, params (one per row) are given. codes receives rows × cols levels. A codec whose
// nearest/value take the column's place in its group (the K-quants: nearest(p, pos, x)) gets it.
template <class Codec>
void gptq_quantize(const Codec& codec, std::span<float> w, std::size_t rows, std::size_t cols,
                   const std::vector<float>& u, std::span<const float> importance, std::size_t group,
                   std::vector<typename Codec::Params>& params, std::vector<std::int16_t>& codes);

// The windows' compensation with local_factors: levels rounded column by column with the error
// spread inside the window only. With group == window the params of each window are chosen by
// codec.choose_compensated with the window's factor (params receives rows × windows); otherwise
// they are given: one per row (group 0) or per group of `group` columns (a multiple of window),
// chosen before. codes receives rows × cols.
template <class Codec>
void local_quantize(const Codec& codec, std::span<float> w, std::size_t rows, std::size_t cols,
                    const std::vector<float>& factors, std::span<const float> importance, std::size_t window,
                    std::size_t group, std::vector<typename Codec::Params>& params, std::vector<std::int16_t>& codes);

extern template void local_quantize<LegacyGroupCodec>(const LegacyGroupCodec&, std::span<float>, std::size_t,
                                                      std::size_t, const std::vector<float>&,
                                                      std::span<const float>, std::size_t, std::size_t,
                                                      std::vector<LegacyParams>&, std::vector<std::int16_t>&);
extern template void local_quantize<AffineGroupCodec>(const AffineGroupCodec&, std::span<float>, std::size_t,
                                                      std::size_t, const std::vector<float>&,
                                                      std::span<const float>, std::size_t, std::size_t,
                                                      std::vector<formats::AffineParams>&,
                                                      std::vector<std::int16_t>&);
extern template void gptq_quantize<LegacyGroupCodec>(const LegacyGroupCodec&, std::span<float>, std::size_t,
                                                     std::size_t, const std::vector<float>&,
                                                     std::span<const float>, std::size_t,
                                                     std::vector<LegacyParams>&, std::vector<std::int16_t>&);
extern template void gptq_quantize<AffineGroupCodec>(const AffineGroupCodec&, std::span<float>, std::size_t,
                                                     std::size_t, const std::vector<float>&,
                                                     std::span<const float>, std::size_t,
                                                     std::vector<formats::AffineParams>&,
                                                     std::vector<std::int16_t>&);
extern template void gptq_quantize<KQuantGroupCodec<1>>(const KQuantGroupCodec<1>&, std::span<float>, std::size_t,
                                                        std::size_t, const std::vector<float>&,
                                                        std::span<const float>, std::size_t,
                                                        std::vector<KQuantParams<1>>&, std::vector<std::int16_t>&);
extern template void gptq_quantize<KQuantGroupCodec<8>>(const KQuantGroupCodec<8>&, std::span<float>, std::size_t,
                                                        std::size_t, const std::vector<float>&,
                                                        std::span<const float>, std::size_t,
                                                        std::vector<KQuantParams<8>>&, std::vector<std::int16_t>&);
extern template void gptq_quantize<KQuantGroupCodec<16>>(const KQuantGroupCodec<16>&, std::span<float>, std::size_t,
                                                         std::size_t, const std::vector<float>&,
                                                         std::span<const float>, std::size_t,
                                                         std::vector<KQuantParams<16>>&, std::vector<std::int16_t>&);

#define QLINEAR_EXTERN_LOCAL_KQUANT(S)                                                                           \
  extern template void local_quantize<KQuantGroupCodec<S>>(                                                      \
      const KQuantGroupCodec<S>&, std::span<float>, std::size_t, std::size_t, const std::vector<float>&,       \
      std::span<const float>, std::size_t, std::size_t, std::vector<KQuantParams<S>>&, std::vector<std::int16_t>&);
QLINEAR_EXTERN_LOCAL_KQUANT(1)
QLINEAR_EXTERN_LOCAL_KQUANT(8)
QLINEAR_EXTERN_LOCAL_KQUANT(16)
#undef QLINEAR_EXTERN_LOCAL_KQUANT

}  // namespace qlinear::methods
