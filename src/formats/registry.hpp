#pragma once
// The one table of formats. Kernels, I/O and the CLI ask it; nothing else switches on the format to
// learn a block size or find a reference function.

#include <qlinear/format.hpp>
#include <qlinear/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace qlinear::formats {

// Row functions on whole blocks: n is a multiple of the block size.
using QuantizeRowFn = void (*)(const float* x, void* blocks, std::size_t n);
using DequantizeRowFn = void (*)(const void* blocks, float* y, std::size_t n);
// With importance: one weight >= 0 per input of the row (n values).
using QuantizeRowWeightedFn = void (*)(const float* x, void* blocks, std::size_t n, const float* importance);

struct FormatTraits {
  FormatInfo info;
  QuantizeRowFn quantize_row_ref;      // null for the affine formats (they need their scales)
  DequantizeRowFn dequantize_row_ref;  // null for the affine formats
  QuantizeRowWeightedFn quantize_row_weighted_ref;  // null where ggml ignores importance
  Format activation;                   // what the integer kernels quantize activations to
};

const FormatTraits& traits(Format format);

// Whether any of n floats has |bits| >= limit_bits (0x7f800000: NaN or Inf; 0x477ff000: also
// rounds to Inf in f16).
using OutOfRangeFn = bool (*)(const float* x, std::size_t n, std::uint32_t limit_bits);
bool any_out_of_range_ref(const float* x, std::size_t n, std::uint32_t limit_bits);
// The limit quantize() checks a format's weights against: f16 also refuses what rounds to Inf.
std::uint32_t out_of_range_limit(Format format) noexcept;

// quantize() with the block rows checked by check_fn and quantized by row_fn (bytes identical to
// the reference's); a null pointer means the reference. The kernels layer passes its fastest ones.
// With importance weights, rows go to the format's weighted quantizer instead (row_fn is not used).
QuantizedTensor quantize_with(std::span<const float> w, std::size_t rows, std::size_t cols, Format format,
                              const QuantizeOptions& options, QuantizeRowFn row_fn, OutOfRangeFn check_fn);

// The checks quantize() makes before it quantizes (shape, importance, NaN/Inf and the f16 range),
// for other ways of choosing codes (src/methods/). Throws the same Errors.
void check_quantize_input(std::span<const float> w, std::size_t rows, std::size_t cols, Format format,
                          std::span<const float> importance);

// Bytes that `cols` weights take once padded to the format's row alignment.
std::size_t padded_row_bytes(const FormatInfo& info, std::size_t cols);

}  // namespace qlinear::formats
