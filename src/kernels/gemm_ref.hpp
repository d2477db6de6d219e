#pragma once
// The reference product: each weight row is dequantized once, then dotted with every input row in
// double precision. Slow and exact up to the final rounding to float; the fast kernels are checked
// against it and fall back to it where they have no path.

#include "formats/weight_view.hpp"

#include <cstddef>

namespace qlinear::kernels {

// y[b·rows + r] = Σ_c x[b·cols + c] · w[r, c] + (bias ? bias[r] : 0), for b < batch and r < rows.
void gemm_dequant_ref(const formats::WeightView& w, const float* x, std::size_t batch,
                      const float* bias, float* y);

}  // namespace qlinear::kernels
