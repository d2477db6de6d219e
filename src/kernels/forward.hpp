#pragma once
// The forward pass below the API: quantize the activations once, then run the active level's
// kernel over a fixed grid of (rows × activation tiles) tasks on the thread pool.

#include "formats/weight_view.hpp"
#include "kernels/packed.hpp"

#include <qlinear/runtime.hpp>

#include <cstddef>

namespace qlinear::kernels {

// y[b·rows + r] = x_b · w_r + bias[r] (bias may be null) with the kernels of `isa`. packed may be null.
void forward(Isa isa, const formats::WeightView& w, const PackedWeights* packed, const float* x,
             std::size_t batch, const float* bias, float* y);

}  // namespace qlinear::kernels
