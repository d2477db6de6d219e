// Repacking the K-quants and i-quants into the panels of packed.hpp: each row is decoded one super
// block at a time into unsigned codes, the sub-block scales (and mins) as small integers, and d
// (dmin), then written interleaved with the other rows of its panel.

#include "core/aligned.hpp"
#include "core/checked.hpp"
#include "core/half.hpp"
#include "formats/blocks.hpp"
#include "formats/kquant_scales.hpp"
#include "kernels/packed.hpp"

#include <cstring>

namespace qlinear::kernels {
namespace {

using namespace formats;

// One super-block of one row (one block of 32 for iq4_nl), decoded.
struct SuperBlock {
  std::uint8_t code[256];      // unsigned codes (iq4: the grid index)
  std::int8_t pair[8][2][2];   // per block of 32: the pairs of the record (packed.hpp)
  float d, neg_dmin;
};

void decode_super(Format f, const std::byte* blocks, std::size_t s, SuperBlock& out) {
  out.neg_dmin = 0.0f;
  auto set = [&](int b, int a0, int a1, int b0 = 0, int b1 = 0) {
    out.pair[b][0][0] = static_cast<std::int8_t>(a0), out.pair[b][0][1] = static_cast<std::int8_t>(a1);
    out.pair[b][1][0] = static_cast<std::int8_t>(b0), out.pair[b][1][1] = static_cast<std::int8_t>(b1);
  };
  switch (f) {
    case Format::q2_K: {
      const auto& x = reinterpret_cast<const block_q2_K*>(blocks)[s];
      for (int i = 0; i < 256; ++i) {
        const int j = i / 16, l = i % 16;  // sub-block j: see the scalar decoder
        out.code[i] = (x.qs[32 * (j / 8) + 16 * (j % 2) + l] >> (2 * ((j / 2) % 4))) & 3;
      }
      for (int b = 0; b < 8; ++b) {
        const int s0 = x.scales[2 * b], s1 = x.scales[2 * b + 1];
        set(b, s0 & 15, s1 & 15, s0 >> 4, s1 >> 4);
      }
      out.d = core::fp16_to_fp32(x.d), out.neg_dmin = -core::fp16_to_fp32(x.dmin);
      break;
    }
    case Format::q3_K: {
      const auto& x = reinterpret_cast<const block_q3_K*>(blocks)[s];
      const auto scales = unpack_q3_K_scales(x.scales);
      for (int i = 0; i < 256; ++i) {
        const int j = i / 16, l = i % 16;
        const int low = (x.qs[32 * (j / 8) + 16 * (j % 2) + l] >> (2 * ((j / 2) % 4))) & 3;
        out.code[i] = static_cast<std::uint8_t>(low | (((x.hmask[16 * (j % 2) + l] >> (j / 2)) & 1) << 2));
      }
      for (int b = 0; b < 8; ++b) set(b, scales[2 * b] - 32, scales[2 * b + 1] - 32);
      out.d = core::fp16_to_fp32(x.d);
      break;
    }
    case Format::q4_K:
    case Format::q5_K: {
      const bool five = f == Format::q5_K;
      const auto* x4 = reinterpret_cast<const block_q4_K*>(blocks) + s;
      const auto* x5 = reinterpret_cast<const block_q5_K*>(blocks) + s;
      const std::uint8_t* qs = five ? x5->qs : x4->qs;
      const std::uint8_t* scales = five ? x5->scales : x4->scales;
      for (int i = 0; i < 256; ++i) {
        const int j = i / 32, l = i % 32;
        int code = (qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 15;
        if (five) code |= ((x5->qh[l] >> j) & 1) << 4;
        out.code[i] = static_cast<std::uint8_t>(code);
      }
      for (int b = 0; b < 8; ++b) {
        const ScaleMin sm = k_scale_min(scales, b);
        set(b, sm.scale, sm.min);
      }
      out.d = core::fp16_to_fp32(five ? x5->d : x4->d), out.neg_dmin = -core::fp16_to_fp32(five ? x5->dmin : x4->dmin);
      break;
    }
    case Format::q6_K: {
      const auto& x = reinterpret_cast<const block_q6_K*>(blocks)[s];
      for (int i = 0; i < 256; ++i) {
        const int h = i / 128, k = (i % 128) / 32, l = i % 32;  // see the scalar decoder
        const int low = (x.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15;
        out.code[i] = static_cast<std::uint8_t>(low | (((x.qh[32 * h + l] >> (2 * k)) & 3) << 4));
      }
      for (int b = 0; b < 8; ++b) set(b, x.scales[2 * b], x.scales[2 * b + 1]);
      out.d = core::fp16_to_fp32(x.d);
      break;
    }
    case Format::iq4_xs: {
      const auto& x = reinterpret_cast<const block_iq4_xs*>(blocks)[s];
      for (int b = 0; b < 8; ++b) {
        for (int l = 0; l < 16; ++l) {
          out.code[32 * b + l] = x.qs[16 * b + l] & 15;
          out.code[32 * b + 16 + l] = x.qs[16 * b + l] >> 4;
        }
        const int ls = (((x.scales_l[b / 2] >> (4 * (b % 2))) & 15) | (((x.scales_h >> (2 * b)) & 3) << 4)) - 32;
        set(b, ls, ls);
      }
      out.d = core::fp16_to_fp32(x.d);
      break;
    }
    case Format::iq4_nl: {
      const auto& x = reinterpret_cast<const block_iq4_nl*>(blocks)[s];
      for (int l = 0; l < 16; ++l) {
        out.code[l] = x.qs[l] & 15;
        out.code[16 + l] = x.qs[l] >> 4;
      }
      out.d = core::fp16_to_fp32(x.d);
      break;
    }
    default: break;
  }
}

void put(std::byte* at, const void* value, std::size_t n) { std::memcpy(at, value, n); }

// Row i of a panel: its part of one block record (codes of inputs code[0..31]).
void write_block(const KQuantLayout& l, const SuperBlock& sb, int b, std::size_t i, std::byte* rec) {
  for (std::size_t p = 0; p < l.pairs; ++p) put(rec + 16 * p + 2 * i, sb.pair[b][p], 2);
  const std::uint8_t* code = sb.code + 32 * b;
  std::byte* codes = rec + 16 * l.pairs + l.high;
  if (l.codes == 64) {  // q2_K: byte 4r + k of vector h holds inputs 16h + 4j + k at bits 2j, 2j + 1
    for (std::size_t h = 0; h < 2; ++h) {
      for (std::size_t k = 0; k < 4; ++k) {
        int bits = 0;
        for (std::size_t j = 0; j < 4; ++j) bits |= (code[16 * h + 4 * j + k] & 3) << (2 * j);
        codes[32 * h + 4 * i + k] = static_cast<std::byte>(bits);
      }
    }
  } else {
    for (std::size_t j = 0; j < 4; ++j) {
      for (std::size_t k = 0; k < 4; ++k) {
        codes[32 * j + 4 * i + k] = static_cast<std::byte>((code[4 * j + k] & 15) | (code[16 + 4 * j + k] & 15) << 4);
      }
    }
  }
  if (l.high == 64) {  // q6_K: byte 4r + k of vector h holds bits 4..5 of the codes of inputs
    for (std::size_t h = 0; h < 2; ++h) {  // 8h + k, 16 + 8h + k, 8h + 4 + k, 20 + 8h + k (2 bits each)
      for (std::size_t k = 0; k < 4; ++k) {
        const std::size_t first = 8 * h + k;
        const int bits = (code[first] >> 4) | (code[16 + first] >> 4) << 2 | (code[first + 4] >> 4) << 4 |
                         (code[16 + first + 4] >> 4) << 6;
        rec[16 * l.pairs + 32 * h + 4 * i + k] = static_cast<std::byte>(bits);
      }
    }
  }
  if (l.high == 32) {  // q5_K: byte 4r + k, fifth bits of inputs 4j + k at bit j, 16 + 4j + k at 4 + j
    std::byte* plane = rec + 16 * l.pairs;
    for (std::size_t k = 0; k < 4; ++k) {
      int bits = 0;
      for (std::size_t j = 0; j < 4; ++j) {
        bits |= ((code[4 * j + k] >> 4) & 1) << j | ((code[16 + 4 * j + k] >> 4) & 1) << (4 + j);
      }
      plane[4 * i + k] = static_cast<std::byte>(bits);
    }
  }
}

}  // namespace

std::shared_ptr<PackedWeights> pack_kquant(const formats::WeightView& w) {
  const KQuantLayout l = kquant_layout(w.format);
  auto packed = std::make_shared<PackedWeights>();
  PackedView& v = packed->view;
  v.blocks = w.padded_cols / 32;
  v.panels = (w.rows + kIntPanelRows - 1) / kIntPanelRows;
  const std::size_t supers = v.blocks / l.blocks_per_super;
  v.panel_bytes = core::checked_mul(supers, l.super, "packed panel bytes");
  packed->storage = core::allocate_zeroed(core::checked_mul(v.panels, v.panel_bytes, "packed bytes"));
  SuperBlock sb{};
  for (std::size_t r = 0; r < w.rows; ++r) {
    const std::size_t i = r % kIntPanelRows;
    std::byte* panel = packed->storage.get() + (r / kIntPanelRows) * v.panel_bytes;
    for (std::size_t s = 0; s < supers; ++s) {
      decode_super(w.format, w.row(r), s, sb);
      std::byte* super = panel + s * l.super;
      put(super + 4 * i, &sb.d, 4);
      if (l.head == 64) put(super + 32 + 4 * i, &sb.neg_dmin, 4);
      for (std::size_t b = 0; b < l.blocks_per_super; ++b) {
        write_block(l, sb, static_cast<int>(b), i, super + l.head + b * l.block);
      }
    }
  }
  v.data = packed->storage.get();
  return packed;
}

}  // namespace qlinear::kernels
