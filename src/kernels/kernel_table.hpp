#pragma once
// The kernel table: one row of function pointers per instruction-set level, filled once. The
// forward pass and quantize() look up the active level's row and use it for the whole call.
//
// Everything the ISA-specific files see is declared here as plain data and function pointers, so
// they need no inline function from shared headers (a shared inline function compiled with AVX2
// flags could be the copy the linker keeps for everyone).

#include "formats/error_sums.hpp"
#include "formats/registry.hpp"
#include "formats/weight_view.hpp"
#include "kernels/activations.hpp"

#include <qlinear/runtime.hpp>

#include <cstddef>
#include <cstdint>

namespace qlinear::kernels {

inline constexpr std::size_t kFormatCount = 18;
inline constexpr std::size_t kIntPanelRows = 8;
inline constexpr std::size_t kFloatPanelRows = 16;

enum class CodeBits { four, five, eight };
enum class ScaleKind { f16_per_block, f32_per_block, f32_per_row };
enum class OffsetKind { none, constant, per_block, per_row };

// Byte offsets inside one packed integer record (see packed.hpp).
struct RecordLayout {
  std::size_t mins, offsets, high, codes, bytes;
};

constexpr RecordLayout record_layout(CodeBits bits, ScaleKind scale, bool mins, OffsetKind offset) {
  RecordLayout l{};
  std::size_t at = scale == ScaleKind::f16_per_block ? 16 : scale == ScaleKind::f32_per_block ? 32 : 0;
  l.mins = at;
  at += mins ? 16 : 0;
  l.offsets = at;
  at += offset == OffsetKind::per_block ? 32 : 0;
  l.high = at;
  at += bits == CodeBits::five ? 32 : 0;
  l.codes = at;
  at += bits == CodeBits::eight ? 256 : 128;
  l.bytes = at;
  return l;
}

// The packed records of the K-quants and i-quants (packed.hpp): per panel of 8 rows, super records
// of `blocks_per_super` blocks of 32, each starting with a head of f32 vectors (d, then −dmin).
struct KQuantLayout {
  std::size_t blocks_per_super;  // 8 (256 inputs), 1 for iq4_nl
  std::size_t head;              // 32 (d) or 64 (d, −dmin) bytes
  std::size_t pairs;             // 16-byte vectors of int8 pairs per block record: 0, 1 or 2
  std::size_t high;              // 32 (q5_K's fifth bits), 64 (q6_K's high 2 bits) or 0
  std::size_t codes;             // 128 (nibbles) or 64 (q2_K's 2-bit fields)
  std::size_t block;             // bytes per block record
  std::size_t super;             // bytes per super record
};

constexpr KQuantLayout kquant_layout(Format f) {
  KQuantLayout l{8, 32, 1, 0, 128, 0, 0};
  switch (f) {
    case Format::q2_K: l.head = 64, l.pairs = 2, l.codes = 64; break;
    case Format::q4_K: l.head = 64; break;
    case Format::q5_K: l.head = 64, l.high = 32; break;
    case Format::q6_K: l.high = 64; break;
    case Format::iq4_nl: l.blocks_per_super = 1, l.pairs = 0; break;
    default: break;  // q3_K, iq4_xs
  }
  l.block = 16 * l.pairs + l.high + l.codes;
  l.super = l.head + l.blocks_per_super * l.block;
  return l;
}

// A packed weight matrix as the kernels read it (built by pack_weights()).
struct PackedView {
  const std::byte* data = nullptr;
  std::size_t panels = 0, panel_bytes = 0, blocks = 0;
  CodeBits bits = CodeBits::four;
  ScaleKind scale = ScaleKind::f16_per_block;
  bool mins = false;
  OffsetKind offset = OffsetKind::none;
  std::int32_t constant_offset = 0;
  const float* row_scales = nullptr;         // panels × 8
  const std::int32_t* row_offsets = nullptr;  // panels × 8
};

// Float activations for the float kernels, in tiles of tile_rows rows stored input-major:
// element (row t·tile_rows + i, input k) at data[(t·cols + k)·tile_rows + i]; tile_rows = 1 is the
// caller's row-major x itself.
struct FloatTiles {
  std::size_t tile_rows = 1, tiles = 0;
  const float* data = nullptr;
};

// One forward call: y[b·rows + r] = x_b · w_r + bias[r] for b < batch, r < rows.
struct GemmArgs {
  const formats::WeightView* weight = nullptr;  // the standard layout
  const PackedView* packed = nullptr;           // null when the layer has no packed copy
  ActivationTiles act;                          // integer formats
  FloatTiles xf;                                // float formats
  std::size_t batch = 0, rows = 0, cols = 0;
  const float* bias = nullptr;                  // null for none
  float* y = nullptr;
};

// Computes the outputs of rows [row_begin, row_end) for activation tiles [tile_begin, tile_end).
// row_begin is a multiple of 16; row_end is one too, or `rows`.
using GemmFn = void (*)(const GemmArgs& args, std::size_t row_begin, std::size_t row_end,
                        std::size_t tile_begin, std::size_t tile_end);

struct KernelTable {
  Isa isa;
  // f32 → the format's blocks, byte-identical to the reference; null where the reference serves.
  formats::QuantizeRowFn quantize_row[kFormatCount];
  formats::OutOfRangeFn any_out_of_range;  // the check quantize() makes on every weight
  QuantizeActivationRowFn quantize_activation_row;
  GemmFn gemm[kFormatCount];
  std::size_t int_tile_rows;    // activation rows per tile for batches > 1 (integer formats)
  std::size_t float_tile_rows;  // the same for float formats
  // Stored rows (aligned for their type) → f32, bit-identical to the reference dequantizers (f16/bf16
  // input conversion, the restored rows of the statistics); null for the affine formats.
  formats::DequantizeRowFn dequantize_row[kFormatCount];
  formats::AccumulateErrorFn accumulate_error;  // the statistics' sums, bit-identical to the reference
};

const KernelTable& kernel_table(Isa isa);
const KernelTable& active_kernels();  // kernel_table(active_isa())

}  // namespace qlinear::kernels
