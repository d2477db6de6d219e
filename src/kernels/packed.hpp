#pragma once
// Weights repacked once, when a layer is built, into the interleaved panels the AVX2 kernels read.
// The layout is plain data (any code may build or read it); the standard layout stays the one the
// API shows.
//
// Integer formats: panels of 8 rows. A panel holds, for each block of 32 inputs, one record:
//   scales   8 × fp16 (ggml formats) or 8 × f32 (affine per-group); absent for affine per-row
//            scales, which sit in row_scales instead
//   mins     8 × fp16 (q4_1, q5_1 only)
//   offsets  8 × int32 (affine asymmetric per-group only): each row's integer zero offset
//   high     32 bytes (q5 only): the fifth bits, one 32-bit mask per step (see below)
//   codes    128 bytes (4- and 5-bit formats) or 256 bytes (8-bit)
// A step is 4 consecutive inputs of each of the 8 rows: 32 bytes whose byte 4·r + i belongs to row r,
// so one vpmaddubsw against 4 broadcast activation bytes gives each row its own lane.
//   8-bit: step s (0..7) holds inputs 4s..4s+3 of the block.
//   4/5-bit: 32 bytes j (0..3) hold two steps: the low nibbles inputs 4j..4j+3, the high nibbles
//   inputs 16+4j..16+4j+3 (ggml's nibble order, regrouped per row).
//   q5 high bits: mask m (0..3) covers inputs 4m..4m+3 and mask 4+m inputs 16+4m..16+4m+3; bit
//   4·r + i is the fifth bit of row r, input i of that step.
// Stored codes are unsigned, the operand `vpmaddubsw` and `vpdpbusd` take unsigned: the signed 8-bit
// codes q (q8_0, q8_1, symmetric i8) are stored as q + 128. The integer offset o a format subtracts
// from its codes (8 for q4_0 and symmetric i4, 16 for q5_0, 128 for the signed 8-bit codes, the zero
// point z of asymmetric affine) is applied once per block as o·Σq. The packed size equals the
// standard layout's, bar the per-group offsets.
//
// K-quants and i-quants (q2_K … q6_K, iq4_xs, iq4_nl; kquant_layout() in kernel_table.hpp): panels
// of 8 rows made of super records, one per super-block of 256 inputs (per block of 32 for iq4_nl):
//   head     8 × f32 d, then (q2_K, q4_K, q5_K) 8 × f32 −dmin
//   then per block of 32 a record:
//   pairs    1 or 2 (q2_K) times 8 int8 pairs, bytes 2r, 2r + 1 for row r (none for iq4_nl):
//              q4_K, q5_K (sc, m); iq4_xs (sc, sc); q3_K (sc₀ − 32, sc₁ − 32), q6_K (sc₀, sc₁) and
//              q2_K (sc₀, sc₁) then (m₀, m₁), with sc₀/sc₁ the scales of inputs 0..15 / 16..31
//   high     32 bytes (q5_K): the fifth bits, byte 4r + k holding those of row r's inputs 4j + k at
//            bit j and 16 + 4j + k at bit 4 + j (j = 0..3); or 64 bytes (q6_K): bits 4 and 5 of
//            the codes, two vectors h, whose byte 4r + k holds (2 bits each, from the bottom) those
//            of row r's inputs 8h + k, 16 + 8h + k, 8h + 4 + k and 20 + 8h + k, that is of steps 2h
//            (low, high nibble) and 2h + 1 (low, high nibble) of the codes below
//   codes    unsigned, 128 bytes of nibbles as the 4-bit formats above (q4_K, the low 4 bits of
//            q5_K and of q6_K in [0, 63] = q + 32, q3_K in [0, 7] = q + 4, the iq4 grid index), or
//            for q2_K 64 bytes: two vectors h, byte 4r + k holding row r's inputs 16h + 4j + k
//            (j = 0..3) at bits 2j, 2j + 1, so that step j is one shift and one mask away
// The kernel applies the integer scales with vpmaddwd against the pair vectors and the offsets
// (q3_K 4, q6_K 32) and mins with one vpmaddwd against the activation's half-block sums. This copy
// is larger than the standard layout: per row and 256 inputs q4_K 152 bytes (standard 144), q5_K 184
// (176), q6_K 212 (210), q3_K 148 (110), q2_K 104 (84), iq4_xs 148 (136), iq4_nl 8 × 20 (8 × 18).
//
// Float formats (f32, f16, bf16): panels of 16 rows, input-major: for each input k, the 16 rows'
// values (64 bytes for f32, 32 for f16/bf16).
//
// Rows past the last real row in the last panel are zero.

#include "kernels/kernel_table.hpp"

#include <qlinear/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace qlinear::kernels {

struct PackedWeights {
  PackedView view;                         // what the kernels read; points into the members below
  std::shared_ptr<std::byte> storage;      // panels × panel_bytes, 64-byte aligned
  std::vector<float> row_scales;           // panels × 8 (ScaleKind::f32_per_row)
  std::vector<std::int32_t> row_offsets;   // panels × 8 (OffsetKind::per_row)
};

// The packed copy of q, or null when no packed kernel reads this format in this shape (the scalar
// kernels then serve it from the standard layout).
std::shared_ptr<const PackedWeights> pack_weights(const QuantizedTensor& q);

// The K-quant and i-quant panels (pack_kquant.cpp); pack_weights() calls it for those formats.
std::shared_ptr<PackedWeights> pack_kquant(const formats::WeightView& w);

}  // namespace qlinear::kernels
