#pragma once
// A plain view of a QuantizedTensor's storage for the layers below the public API (kernels take
// this, not the class), plus the one function that turns any stored row back into floats.

#include <qlinear/tensor.hpp>

#include <cstddef>
#include <cstdint>

namespace qlinear::formats {

struct WeightView {
  Format format = Format::f32;
  std::size_t rows = 0, cols = 0, padded_cols = 0, row_bytes = 0;
  const std::byte* data = nullptr;
  // Affine formats only: scale/zero point of (row, col) are at index
  // (per_tensor ? 0 : row * groups_per_row + col / group_size).
  const float* scales = nullptr;
  const std::uint8_t* zero_points = nullptr;  // null when symmetric
  std::size_t group_size = 0, groups_per_row = 0;
  bool per_tensor = false;
  bool symmetric = true;

  const std::byte* row(std::size_t r) const noexcept { return data + r * row_bytes; }
  std::size_t scale_index(std::size_t r, std::size_t col) const noexcept {
    return per_tensor ? 0 : r * groups_per_row + col / group_size;
  }
};

WeightView view_of(const QuantizedTensor& q) noexcept;

// Writes padded_cols floats: the row's weights, then zeros for the padding.
void dequantize_row(const WeightView& w, std::size_t row, float* out);

}  // namespace qlinear::formats
