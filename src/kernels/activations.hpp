#pragma once
// Activations quantized for the integer kernels, once per forward call.
//
// Each input row is cut into blocks of 32 and quantized exactly as ggml's q8_0 (and q8_1) reference
// quantizer does: d = max|x|/127 stored as fp16, codes q = round(x/d) in [-127, 127] (half away from
// zero); a row shorter than a multiple of 32 is padded with zeros, and so are whole blocks past
// the row (the K-quants pad rows to 256). The kernels read the codes, d as
// a float (the fp16 value, converted exactly), the exact integer sum Σq of each block (the weights
// with a zero offset, q4_0 and q5_0 included, subtract offset·Σq), and d·Σq (exact in float: 11 × 12
// significant bits), which the weights with a min (q4_1, q5_1) multiply by it. ggml's q8_1 keeps
// d·Σq rounded to fp16; qlinear keeps it exact, so its product is exactly q8(x)·dequant(W)ᵀ up to
// float rounding.
//
// The K-quants' kernels also read the two half-block sums (Σ of codes 0..15 and of 16..31, each at
// most 16·127 in magnitude, as an int16 pair): their sub-blocks of 16 have their own scales, mins
// or offsets, and the pair turns a pair of per-row integers into one vpmaddwd.
//
// Rows are stored in tiles of `tile_rows` rows (1 for one row, 4 for the batched kernels) so that a
// kernel reads one block of several rows from one place. Per tile and block, one record:
//   int8  codes[tile_rows][32]
//   float scale[tile_rows]        d
//   int32 sum[tile_rows]          Σq
//   float scaled_sum[tile_rows]   d·Σq
//   int16 half_sums[tile_rows][2] Σq over inputs 0..15, over 16..31
// The rows of the last tile beyond the batch are zero (they produce zeros nobody reads).

#include <cstddef>
#include <cstdint>

namespace qlinear::kernels {

inline constexpr std::size_t kActBlock = 32;

struct ActivationTiles {
  std::size_t rows = 0;       // the batch
  std::size_t tile_rows = 1;  // rows per tile
  std::size_t tiles = 0;      // ceil(rows / tile_rows)
  std::size_t blocks = 0;     // blocks of 32 per row
  std::size_t record_bytes = 0;
  std::byte* data = nullptr;  // tiles × blocks records, 64-byte aligned
};

// Offsets inside one record of a tile of `tile_rows` rows; records are padded to 16 bytes.
constexpr std::size_t act_scale_offset(std::size_t tile_rows) { return tile_rows * 32; }
constexpr std::size_t act_sum_offset(std::size_t tile_rows) { return tile_rows * 36; }
constexpr std::size_t act_scaled_sum_offset(std::size_t tile_rows) { return tile_rows * 40; }
constexpr std::size_t act_half_sums_offset(std::size_t tile_rows) { return tile_rows * 44; }
constexpr std::size_t act_record_bytes(std::size_t tile_rows) { return (tile_rows * 48 + 15) / 16 * 16; }

// Where one row's blocks go: block b of the row is at codes + b·stride (and the same for the
// other pointers).
struct ActivationRowOut {
  std::int8_t* codes;
  float* scale;
  std::int32_t* sum;
  float* scaled_sum;
  std::int16_t* half_sums;  // the pair
  std::size_t stride;  // bytes from one block's record to the next
};

// Quantizes one row of `cols` floats into `blocks` = ceil(cols / 32) blocks.
using QuantizeActivationRowFn = void (*)(const float* x, std::size_t cols, std::size_t blocks,
                                         const ActivationRowOut& out);

}  // namespace qlinear::kernels
