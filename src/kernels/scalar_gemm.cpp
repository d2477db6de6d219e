// Scalar GEMM on the standard layout. Each weight row is decoded once per task into integer codes
// (with the format's offset already subtracted) and segments that share one scale, then dotted with
// every activation row of the task: exact integer sums per segment, one float multiply-add each.
//
// The K-quants and iq4_xs fold their small integer sub-block scales into the codes (v = sc·q, at
// most 128·32 = 4096 in magnitude) and keep each input's integer min m beside it, so that one
// segment per block of 32 carries the super-block's d and dmin: per block, the exact integer sums
// Σ v·q_x and Σ m·q_x (q2_K's mins change every 16 inputs, so the second sum cannot come from the
// block's Σq), then isum·(d·d_x) − msum·(dmin·d_x). Both sums stay below 2^24 (q6_K's extreme,
// 32 · 128·32 · 127 = 16 646 144), so their conversion to float is exact.

#include "core/half.hpp"
#include "formats/affine.hpp"
#include "formats/blocks.hpp"
#include "formats/kquant_scales.hpp"
#include "kernels/scalar_kernels.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <vector>

namespace qlinear::kernels::scalar {
namespace {

std::atomic<std::uint64_t> g_packed_fallbacks{0};

using formats::block_q4_0;
using formats::block_q4_1;
using formats::block_q5_0;
using formats::block_q5_1;
using formats::block_q8_0;
using formats::block_q8_1;
using formats::block_iq4_nl;
using formats::block_iq4_xs;
using formats::block_q2_K;
using formats::block_q3_K;
using formats::block_q4_K;
using formats::block_q5_K;
using formats::block_q6_K;
using formats::kIq4nlValues;

// Inputs [begin, end) of a row (never crossing a block of 32) share w = scale·v + min.
struct Segment {
  std::size_t begin, end;
  float scale, min;
};

// How a row's mins enter: none; per block, min·d_x·Σq (q4_1, q5_1); or per input, integer mins m
// that the segment's `min` (dmin) multiplies: w = scale·v − min·m (q2_K, q4_K, q5_K).
enum class MinKind { none, block, coded };

struct DecodedRow {
  std::vector<std::int16_t> v;  // padded_cols codes, offset subtracted (times the sub-scale for K-quants)
  std::vector<std::int16_t> m;  // padded_cols integer mins (MinKind::coded only)
  std::vector<Segment> segments;
  MinKind mins = MinKind::none;
};

std::uint32_t high_bits(const std::uint8_t (&qh)[4]) {
  std::uint32_t h;
  std::memcpy(&h, qh, sizeof h);
  return h;
}

// The ggml block formats: one segment per block.
template <typename Block>
void decode_blocks(const Block* blocks, std::size_t count, DecodedRow& out) {
  for (std::size_t b = 0; b < count; ++b) {
    const Block& blk = blocks[b];
    std::int16_t* v = out.v.data() + b * 32;
    float min = 0.0f;
    if constexpr (std::is_same_v<Block, block_q8_0> || std::is_same_v<Block, block_q8_1>) {
      for (int j = 0; j < 32; ++j) v[j] = blk.qs[j];
    } else {
      constexpr bool kFive = std::is_same_v<Block, block_q5_0> || std::is_same_v<Block, block_q5_1>;
      constexpr bool kMin = std::is_same_v<Block, block_q4_1> || std::is_same_v<Block, block_q5_1>;
      const int offset = kMin ? 0 : (kFive ? 16 : 8);
      std::uint32_t h = 0;
      if constexpr (kFive) h = high_bits(blk.qh);
      for (int j = 0; j < 16; ++j) {
        const int lo = (blk.qs[j] & 0x0f) | (kFive ? static_cast<int>((h >> j) & 1u) << 4 : 0);
        const int hi = (blk.qs[j] >> 4) | (kFive ? static_cast<int>((h >> (j + 16)) & 1u) << 4 : 0);
        v[j] = static_cast<std::int16_t>(lo - offset);
        v[j + 16] = static_cast<std::int16_t>(hi - offset);
      }
      if constexpr (kMin) min = core::fp16_to_fp32(blk.m);
    }
    out.segments.push_back({b * 32, b * 32 + 32, core::fp16_to_fp32(blk.d), min});
  }
}

// Affine i8/i4: v = q − z; segments split each block where a scale group ends.
void decode_affine(const formats::WeightView& w, std::size_t r, DecodedRow& out) {
  const formats::AffineSpec spec{w.format == Format::i8 ? 8 : 4, w.symmetric};
  const std::byte* codes = w.row(r);
  for (std::size_t c = 0; c < w.padded_cols; ++c) {
    const std::size_t s = w.scale_index(r, c);
    const int zero = w.zero_points ? w.zero_points[s] : 0;
    out.v[c] = static_cast<std::int16_t>(formats::load_affine_code(codes, c, spec) - zero);
  }
  for (std::size_t begin = 0; begin < w.padded_cols;) {
    const std::size_t block_end = (begin / 32 + 1) * 32;
    const std::size_t group_end = w.per_tensor ? w.padded_cols : (begin / w.group_size + 1) * w.group_size;
    const std::size_t end = std::min({block_end, group_end, w.padded_cols});
    out.segments.push_back({begin, end, w.scales[w.scale_index(r, begin)], 0.0f});
    begin = end;
  }
}

// iq4_nl: q4_0's layout with the grid's values as codes.
void decode_iq4_nl(const block_iq4_nl* blocks, std::size_t count, DecodedRow& out) {
  for (std::size_t b = 0; b < count; ++b) {
    std::int16_t* v = out.v.data() + b * 32;
    for (int j = 0; j < 16; ++j) {
      v[j] = kIq4nlValues[blocks[b].qs[j] & 0x0f];
      v[j + 16] = kIq4nlValues[blocks[b].qs[j] >> 4];
    }
    out.segments.push_back({b * 32, b * 32 + 32, core::fp16_to_fp32(blocks[b].d), 0.0f});
  }
}

// One segment per block of 32 of a super-block of 256 that starts at input `first`.
void super_block_segments(std::size_t first, float d, float dmin, DecodedRow& out) {
  for (std::size_t k = 0; k < 8; ++k) out.segments.push_back({first + 32 * k, first + 32 * k + 32, d, dmin});
}

void decode_q2_K(const block_q2_K* blocks, std::size_t count, DecodedRow& out) {
  for (std::size_t b = 0; b < count; ++b) {
    const block_q2_K& blk = blocks[b];
    std::int16_t* v = out.v.data() + b * 256;
    std::int16_t* m = out.m.data() + b * 256;
    // Sub-block j (16 inputs): byte 16·(j % 2) + l of half j / 8, bits 2·((j / 2) % 4).
    for (int j = 0; j < 16; ++j) {
      const std::uint8_t* q = blk.qs + 32 * (j / 8) + 16 * (j % 2);
      const int shift = 2 * ((j / 2) % 4);
      for (int l = 0; l < 16; ++l, ++v, ++m) {
        *v = static_cast<std::int16_t>((blk.scales[j] & 0x0f) * ((q[l] >> shift) & 3));
        *m = static_cast<std::int16_t>(blk.scales[j] >> 4);
      }
    }
    super_block_segments(b * 256, core::fp16_to_fp32(blk.d), core::fp16_to_fp32(blk.dmin), out);
  }
}

void decode_q3_K(const block_q3_K* blocks, std::size_t count, DecodedRow& out) {
  for (std::size_t b = 0; b < count; ++b) {
    const block_q3_K& blk = blocks[b];
    const std::array<std::int8_t, 16> scales = formats::unpack_q3_K_scales(blk.scales);
    std::int16_t* v = out.v.data() + b * 256;
    // As q2_K's codes; the third bit of sub-block j, input l, is bit j / 2 of hmask[16·(j % 2) + l],
    // and a clear bit means q − 4.
    for (int j = 0; j < 16; ++j) {
      const std::size_t first = 16 * static_cast<std::size_t>(j % 2);
      const std::uint8_t* q = blk.qs + 32 * (j / 8) + first;
      const int shift = 2 * ((j / 2) % 4);
      for (std::size_t l = 0; l < 16; ++l, ++v) {
        const int value = ((q[l] >> shift) & 3) - ((blk.hmask[first + l] >> (j / 2)) & 1 ? 0 : 4);
        *v = static_cast<std::int16_t>((scales[j] - 32) * value);
      }
    }
    super_block_segments(b * 256, core::fp16_to_fp32(blk.d), 0.0f, out);
  }
}

// q4_K and q5_K: sub-block j (32 inputs) in the low (j even) or high nibbles of qs[32·(j / 2) + l],
// q5_K's fifth bit in bit j of qh[l].
template <typename Block>
void decode_q45_K(const Block* blocks, std::size_t count, DecodedRow& out) {
  for (std::size_t b = 0; b < count; ++b) {
    const Block& blk = blocks[b];
    std::int16_t* v = out.v.data() + b * 256;
    std::int16_t* m = out.m.data() + b * 256;
    for (int j = 0; j < 8; ++j) {
      const formats::ScaleMin sm = formats::k_scale_min(blk.scales, j);
      const std::uint8_t* q = blk.qs + 32 * (j / 2);
      for (int l = 0; l < 32; ++l, ++v, ++m) {
        int code = (q[l] >> (4 * (j % 2))) & 0x0f;
        if constexpr (std::is_same_v<Block, block_q5_K>) code |= ((blk.qh[l] >> j) & 1) << 4;
        *v = static_cast<std::int16_t>(sm.scale * code);
        *m = static_cast<std::int16_t>(sm.min);
      }
    }
    super_block_segments(b * 256, core::fp16_to_fp32(blk.d), core::fp16_to_fp32(blk.dmin), out);
  }
}

void decode_q6_K(const block_q6_K* blocks, std::size_t count, DecodedRow& out) {
  for (std::size_t b = 0; b < count; ++b) {
    const block_q6_K& blk = blocks[b];
    std::int16_t* v = out.v.data() + b * 256;
    // Input 128·h + 32·k + l (k < 4, l < 32): low nibble of ql[64·h + 32·(k % 2) + l] (high nibble
    // for k >= 2), high bits 2k, 2k+1 of qh[32·h + l]; scale 8·h + 2·k + l / 16.
    for (int h = 0; h < 2; ++h) {
      for (int k = 0; k < 4; ++k) {
        for (int l = 0; l < 32; ++l) {
          const int low = (blk.ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 0x0f;
          const int high = (blk.qh[32 * h + l] >> (2 * k)) & 3;
          const int scale = blk.scales[8 * h + 2 * k + l / 16];
          v[128 * h + 32 * k + l] = static_cast<std::int16_t>(scale * ((low | high << 4) - 32));
        }
      }
    }
    super_block_segments(b * 256, core::fp16_to_fp32(blk.d), 0.0f, out);
  }
}

void decode_iq4_xs(const block_iq4_xs* blocks, std::size_t count, DecodedRow& out) {
  for (std::size_t b = 0; b < count; ++b) {
    const block_iq4_xs& blk = blocks[b];
    std::int16_t* v = out.v.data() + b * 256;
    for (int j = 0; j < 8; ++j, v += 32) {
      const int scale = (((blk.scales_l[j / 2] >> (4 * (j % 2))) & 0x0f) | (((blk.scales_h >> (2 * j)) & 3) << 4)) - 32;
      const std::uint8_t* qs = blk.qs + 16 * j;
      for (int l = 0; l < 16; ++l) {
        v[l] = static_cast<std::int16_t>(scale * kIq4nlValues[qs[l] & 0x0f]);
        v[l + 16] = static_cast<std::int16_t>(scale * kIq4nlValues[qs[l] >> 4]);
      }
    }
    super_block_segments(b * 256, core::fp16_to_fp32(blk.d), 0.0f, out);
  }
}

void decode_row(const formats::WeightView& w, std::size_t r, DecodedRow& out) {
  out.v.assign(w.padded_cols, 0);
  out.segments.clear();
  const std::size_t blocks = w.padded_cols / 32, supers = w.padded_cols / 256;
  const std::byte* row = w.row(r);
  const bool coded = w.format == Format::q2_K || w.format == Format::q4_K || w.format == Format::q5_K;
  out.mins = coded ? MinKind::coded
                   : (w.format == Format::q4_1 || w.format == Format::q5_1) ? MinKind::block : MinKind::none;
  if (coded) out.m.assign(w.padded_cols, 0);
  switch (w.format) {
    case Format::iq4_nl: decode_iq4_nl(reinterpret_cast<const block_iq4_nl*>(row), blocks, out); break;
    case Format::iq4_xs: decode_iq4_xs(reinterpret_cast<const block_iq4_xs*>(row), supers, out); break;
    case Format::q2_K: decode_q2_K(reinterpret_cast<const block_q2_K*>(row), supers, out); break;
    case Format::q3_K: decode_q3_K(reinterpret_cast<const block_q3_K*>(row), supers, out); break;
    case Format::q4_K: decode_q45_K(reinterpret_cast<const block_q4_K*>(row), supers, out); break;
    case Format::q5_K: decode_q45_K(reinterpret_cast<const block_q5_K*>(row), supers, out); break;
    case Format::q6_K: decode_q6_K(reinterpret_cast<const block_q6_K*>(row), supers, out); break;
    case Format::q4_0: decode_blocks(reinterpret_cast<const block_q4_0*>(row), blocks, out); break;
    case Format::q4_1: decode_blocks(reinterpret_cast<const block_q4_1*>(row), blocks, out); break;
    case Format::q5_0: decode_blocks(reinterpret_cast<const block_q5_0*>(row), blocks, out); break;
    case Format::q5_1: decode_blocks(reinterpret_cast<const block_q5_1*>(row), blocks, out); break;
    case Format::q8_0: decode_blocks(reinterpret_cast<const block_q8_0*>(row), blocks, out); break;
    case Format::q8_1: decode_blocks(reinterpret_cast<const block_q8_1*>(row), blocks, out); break;
    case Format::i8:
    case Format::i4: decode_affine(w, r, out); break;
    default: break;  // float formats never reach the integer kernel
  }
}

template <typename T>
T load(const std::byte* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

// One activation row of a tile, as the kernels read it.
struct ActRow {
  const std::byte* first_record;
  std::size_t record_bytes, slot, tile_rows;

  const std::byte* record(std::size_t b) const { return first_record + b * record_bytes; }
  const std::int8_t* codes(std::size_t b) const {
    return reinterpret_cast<const std::int8_t*>(record(b) + slot * 32);
  }
  float scale(std::size_t b) const { return load<float>(record(b) + act_scale_offset(tile_rows) + slot * 4); }
  float scaled_sum(std::size_t b) const {
    return load<float>(record(b) + act_scaled_sum_offset(tile_rows) + slot * 4);
  }
};

float dot_decoded(const DecodedRow& w, const ActRow& x) {
  float acc = 0.0f;
  std::size_t block = static_cast<std::size_t>(-1);
  const std::int8_t* q = nullptr;
  float dx = 0.0f;
  for (const Segment& s : w.segments) {
    if (s.begin / 32 != block) {
      block = s.begin / 32;
      q = x.codes(block);
      dx = x.scale(block);
      if (w.mins == MinKind::block) acc += s.min * x.scaled_sum(block);
    }
    std::int32_t isum = 0;
    for (std::size_t c = s.begin; c < s.end; ++c) isum += w.v[c] * q[c - block * 32];
    acc += static_cast<float>(isum) * (s.scale * dx);
    if (w.mins == MinKind::coded) {
      std::int32_t msum = 0;
      for (std::size_t c = s.begin; c < s.end; ++c) msum += w.m[c] * q[c - block * 32];
      acc -= static_cast<float>(msum) * (s.min * dx);
    }
  }
  return acc;
}

}  // namespace

void note_packed_fallback(const GemmArgs& a) noexcept {
  if (a.packed != nullptr) g_packed_fallbacks.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t packed_fallbacks() noexcept { return g_packed_fallbacks.load(std::memory_order_relaxed); }

void gemm_quantized(const GemmArgs& a, std::size_t row_begin, std::size_t row_end,
                    std::size_t tile_begin, std::size_t tile_end) {
  note_packed_fallback(a);
  DecodedRow row;
  const ActivationTiles& t = a.act;
  for (std::size_t r = row_begin; r < row_end; ++r) {
    decode_row(*a.weight, r, row);
    const float bias = a.bias ? a.bias[r] : 0.0f;
    for (std::size_t tile = tile_begin; tile < tile_end; ++tile) {
      for (std::size_t slot = 0; slot < t.tile_rows; ++slot) {
        const std::size_t b = tile * t.tile_rows + slot;
        if (b >= a.batch) break;
        const ActRow x{t.data + tile * t.blocks * t.record_bytes, t.record_bytes, slot, t.tile_rows};
        a.y[b * a.rows + r] = dot_decoded(row, x) + bias;
      }
    }
  }
}

void gemm_float(const GemmArgs& a, std::size_t row_begin, std::size_t row_end,
                std::size_t tile_begin, std::size_t tile_end) {
  note_packed_fallback(a);
  std::vector<float> w(a.cols);
  const std::size_t tile_rows = a.xf.tile_rows;
  for (std::size_t r = row_begin; r < row_end; ++r) {
    formats::dequantize_row(*a.weight, r, w.data());  // f16 and bf16 widen exactly
    const float bias = a.bias ? a.bias[r] : 0.0f;
    for (std::size_t b = tile_begin * tile_rows; b < std::min(a.batch, tile_end * tile_rows); ++b) {
      // Eight partial sums, so that the loop vectorizes without reassociating anything.
      float acc[8] = {};
      const std::size_t tile = b / tile_rows, slot = b % tile_rows;
      const float* x = a.xf.data + tile * a.cols * tile_rows + slot;
      std::size_t k = 0;
      for (; k + 8 <= a.cols; k += 8) {
        for (std::size_t i = 0; i < 8; ++i) acc[i] += w[k + i] * x[(k + i) * tile_rows];
      }
      for (; k < a.cols; ++k) acc[k % 8] += w[k] * x[k * tile_rows];
      const float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
      a.y[b * a.rows + r] = sum + bias;
    }
  }
}

}  // namespace qlinear::kernels::scalar
