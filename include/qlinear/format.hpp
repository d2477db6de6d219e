#pragma once
// Weight formats: the ggml block formats, K-quants and i-quants (byte-identical to ggml) and
// qlinear's affine int8/int4.

#include <qlinear/export.h>
#include <cstddef>
#include <span>
#include <string_view>

namespace qlinear {

enum class Format {
  f32, f16, bf16, q8_0, q8_1, q4_0, q4_1, q5_0, q5_1,
  /* K-quants: */ q2_K, q3_K, q4_K, q5_K, q6_K,
  /* i-quants: */ iq4_nl, iq4_xs,
  /* affine: */ i8, i4
};

// Facts about a format, from the one registry table.
struct QLINEAR_API FormatInfo {
  Format format;
  std::string_view name;        // "q4_0"
  int ggml_type;                // ggml's type id, or -1 where ggml has none (affine formats)
  std::size_t block_size;       // weights per block
  std::size_t block_bytes;      // bytes per block (codes only for affine formats)
  double bits_per_weight;       // block_bytes * 8 / block_size; affine formats add their scales
  std::size_t row_alignment;    // rows are zero-padded inside qlinear to a multiple of this
  bool affine;                  // scales and zero points stored beside the codes
  std::string_view description; // one line for listings
};

QLINEAR_API
Format parse_format(std::string_view name);  // throws Error(unknown_format) listing the valid names
QLINEAR_API std::string_view format_name(Format format) noexcept;
QLINEAR_API const FormatInfo& format_info(Format format);
QLINEAR_API std::span<const FormatInfo> all_formats() noexcept;  // in the order of the Format enum

}  // namespace qlinear
