// quantize() with Method::search or Method::gptq: validation, the importance to search with, and the
// tensors built from the chosen params and levels.
//
// Who does what: q4_0, q4_1, q5_0, q5_1 and q8_0 search their block scales here (legacy_codec.cpp);
// q2_K … q6_K, iq4_nl and iq4_xs search their super-scales, sub-scales (and mins) jointly, with
// ggml's weighted quantizer as a competitor (kquant_codec.hpp, kquant_search.cpp; with a calibration,
// each block under its own part of XᵀX, as gptq chooses a block); i8/i4 search with
// their importance-weighted mse calibration; f32, f16, bf16 and q8_1 have nothing to search and are
// quantized as by Method::reference. gptq covers the legacy block formats, the K-quants and iq4
// (a group is a block of 256, iq4_nl's of 32) and i8/i4 at every granularity; f32, f16, bf16 and
// q8_1 throw Error(unsupported).

#include "core/thread_pool.hpp"
#include "formats/affine.hpp"
#include "formats/registry.hpp"
#include "formats/tensor_builder.hpp"
#include "methods/codecs.hpp"
#include "methods/gptq.hpp"
#include "methods/kquant_codec.hpp"
#include "methods/methods.hpp"

#include <qlinear/calibration.hpp>
#include <qlinear/error.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace qlinear::methods {
namespace {

using Granularity = AffineOptions::Granularity;
constexpr std::size_t kBlock = 32;

// options.importance, else the calibration's mean x², else uniform.
std::vector<float> importance_for(const QuantizeOptions& options, std::size_t cols) {
  if (!options.importance.empty()) return {options.importance.begin(), options.importance.end()};
  if (options.calibration != nullptr) return options.calibration->importance();
  return std::vector<float>(cols, 1.0f);
}

// A block tensor from the params of every (row, block) and the levels of the real columns; the
// padding columns get the level nearest to 0.
QuantizedTensor build_legacy(const LegacyGroupCodec& codec, std::size_t rows, std::size_t cols,
                             const std::vector<LegacyParams>& params, const std::vector<std::int16_t>& codes) {
  std::byte* storage = nullptr;
  QuantizedTensor t = TensorBuilder::allocate(codec.codec.format, rows, cols, storage, /*zeroed=*/false);
  const std::size_t blocks = t.padded_cols() / kBlock;
  core::parallel_for(rows, [&](std::size_t r) {
    for (std::size_t b = 0; b < blocks; ++b) {
      const LegacyParams& p = params[r * blocks + b];
      int q[kBlock];
      for (std::size_t i = 0; i < kBlock; ++i) {
        const std::size_t c = b * kBlock + i;
        q[i] = c < cols ? codes[r * cols + c] : codec.nearest(p, 0.0f);
      }
      encode_block(codec.codec, p, q, storage + r * t.row_bytes() + b * codec.codec.block_bytes);
    }
  });
  return t;
}

// GPTQ's "act order", kept inside each group so that groups stay contiguous: the columns whose
// inputs carry the most energy (largest Σx²) are quantized first, while the most columns remain to
// absorb their error. Whole rows for one scale per row or tensor. Ties keep the column order.
std::vector<std::size_t> gptq_order(const Calibration& c, std::size_t cols, std::size_t group) {
  std::vector<std::size_t> order(cols);
  for (std::size_t i = 0; i < cols; ++i) order[i] = i;
  const std::vector<double> energy = c.sum_squares();
  const std::size_t span = group ? group : cols;
  for (std::size_t begin = 0; begin < cols; begin += span) {
    std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(begin),
                     order.begin() + static_cast<std::ptrdiff_t>(std::min(cols, begin + span)),
                     [&](std::size_t a, std::size_t b) { return energy[a] > energy[b]; });
  }
  return order;
}

// The weights and importance with their columns in `order`.
struct Permuted {
  std::vector<float> w, importance;
};
Permuted permute(std::span<const float> w, std::size_t rows, std::size_t cols, const std::vector<float>& importance,
                 const std::vector<std::size_t>& order) {
  Permuted p{std::vector<float>(rows * cols), std::vector<float>(cols)};
  for (std::size_t j = 0; j < cols; ++j) p.importance[j] = importance[order[j]];
  core::parallel_for(rows, [&](std::size_t r) {
    for (std::size_t j = 0; j < cols; ++j) p.w[r * cols + j] = w[r * cols + order[j]];
  });
  return p;
}

// Levels found in permuted column order, back in the tensor's order.
std::vector<std::int16_t> unpermute(const std::vector<std::int16_t>& codes, std::size_t rows, std::size_t cols,
                                    const std::vector<std::size_t>& order) {
  std::vector<std::int16_t> out(codes.size());
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t j = 0; j < cols; ++j) out[r * cols + order[j]] = codes[r * cols + j];
  }
  return out;
}

QuantizedTensor search_legacy(const LegacyGroupCodec& codec, std::span<const float> w, std::size_t rows,
                              std::size_t cols, const std::vector<float>& importance) {
  const std::size_t blocks = (cols + kBlock - 1) / kBlock;
  std::vector<LegacyParams> params(rows * blocks);
  std::vector<std::int16_t> codes(rows * cols);
  core::parallel_for(rows, [&](std::size_t r) {
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::size_t begin = b * kBlock, len = std::min(kBlock, cols - begin);
      const float* x = w.data() + r * cols + begin;
      const LegacyParams p = codec.choose(x, importance.data() + begin, len);
      params[r * blocks + b] = p;
      for (std::size_t i = 0; i < len; ++i) {
        codes[r * cols + begin + i] = static_cast<std::int16_t>(codec.nearest(p, x[i]));
      }
    }
  });
  return build_legacy(codec, rows, cols, params, codes);
}

// Method::search with a calibration: each block's params and levels minimize the block's own
// output error under the block-diagonal of XᵀX (local_quantize), columns in act order inside it.
QuantizedTensor search_legacy_local(const LegacyGroupCodec& codec, std::span<const float> w, std::size_t rows,
                                    std::size_t cols, const QuantizeOptions& options,
                                    const std::vector<float>& importance) {
  const std::vector<std::size_t> order = gptq_order(*options.calibration, cols, kBlock);
  Permuted work = permute(w, rows, cols, importance, order);
  const std::vector<float> factors =
      local_factors(*options.calibration, order, options.damping, work.w, rows, cols, kBlock);
  std::vector<LegacyParams> params;
  std::vector<std::int16_t> codes;
  local_quantize(codec, std::span<float>(work.w), rows, cols, factors, work.importance, kBlock, kBlock, params,
                 codes);
  return build_legacy(codec, rows, cols, params, unpermute(codes, rows, cols, order));
}

QuantizedTensor gptq_legacy(const LegacyGroupCodec& codec, std::span<const float> w, std::size_t rows,
                            std::size_t cols, const QuantizeOptions& options, const std::vector<float>& importance) {
  const std::vector<std::size_t> order = gptq_order(*options.calibration, cols, kBlock);
  Permuted work = permute(w, rows, cols, importance, order);
  const std::vector<float> u = gptq_factor(*options.calibration, order, options.damping, work.w, rows, cols);
  std::vector<LegacyParams> params;
  std::vector<std::int16_t> codes;
  gptq_quantize(codec, std::span<float>(work.w), rows, cols, u, work.importance, kBlock, params, codes);
  return build_legacy(codec, rows, cols, params, unpermute(codes, rows, cols, order));
}

// i8/i4 with error compensation: params per tensor or row chosen up front from the weights (with
// dead columns zeroed), per group when the group starts; then the tensor as quantize() lays it out.
// Method::search with a calibration: the same, the compensation kept inside windows of 32 columns
// (or of the group, for a group size that 32 does not divide) and every params chosen up front.
QuantizedTensor compensated_affine(Format format, std::span<const float> w, std::size_t rows, std::size_t cols,
                            const QuantizeOptions& options, const std::vector<float>& importance) {
  AffineOptions affine = options.affine;
  affine.calibration = AffineOptions::Calibration::mse;
  std::byte* storage = nullptr;
  QuantizedTensor t = TensorBuilder::allocate(format, rows, cols, storage);
  const AffineLayout layout = affine_layout(affine, rows, t.padded_cols());
  const AffineGroupCodec codec{formats::affine_spec(format, affine), affine};

  const std::size_t group = affine.granularity == Granularity::group ? layout.group_size : 0;
  const bool local = options.method == Method::search;
  const std::size_t window = group && group % kBlock != 0 ? group : kBlock;
  const std::vector<std::size_t> order = gptq_order(*options.calibration, cols, local ? window : group);
  Permuted work = permute(w, rows, cols, importance, order);
  const std::vector<float> u =
      local ? local_factors(*options.calibration, order, options.damping, work.w, rows, cols, window)
            : gptq_factor(*options.calibration, order, options.damping, work.w, rows, cols);
  // One scale per tensor or row: chosen before any compensation (from the weights with dead columns
  // zeroed), in the permuted order, which the choice does not depend on beyond summation order.
  std::vector<formats::AffineParams> params;
  if (affine.granularity == Granularity::tensor) {
    params.assign(rows, codec.choose(work.w.data(), work.importance.data(), rows * cols, cols));
  } else if (affine.granularity == Granularity::channel) {
    params.resize(rows);
    core::parallel_for(rows, [&](std::size_t r) {
      params[r] = codec.choose(work.w.data() + r * cols, work.importance.data(), cols);
    });
  }
  const std::size_t real_groups = group ? (cols + group - 1) / group : 1;
  if (local && group) {
    params.resize(rows * real_groups);
    core::parallel_for(rows, [&](std::size_t r) {
      for (std::size_t g = 0; g < real_groups; ++g) {
        const std::size_t begin = g * group;
        params[r * real_groups + g] = codec.choose(work.w.data() + r * cols + begin, work.importance.data() + begin,
                                                   std::min(group, cols - begin));
      }
    });
  }
  std::vector<std::int16_t> codes;
  if (local) {
    local_quantize(codec, std::span<float>(work.w), rows, cols, u, work.importance, window, group, params, codes);
  } else {
    gptq_quantize(codec, std::span<float>(work.w), rows, cols, u, work.importance, group, params, codes);
  }
  codes = unpermute(codes, rows, cols, order);

  // The stored scales: groups past the real columns (all padding) are calibrated as quantize()
  // does, from no weights at all.
  const formats::AffineParams empty = codec.choose(nullptr, nullptr, 0);
  std::vector<float> scales(layout.scale_count);
  std::vector<std::uint8_t> zero_points(affine.symmetric ? 0 : layout.scale_count);
  for (std::size_t i = 0; i < layout.scale_count; ++i) {
    const std::size_t r = i / layout.groups_per_row, g = i % layout.groups_per_row;
    const formats::AffineParams p = g < real_groups ? params[r * real_groups + g] : empty;
    scales[i] = p.scale;
    if (!affine.symmetric) zero_points[i] = p.zero_point;
  }
  core::parallel_for(rows, [&](std::size_t r) {
    std::byte* row = storage + r * t.row_bytes();
    for (std::size_t c = 0; c < t.padded_cols(); ++c) {
      const std::size_t g = group ? c / group : 0;
      const formats::AffineParams p = g < real_groups ? params[r * real_groups + g] : empty;
      const int q = c < cols ? codes[r * cols + c] : codec.nearest(p, 0.0f);
      formats::store_affine_code(row, c, q, codec.spec);
    }
  });
  TensorBuilder::set_affine(t, affine, layout, std::move(scales), std::move(zero_points));
  return t;
}

// A K-quant or iq4 tensor from the params of every (row, block) and the codes of the real
// columns; the padding columns get the level nearest to 0.
template <std::size_t S>
QuantizedTensor build_kquant(const KQuantGroupCodec<S>& codec, std::size_t rows, std::size_t cols,
                             const std::vector<KQuantParams<S>>& params, const std::vector<std::int16_t>& codes) {
  const KQuantLayout& l = codec.layout;
  std::byte* storage = nullptr;
  QuantizedTensor t = TensorBuilder::allocate(l.format, rows, cols, storage, /*zeroed=*/false);
  const std::size_t blocks = t.padded_cols() / l.block;
  core::parallel_for(rows, [&](std::size_t r) {
    std::uint8_t q[256];
    for (std::size_t b = 0; b < blocks; ++b) {
      const KQuantParams<S>& p = params[r * blocks + b];
      for (std::size_t i = 0; i < l.block; ++i) {
        const std::size_t c = b * l.block + i;
        q[i] = static_cast<std::uint8_t>(c < cols ? codes[r * cols + c] : codec.nearest(p, i, 0.0f));
      }
      encode_kquant_block(l, p, q, storage + r * t.row_bytes() + b * l.block_bytes);
    }
  });
  return t;
}

template <std::size_t S>
QuantizedTensor search_kquant(const KQuantGroupCodec<S>& codec, std::span<const float> w, std::size_t rows,
                              std::size_t cols, const std::vector<float>& importance) {
  const std::size_t block = codec.layout.block, blocks = (cols + block - 1) / block;
  std::vector<KQuantParams<S>> params(rows * blocks);
  std::vector<std::int16_t> codes(rows * cols);
  core::parallel_for(rows, [&](std::size_t r) {
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::size_t begin = b * block, len = std::min(block, cols - begin);
      const float* x = w.data() + r * cols + begin;
      const KQuantParams<S> p = codec.choose(x, importance.data() + begin, len);
      params[r * blocks + b] = p;
      for (std::size_t i = 0; i < len; ++i) {
        codes[r * cols + begin + i] = static_cast<std::int16_t>(codec.nearest(p, i, x[i]));
      }
    }
  });
  return build_kquant(codec, rows, cols, params, codes);
}

// The group is the block (all its params chosen when its first column comes); act order is kept
// inside each sub-block, so that every column stays under its own sub-scale.
template <std::size_t S>
QuantizedTensor gptq_kquant(const KQuantGroupCodec<S>& codec, std::span<const float> w, std::size_t rows,
                            std::size_t cols, const QuantizeOptions& options, const std::vector<float>& importance) {
  const std::vector<std::size_t> order = gptq_order(*options.calibration, cols, codec.layout.sub);
  Permuted work = permute(w, rows, cols, importance, order);
  const std::vector<float> u = gptq_factor(*options.calibration, order, options.damping, work.w, rows, cols);
  std::vector<KQuantParams<S>> params;
  std::vector<std::int16_t> codes;
  gptq_quantize(codec, std::span<float>(work.w), rows, cols, u, work.importance, codec.layout.block, params, codes);
  return build_kquant(codec, rows, cols, params, unpermute(codes, rows, cols, order));
}

// Method::search with a calibration: each block (the codec's group: 256, iq4_nl's 32) quantized as
// gptq would quantize it if the other blocks did not exist, with the factor of its own part of XᵀX;
// act order inside each sub-block, as gptq keeps it.
template <std::size_t S>
QuantizedTensor search_kquant_local(const KQuantGroupCodec<S>& codec, std::span<const float> w, std::size_t rows,
                                    std::size_t cols, const QuantizeOptions& options,
                                    const std::vector<float>& importance) {
  const std::size_t block = codec.layout.block;
  const std::vector<std::size_t> order = gptq_order(*options.calibration, cols, codec.layout.sub);
  Permuted work = permute(w, rows, cols, importance, order);
  const std::vector<float> factors =
      local_factors(*options.calibration, order, options.damping, work.w, rows, cols, block);
  std::vector<KQuantParams<S>> params;
  std::vector<std::int16_t> codes;
  local_quantize(codec, std::span<float>(work.w), rows, cols, factors, work.importance, block, block, params, codes);
  return build_kquant(codec, rows, cols, params, unpermute(codes, rows, cols, order));
}

template <std::size_t S>
QuantizedTensor kquant_by_method(const KQuantLayout& layout, std::span<const float> w, std::size_t rows,
                                 std::size_t cols, const QuantizeOptions& options,
                                 const std::vector<float>& importance) {
  const KQuantGroupCodec<S> codec{layout};
  if (options.method == Method::gptq) return gptq_kquant(codec, w, rows, cols, options, importance);
  return options.calibration != nullptr ? search_kquant_local(codec, w, rows, cols, options, importance)
                                        : search_kquant(codec, w, rows, cols, importance);
}

}  // namespace

QuantizedTensor quantize_by_method(std::span<const float> w, std::size_t rows, std::size_t cols, Format format,
                                   const QuantizeOptions& options) {
  formats::check_quantize_input(w, rows, cols, format, options.importance);
  if (options.calibration != nullptr && options.calibration->in_features() != cols) {
    throw Error(ErrorCode::size_mismatch, "the calibration has " + std::to_string(options.calibration->in_features()) +
                                              " inputs, the weights " + std::to_string(cols) + " columns");
  }
  if (options.method == Method::gptq && options.calibration == nullptr) {
    throw Error(ErrorCode::invalid_argument, "Method::gptq needs a Calibration (QuantizeOptions::calibration)");
  }
  if (!std::isfinite(options.damping) || options.damping < 0.0) {
    throw Error(ErrorCode::invalid_argument, "damping " + std::to_string(options.damping) + " must be finite and >= 0");
  }
  const std::vector<float> importance = importance_for(options, cols);
  const formats::FormatTraits& traits = formats::traits(format);

  if (const auto legacy = legacy_codec(format)) {
    const LegacyGroupCodec codec{*legacy};
    if (options.method == Method::gptq) return gptq_legacy(codec, w, rows, cols, options, importance);
    return options.calibration != nullptr ? search_legacy_local(codec, w, rows, cols, options, importance)
                                          : search_legacy(codec, w, rows, cols, importance);
  }
  if (const auto layout = kquant_layout(format)) {
    switch (layout->subs()) {
      case 1: return kquant_by_method<1>(*layout, w, rows, cols, options, importance);
      case 8: return kquant_by_method<8>(*layout, w, rows, cols, options, importance);
      default: return kquant_by_method<16>(*layout, w, rows, cols, options, importance);
    }
  }
  if (traits.info.affine) {
    if (options.method == Method::gptq || options.calibration != nullptr) {
      return compensated_affine(format, w, rows, cols, options, importance);
    }
    QuantizeOptions mse = options;
    mse.method = Method::reference;
    mse.affine.calibration = AffineOptions::Calibration::mse;
    mse.importance = importance;
    return formats::quantize_with(w, rows, cols, format, mse, nullptr, nullptr);
  }
  if (options.method == Method::gptq) {
    throw Error(ErrorCode::unsupported,
                std::string("Method::gptq does not support ") + std::string(traits.info.name) +
                    " (supported: q4_0, q4_1, q5_0, q5_1, q8_0, q2_K … q6_K, iq4_nl, iq4_xs, i8, i4)");
  }
  QuantizeOptions weighted = options;
  weighted.method = Method::reference;
  weighted.importance = std::span<const float>();
  if (traits.quantize_row_weighted_ref) weighted.importance = importance;
  return formats::quantize_with(w, rows, cols, format, weighted, nullptr, nullptr);
}

}  // namespace qlinear::methods
