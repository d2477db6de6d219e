#include "formats/registry.hpp"

#include "core/checked.hpp"
#include "formats/reference.hpp"

#include <qlinear/error.hpp>

#include <array>
#include <cctype>
#include <string>

namespace qlinear::formats {
namespace {

// Adapts a typed reference function to the table's untyped signature.
template <typename Block, void (*Fn)(const float*, Block*, std::size_t)>
void quantize_erased(const float* x, void* blocks, std::size_t n) {
  Fn(x, static_cast<Block*>(blocks), n);
}
template <typename Block, void (*Fn)(const Block*, float*, std::size_t)>
void dequantize_erased(const void* blocks, float* y, std::size_t n) {
  Fn(static_cast<const Block*>(blocks), y, n);
}

template <typename Block, void (*Fn)(const float*, Block*, std::size_t, const float*)>
void quantize_weighted_erased(const float* x, void* blocks, std::size_t n, const float* importance) {
  Fn(x, static_cast<Block*>(blocks), n, importance);
}

#define QLINEAR_REF(block, name) \
  &quantize_erased<block, quantize_row_##name##_ref>, &dequantize_erased<block, dequantize_row_##name##_ref>, nullptr
#define QLINEAR_WEIGHTED_REF(block, name)                                                           \
  &quantize_erased<block, quantize_row_##name##_ref>, &dequantize_erased<block, dequantize_row_##name##_ref>, \
      &quantize_weighted_erased<block, quantize_row_##name##_weighted_ref>

using F = Format;
constexpr std::size_t kNone = 1;

constexpr std::array<FormatTraits, 18> kTable = {{
    {{F::f32, "f32", 0, 1, 4, 32.0, kNone, false, "IEEE float32, unquantized"},
     QLINEAR_REF(float, f32), F::f32},
    {{F::f16, "f16", 1, 1, 2, 16.0, kNone, false, "IEEE half, round to nearest even"},
     QLINEAR_REF(std::uint16_t, f16), F::f32},
    {{F::bf16, "bf16", 30, 1, 2, 16.0, kNone, false, "bfloat16, round to nearest even"},
     QLINEAR_REF(std::uint16_t, bf16), F::f32},
    {{F::q8_0, "q8_0", 8, 32, 34, 8.5, 32, false, "ggml: d = max|w|/127, q in [-127, 127]"},
     QLINEAR_REF(block_q8_0, q8_0), F::q8_0},
    {{F::q8_1, "q8_1", 9, 32, 36, 9.0, 32, false, "ggml: q8_0 plus d·sum(q); activation format"},
     QLINEAR_REF(block_q8_1, q8_1), F::q8_1},
    {{F::q4_0, "q4_0", 2, 32, 18, 4.5, 32, false, "ggml: d = extreme/-8, q in [0, 15] - 8"},
     QLINEAR_WEIGHTED_REF(block_q4_0, q4_0), F::q8_0},
    {{F::q4_1, "q4_1", 3, 32, 20, 5.0, 32, false, "ggml: d = (max-min)/15, offset m = min"},
     QLINEAR_WEIGHTED_REF(block_q4_1, q4_1), F::q8_1},
    {{F::q5_0, "q5_0", 6, 32, 22, 5.5, 32, false, "ggml: d = extreme/-16, q in [0, 31] - 16"},
     QLINEAR_WEIGHTED_REF(block_q5_0, q5_0), F::q8_0},
    {{F::q5_1, "q5_1", 7, 32, 24, 6.0, 32, false, "ggml: d = (max-min)/31, offset m = min"},
     QLINEAR_WEIGHTED_REF(block_q5_1, q5_1), F::q8_1},
    {{F::q2_K, "q2_K", 10, 256, 84, 2.625, 256, false, "ggml K-quant: 16×16, 4-bit scales and mins, q in [0, 3]"},
     QLINEAR_WEIGHTED_REF(block_q2_K, q2_K), F::q8_1},
    {{F::q3_K, "q3_K", 11, 256, 110, 3.4375, 256, false, "ggml K-quant: 16×16, 6-bit scales, q in [0, 7] - 4"},
     QLINEAR_WEIGHTED_REF(block_q3_K, q3_K), F::q8_0},
    {{F::q4_K, "q4_K", 12, 256, 144, 4.5, 256, false, "ggml K-quant: 8×32, 6-bit scales and mins, q in [0, 15]"},
     QLINEAR_WEIGHTED_REF(block_q4_K, q4_K), F::q8_1},
    {{F::q5_K, "q5_K", 13, 256, 176, 5.5, 256, false, "ggml K-quant: 8×32, 6-bit scales and mins, q in [0, 31]"},
     QLINEAR_WEIGHTED_REF(block_q5_K, q5_K), F::q8_1},
    {{F::q6_K, "q6_K", 14, 256, 210, 6.5625, 256, false, "ggml K-quant: 16×16, 8-bit scales, q in [0, 63] - 32"},
     QLINEAR_WEIGHTED_REF(block_q6_K, q6_K), F::q8_0},
    {{F::iq4_nl, "iq4_nl", 20, 32, 18, 4.5, 32, false, "ggml i-quant: blocks of 32 on a 16-value non-linear grid"},
     QLINEAR_WEIGHTED_REF(block_iq4_nl, iq4_nl), F::q8_0},
    {{F::iq4_xs, "iq4_xs", 23, 256, 136, 4.25, 256, false, "ggml i-quant: iq4_nl grid, 8×32, 6-bit scales"},
     QLINEAR_WEIGHTED_REF(block_iq4_xs, iq4_xs), F::q8_0},
    {{F::i8, "i8", -1, 1, 1, 8.0, 32, true, "affine int8 + f32 scales (+ u8 zero points)"},
     nullptr, nullptr, nullptr, F::q8_0},
    {{F::i4, "i4", -1, 2, 1, 4.0, 32, true, "affine int4, 2 per byte + f32 scales (+ zero points)"},
     nullptr, nullptr, nullptr, F::q8_0},
}};

#undef QLINEAR_REF
#undef QLINEAR_WEIGHTED_REF

constexpr bool table_follows_enum() {
  for (std::size_t i = 0; i < kTable.size(); ++i) {
    if (static_cast<std::size_t>(kTable[i].info.format) != i) return false;
  }
  return true;
}
static_assert(table_follows_enum(), "kTable rows must be in the order of the Format enum");

}  // namespace

const FormatTraits& traits(Format format) {
  const auto index = static_cast<std::size_t>(format);
  if (index >= kTable.size()) {
    throw Error(ErrorCode::unknown_format, "unknown format id " + std::to_string(index));
  }
  return kTable[index];
}

std::size_t padded_row_bytes(const FormatInfo& info, std::size_t cols) {
  const std::size_t padded = core::checked_add(cols, info.row_alignment - 1, "row length") /
                             info.row_alignment * info.row_alignment;
  return core::checked_mul(padded / info.block_size, info.block_bytes, "row bytes");
}

}  // namespace qlinear::formats

namespace qlinear {

namespace {
bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}
}  // namespace

Format parse_format(std::string_view name) {
  std::string valid;
  for (const auto& entry : formats::kTable) {
    if (equal_ignoring_case(entry.info.name, name)) return entry.info.format;
    if (!valid.empty()) valid += ", ";
    valid += entry.info.name;
  }
  throw Error(ErrorCode::unknown_format,
              "unknown format '" + std::string(name) + "'; valid formats: " + valid);
}

std::string_view format_name(Format format) noexcept {
  const auto index = static_cast<std::size_t>(format);
  return index < formats::kTable.size() ? formats::kTable[index].info.name : "unknown";
}

const FormatInfo& format_info(Format format) { return formats::traits(format).info; }

std::span<const FormatInfo> all_formats() noexcept {
  static const std::array<FormatInfo, formats::kTable.size()> infos = [] {
    std::array<FormatInfo, formats::kTable.size()> out{};
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = formats::kTable[i].info;
    return out;
  }();
  return infos;
}

}  // namespace qlinear
