#pragma once
// What search and gptq need from a format, for the formats they handle themselves: choose the
// params of one group of weights (a 32-weight block, an affine group, row or tensor), round a weight
// to the nearest level of fixed params, and the value of a level. Encoding into the tensor is in
// quantize_method.cpp.

#include "formats/affine.hpp"
#include "methods/legacy_codec.hpp"

#include <qlinear/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qlinear::methods {

struct LegacyGroupCodec {
  using Params = LegacyParams;
  LegacyCodec codec;
  // x and importance hold n <= 32 real weights of one block; the rest of the block is padding
  // (zero weights of zero importance).
  Params choose(const float* x, const float* importance, std::size_t n) const {
    float xb[32] = {}, ib[32] = {};
    for (std::size_t i = 0; i < n; ++i) xb[i] = x[i], ib[i] = importance[i];
    return search_block(codec, xb, ib, 32);
  }
  // For gptq and search with a calibration: the block's rows of the factor (u[i·ld + k] =
  // U[j+i, j+k]) judge the candidates.
  Params choose_compensated(const float* x, const float* importance, std::size_t n, const float* u,
                            std::size_t ld) const {
    float xb[32] = {}, ib[32] = {};
    for (std::size_t i = 0; i < n; ++i) xb[i] = x[i], ib[i] = importance[i];
    // A block cut short by the row's end is searched with its padding and judged on its real columns.
    return search_block_compensated(codec, xb, ib, 32, n, u, ld, kCompensatedCandidates);
  }
  int nearest(const Params& p, float x) const noexcept { return nearest_level(codec, p, x); }
  float value(const Params& p, int q) const noexcept { return level_value(codec, p, q); }
  // How many of the search's best candidates gptq judges by its own loss: every one it checks
  // exactly (q4_0 pooled eval error: 4 → 0.00724, 8 → 0.00709, 16 → 0.00709 when first measured).
  static constexpr std::size_t kCompensatedCandidates = 24;
};

struct AffineGroupCodec {
  using Params = formats::AffineParams;
  formats::AffineSpec spec;
  AffineOptions options;  // calibration = mse: the importance-weighted error search
  // period: the length importance repeats with (the row length for a per-tensor x, else n).
  Params choose(const float* x, const float* importance, std::size_t n, std::size_t period = 0) const {
    return formats::calibrate_affine({x, n}, spec, options, {importance, period ? period : n}, period ? period : n);
  }
  Params choose_compensated(const float* x, const float* importance, std::size_t n, const float*, std::size_t) const {
    return choose(x, importance, n);
  }
  int nearest(const Params& p, float x) const noexcept { return formats::quantize_affine_value(x, p, spec); }
  float value(const Params& p, int q) const noexcept { return formats::dequantize_affine_value(q, p, spec); }
};

}  // namespace qlinear::methods
