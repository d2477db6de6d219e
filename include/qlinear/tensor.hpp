#pragma once
// Quantized weight matrices: quantize, dequantize, and measure what quantization cost.

#include <qlinear/export.h>
#include <qlinear/format.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace qlinear {

class Calibration;  // <qlinear/calibration.hpp>

// How the affine formats (i8, i4) choose their scales. Ignored by the block formats.
//   symmetric:  w ≈ s·q, q in [-127, 127] (i8) or [-7, 7] (i4), zero is exact.
//   asymmetric: w ≈ s·(q − z), q in [0, 255] (i8) or [0, 15] (i4), z an integer zero point chosen so
//               that zero is exact; the clipping range always includes 0.
struct QLINEAR_API AffineOptions {
  bool symmetric = true;
  enum class Granularity { tensor, channel, group } granularity = Granularity::channel;
  std::size_t group_size = 0;  // inputs per scale for Granularity::group: a multiple of 8, e.g. 32/64/128
  enum class Calibration {
    minmax,      // clip at the extremes of each group
    percentile,  // clip at the p-th percentile of |w| (symmetric) or the (100−p)-th/p-th of w
    mse          // search the clipping range that minimizes the squared reconstruction error
  } calibration = Calibration::minmax;
  double percentile = 99.99;  // p in (0, 100], used by Calibration::percentile
};

// A row-major [rows, cols] matrix of quantized weights: rows = out_features, cols = in_features.
// Rows are zero-padded to the format's row alignment inside the tensor; cols() keeps the true size.
// The stored bytes are immutable and shared between copies.
class QLINEAR_API QuantizedTensor {
 public:
  QuantizedTensor() = default;

  Format format() const noexcept { return format_; }
  std::size_t rows() const noexcept { return rows_; }
  std::size_t cols() const noexcept { return cols_; }
  std::size_t padded_cols() const noexcept { return padded_cols_; }
  std::size_t row_bytes() const noexcept { return row_bytes_; }

  // The blocks/codes exactly as stored: rows × row_bytes(); ggml's layout for the block formats.
  std::span<const std::byte> data() const noexcept { return {data_.get(), rows_ * row_bytes_}; }
  std::span<const std::byte> row_data(std::size_t row) const;

  // Affine formats only (empty for the block formats).
  const AffineOptions& affine_options() const noexcept { return affine_; }
  std::size_t group_size() const noexcept { return group_size_; }  // columns per scale
  std::size_t groups_per_row() const noexcept { return groups_per_row_; }
  std::span<const float> scales() const noexcept { return scales_; }
  std::span<const std::uint8_t> zero_points() const noexcept { return zero_points_; }

  std::size_t nbytes() const noexcept;       // every byte held: codes + scales + zero points + padding
  double bits_per_weight() const noexcept;   // nbytes * 8 / (rows * cols)

  // Wraps blocks that are already quantized (a block format, or f32/f16/bf16): rows × row bytes in the
  // stored layout, rows padded to the format's row alignment. The bytes are copied.
  static QuantizedTensor from_blocks(Format format, std::size_t rows, std::size_t cols,
                                     std::span<const std::byte> blocks);

  // Wraps blocks without copying them (e.g. a tensor inside a memory-mapped file): `blocks` points at
  // `size` bytes in the layout from_blocks takes, and whoever it shares ownership with (use the
  // aliasing constructor of std::shared_ptr) keeps them alive as long as any copy of the tensor. The
  // bytes must not change meanwhile, and must start at a multiple of 16 bytes (the kernels read
  // blocks in place): Error(invalid_argument) otherwise, so a caller can copy with from_blocks.
  static QuantizedTensor view_blocks(Format format, std::size_t rows, std::size_t cols,
                                     std::shared_ptr<const std::byte> blocks, std::size_t size);

  // Wraps an affine tensor's parts (copied). Checks every size against the options.
  static QuantizedTensor from_affine(Format format, std::size_t rows, std::size_t cols,
                                     const AffineOptions& options, std::span<const std::byte> codes,
                                     std::span<const float> scales,
                                     std::span<const std::uint8_t> zero_points);

 private:
  friend struct TensorBuilder;

  Format format_ = Format::f32;
  std::size_t rows_ = 0, cols_ = 0, padded_cols_ = 0, row_bytes_ = 0;
  std::shared_ptr<const std::byte> data_;
  AffineOptions affine_{};
  std::size_t group_size_ = 0, groups_per_row_ = 0;
  std::vector<float> scales_;
  std::vector<std::uint8_t> zero_points_;
};

// How quantize() chooses codes.
//   reference: ggml's rule, byte-identical to ggml (with importance: ggml's weighted search).
//   search:    per block, the scale (and minimum) that minimize the importance-weighted squared
//              error, searched more widely than ggml does. Same format, same bytes per block.
//   gptq:      column-by-column error compensation driven by the inputs' XᵀX (needs a Calibration),
//              each block's scales chosen with `search` from the already compensated weights.
enum class Method { reference, search, gptq };

// Everything quantize() can be told beyond the format.
struct QLINEAR_API QuantizeOptions {
  AffineOptions affine{};               // i8 / i4 only
  // One weight >= 0 per input column (cols values), or empty: how much an error in that column
  // costs, e.g. the mean x² of the column's activations (what llama.cpp's importance matrix holds).
  // The formats ggml weights (q4_0, q4_1, q5_0, q5_1, the K-quants and i-quants) then search their
  // scales as ggml does with these weights, byte for byte; the affine formats use them as the
  // weights of their mse search; the others (f32, f16, bf16, q8_0, q8_1) do not depend on them.
  std::span<const float> importance{};

  // How codes are chosen (docs/methods.md). The block formats other than q4_0/q4_1/q5_0/q5_1/q8_0
  // and the affine ones (the K-quants, iq4_nl, iq4_xs) take `search` as their weighted reference
  // quantizer with the same importance, and do not support `gptq` yet (Error unsupported).
  Method method = Method::reference;
  // Statistics of the layer's inputs (in_features = cols). gptq needs them; search uses their
  // importance() when `importance` is empty. Must outlive the quantize() call only.
  const Calibration* calibration = nullptr;
  // gptq: this fraction of mean(diag XᵀX) is added to the diagonal before the factorization. A
  // matrix still singular after it is an Error that says to raise the damping.
  double damping = 0.01;
};

// w is row-major [rows, cols]. Throws Error on an empty shape, a span shorter or longer than rows·cols,
// NaN or Inf (naming the row and column), affine options out of range, or importance weights that are
// not cols finite values >= 0.
QLINEAR_API
QuantizedTensor quantize(std::span<const float> w, std::size_t rows, std::size_t cols, Format format,
                         const AffineOptions& affine = {});
QLINEAR_API
QuantizedTensor quantize(std::span<const float> w, std::size_t rows, std::size_t cols, Format format,
                         const QuantizeOptions& options);

QLINEAR_API std::vector<float> dequantize(const QuantizedTensor& q);  // [rows, cols]

struct QLINEAR_API QuantStats {
  double rmse = 0;      // sqrt(mean((w − ŵ)²))
  double max_abs = 0;   // max |w − ŵ|
  double sqnr_db = 0;   // 10·log10(Σw² / Σ(w − ŵ)²); +inf when the error is zero
  double cosine = 0;    // cosine similarity of w and ŵ (1 when both are zero)
  std::size_t bytes = 0;     // q.nbytes()
  double compression = 0;    // 4·rows·cols / bytes
  double rel_rmse = 0;       // rmse / sqrt(mean(w²)); 0 when w is all zero and reproduced exactly
};

QLINEAR_API QuantStats measure(std::span<const float> original, const QuantizedTensor& q);

}  // namespace qlinear
