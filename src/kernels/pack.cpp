// Repacking a QuantizedTensor into the interleaved panels of packed.hpp.

#include "core/aligned.hpp"
#include "core/checked.hpp"
#include "formats/blocks.hpp"
#include "formats/weight_view.hpp"
#include "kernels/packed.hpp"

#include <cstring>

namespace qlinear::kernels {
namespace {

struct IntFormat {
  CodeBits bits;
  ScaleKind scale;
  bool mins;
  OffsetKind offset;
  std::int32_t constant_offset;
  std::size_t block_bytes;  // standard layout: bytes per block of 32 (codes only for affine)
  std::size_t scale_at, min_at, high_at, qs_at;  // standard block: offsets of d, m, qh, qs
};

// The packed description of an integer format, or false when the packed kernels do not serve it.
bool describe(const formats::WeightView& w, IntFormat& f) {
  using formats::block_q4_1;
  using formats::block_q5_0;
  using formats::block_q5_1;
  switch (w.format) {
    case Format::q4_0: f = {CodeBits::four, ScaleKind::f16_per_block, false, OffsetKind::constant, 8, 18, 0, 0, 0, 2}; return true;
    case Format::q4_1: f = {CodeBits::four, ScaleKind::f16_per_block, true, OffsetKind::none, 0, 20, 0, 2, 0, 4}; return true;
    case Format::q5_0: f = {CodeBits::five, ScaleKind::f16_per_block, false, OffsetKind::constant, 16, 22, 0, 0, 2, 6}; return true;
    case Format::q5_1: f = {CodeBits::five, ScaleKind::f16_per_block, true, OffsetKind::none, 0, 24, 0, 2, 4, 8}; return true;
    case Format::q8_0: f = {CodeBits::eight, ScaleKind::f16_per_block, false, OffsetKind::constant, 128, 34, 0, 0, 0, 2}; return true;
    case Format::q8_1: f = {CodeBits::eight, ScaleKind::f16_per_block, false, OffsetKind::constant, 128, 36, 0, 0, 0, 4}; return true;
    case Format::i4:
    case Format::i8: {
      const bool per_row = w.per_tensor || w.groups_per_row == 1;
      if (!per_row && w.group_size % 32 != 0) return false;  // groups inside a block: scalar
      const bool eight = w.format == Format::i8;
      f.bits = eight ? CodeBits::eight : CodeBits::four;
      f.scale = per_row ? ScaleKind::f32_per_row : ScaleKind::f32_per_block;
      f.mins = false;
      if (w.symmetric) {
        f.offset = OffsetKind::constant;
        f.constant_offset = eight ? 128 : 8;
      } else {
        f.offset = per_row ? OffsetKind::per_row : OffsetKind::per_block;
        f.constant_offset = 0;
      }
      f.block_bytes = eight ? 32 : 16;
      f.scale_at = f.min_at = f.high_at = f.qs_at = 0;
      return true;
    }
    default: return false;
  }
}

// The integer offset o of row r at input c (see packed.hpp): the zero point, whose codes are
// stored as they are (unsigned) for i8 and i4 alike.
std::int32_t affine_offset(const formats::WeightView& w, std::size_t r, std::size_t c) {
  return w.zero_points[w.scale_index(r, c)];
}

std::shared_ptr<PackedWeights> pack_integer(const formats::WeightView& w, const IntFormat& f) {
  auto packed = std::make_shared<PackedWeights>();
  PackedView& v = packed->view;
  v.bits = f.bits;
  v.scale = f.scale;
  v.mins = f.mins;
  v.offset = f.offset;
  v.constant_offset = f.constant_offset;
  v.blocks = w.padded_cols / 32;
  v.panels = (w.rows + kIntPanelRows - 1) / kIntPanelRows;
  const RecordLayout l = record_layout(f.bits, f.scale, f.mins, f.offset);
  v.panel_bytes = core::checked_mul(v.blocks, l.bytes, "packed panel bytes");
  packed->storage = core::allocate_zeroed(core::checked_mul(v.panels, v.panel_bytes, "packed bytes"));
  if (f.scale == ScaleKind::f32_per_row) packed->row_scales.assign(v.panels * kIntPanelRows, 0.0f);
  if (f.offset == OffsetKind::per_row) packed->row_offsets.assign(v.panels * kIntPanelRows, 0);

  const bool affine = w.format == Format::i4 || w.format == Format::i8;
  for (std::size_t r = 0; r < w.rows; ++r) {
    const std::size_t p = r / kIntPanelRows, i = r % kIntPanelRows;
    std::byte* panel = packed->storage.get() + p * v.panel_bytes;
    const std::byte* row = w.row(r);
    if (f.scale == ScaleKind::f32_per_row) packed->row_scales[r] = w.scales[w.scale_index(r, 0)];
    if (f.offset == OffsetKind::per_row) packed->row_offsets[r] = affine_offset(w, r, 0);
    for (std::size_t b = 0; b < v.blocks; ++b) {
      std::byte* rec = panel + b * l.bytes;
      const std::byte* blk = row + b * f.block_bytes;
      if (f.scale == ScaleKind::f16_per_block) std::memcpy(rec + 2 * i, blk + f.scale_at, 2);
      if (f.scale == ScaleKind::f32_per_block) {
        const float s = w.scales[w.scale_index(r, b * 32)];
        std::memcpy(rec + 4 * i, &s, 4);
      }
      if (f.mins) std::memcpy(rec + l.mins + 2 * i, blk + f.min_at, 2);
      if (f.offset == OffsetKind::per_block) {
        const std::int32_t o = affine_offset(w, r, b * 32);
        std::memcpy(rec + l.offsets + 4 * i, &o, 4);
      }
      const std::byte* qs = blk + (affine ? 0 : f.qs_at);
      std::byte* codes = rec + l.codes;
      if (f.bits == CodeBits::eight) {
        // Signed codes q are stored as q + 128 (the sign bit flipped), asymmetric i8's u8 as they are.
        const bool flip = !(w.format == Format::i8 && !w.symmetric);
        for (std::size_t s = 0; s < 8; ++s) {
          for (std::size_t k = 0; k < 4; ++k) {
            const auto byte = static_cast<std::uint8_t>(qs[4 * s + k]);
            codes[32 * s + 4 * i + k] = static_cast<std::byte>(flip ? byte ^ 0x80u : byte);
          }
        }
      } else {
        for (std::size_t j = 0; j < 4; ++j) std::memcpy(codes + 32 * j + 4 * i, qs + 4 * j, 4);
      }
      if (f.bits == CodeBits::five) {
        std::uint32_t qh;
        std::memcpy(&qh, blk + f.high_at, 4);
        for (std::size_t m = 0; m < 8; ++m) {
          const std::size_t first = m < 4 ? 4 * m : 16 + 4 * (m - 4);
          std::uint32_t mask;
          std::memcpy(&mask, rec + l.high + 4 * m, 4);
          for (std::size_t k = 0; k < 4; ++k) mask |= ((qh >> (first + k)) & 1u) << (4 * i + k);
          std::memcpy(rec + l.high + 4 * m, &mask, 4);
        }
      }
    }
  }
  v.data = packed->storage.get();
  v.row_scales = packed->row_scales.empty() ? nullptr : packed->row_scales.data();
  v.row_offsets = packed->row_offsets.empty() ? nullptr : packed->row_offsets.data();
  return packed;
}

std::shared_ptr<PackedWeights> pack_float(const formats::WeightView& w) {
  auto packed = std::make_shared<PackedWeights>();
  PackedView& v = packed->view;
  const std::size_t element = w.format == Format::f32 ? 4 : 2;
  v.panels = (w.rows + kFloatPanelRows - 1) / kFloatPanelRows;
  v.panel_bytes = core::checked_mul(core::checked_mul(w.cols, kFloatPanelRows, "packed panel"), element,
                                    "packed panel bytes");
  packed->storage = core::allocate_zeroed(core::checked_mul(v.panels, v.panel_bytes, "packed bytes"));
  for (std::size_t r = 0; r < w.rows; ++r) {
    std::byte* panel = packed->storage.get() + (r / kFloatPanelRows) * v.panel_bytes;
    const std::size_t i = r % kFloatPanelRows;
    const std::byte* row = w.row(r);
    for (std::size_t k = 0; k < w.cols; ++k) {
      std::memcpy(panel + (k * kFloatPanelRows + i) * element, row + k * element, element);
    }
  }
  v.data = packed->storage.get();
  return packed;
}

}  // namespace

std::shared_ptr<const PackedWeights> pack_weights(const QuantizedTensor& q) {
  const formats::WeightView w = formats::view_of(q);
  if (w.format == Format::f32 || w.format == Format::f16 || w.format == Format::bf16) {
    return pack_float(w);
  }
  switch (w.format) {
    case Format::q2_K:
    case Format::q3_K:
    case Format::q4_K:
    case Format::q5_K:
    case Format::q6_K:
    case Format::iq4_nl:
    case Format::iq4_xs: return pack_kquant(w);
    default: break;
  }
  IntFormat f{};
  if (!describe(w, f)) return nullptr;
  return pack_integer(w, f);
}

}  // namespace qlinear::kernels
