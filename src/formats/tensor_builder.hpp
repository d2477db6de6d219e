#pragma once
// The one way code inside qlinear creates a QuantizedTensor piece by piece.

#include <qlinear/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qlinear {

// Where the scales of an affine tensor sit: group_size columns share one scale.
struct AffineLayout {
  std::size_t group_size = 0;      // padded_cols for tensor and channel granularity
  std::size_t groups_per_row = 0;  // 1 for tensor and channel granularity
  std::size_t scale_count = 0;     // 1, rows, or rows × groups_per_row
};

// Checks options (group size, percentile) and derives the layout; Error(invalid_argument) otherwise.
AffineLayout affine_layout(const AffineOptions& options, std::size_t rows, std::size_t padded_cols);

struct TensorBuilder {
  // A tensor of storage for the shape (zeroed unless the caller fills every byte); `storage`
  // receives the bytes to fill (rows × row_bytes).
  static QuantizedTensor allocate(Format format, std::size_t rows, std::size_t cols,
                                  std::byte*& storage, bool zeroed = true);
  static void set_affine(QuantizedTensor& tensor, const AffineOptions& options,
                         const AffineLayout& layout, std::vector<float> scales,
                         std::vector<std::uint8_t> zero_points);
};

}  // namespace qlinear
