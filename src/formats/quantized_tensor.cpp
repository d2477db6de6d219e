#include "formats/tensor_builder.hpp"

#include "core/aligned.hpp"
#include "core/checked.hpp"
#include "formats/affine.hpp"
#include "formats/registry.hpp"
#include "formats/weight_view.hpp"

#include <qlinear/error.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

namespace qlinear {

using Granularity = AffineOptions::Granularity;
using AffineCalibration = AffineOptions::Calibration;

AffineLayout affine_layout(const AffineOptions& options, std::size_t rows, std::size_t padded_cols) {
  if (options.calibration == AffineCalibration::percentile &&
      !(options.percentile > 50.0 && options.percentile <= 100.0)) {
    throw Error(ErrorCode::invalid_argument, "percentile must be in (50, 100], got " +
                                                 std::to_string(options.percentile));
  }
  switch (options.granularity) {
    case Granularity::tensor:
    case Granularity::channel:
      if (options.group_size != 0) {
        throw Error(ErrorCode::invalid_argument,
                    "group_size " + std::to_string(options.group_size) +
                        " is only used with per-group granularity; leave it 0 or choose group");
      }
      return {padded_cols, 1, options.granularity == Granularity::tensor ? 1 : rows};
    case Granularity::group: {
      const std::size_t g = options.group_size;
      if (g == 0 || g % 8 != 0) {
        throw Error(ErrorCode::invalid_argument,
                    "group_size must be a positive multiple of 8 (e.g. 32, 64, 128), got " +
                        std::to_string(g));
      }
      const std::size_t groups = (padded_cols + g - 1) / g;
      return {g, groups, core::checked_mul(rows, groups, "scale count")};
    }
  }
  throw Error(ErrorCode::invalid_argument, "unknown affine granularity");
}

QuantizedTensor TensorBuilder::allocate(Format format, std::size_t rows, std::size_t cols,
                                        std::byte*& storage, bool zeroed) {
  const FormatInfo& info = formats::traits(format).info;
  QuantizedTensor t;
  t.format_ = format;
  t.rows_ = rows;
  t.cols_ = cols;
  t.padded_cols_ = core::round_up(cols, info.row_alignment);
  t.row_bytes_ = formats::padded_row_bytes(info, cols);
  const std::size_t bytes = core::checked_mul(rows, t.row_bytes_, "tensor bytes");
  auto buffer = zeroed ? core::allocate_zeroed(bytes) : core::allocate_uninitialized(bytes);
  storage = buffer.get();
  t.data_ = std::move(buffer);
  return t;
}

void TensorBuilder::set_affine(QuantizedTensor& tensor, const AffineOptions& options,
                               const AffineLayout& layout, std::vector<float> scales,
                               std::vector<std::uint8_t> zero_points) {
  tensor.affine_ = options;
  tensor.group_size_ = layout.group_size;
  tensor.groups_per_row_ = layout.groups_per_row;
  tensor.scales_ = std::move(scales);
  tensor.zero_points_ = std::move(zero_points);
}

std::span<const std::byte> QuantizedTensor::row_data(std::size_t row) const {
  if (row >= rows_) {
    throw Error(ErrorCode::invalid_argument,
                "row " + std::to_string(row) + " out of range for " + std::to_string(rows_) + " rows");
  }
  return {data_.get() + row * row_bytes_, row_bytes_};
}

std::size_t QuantizedTensor::nbytes() const noexcept {
  return rows_ * row_bytes_ + scales_.size() * sizeof(float) + zero_points_.size();
}

double QuantizedTensor::bits_per_weight() const noexcept {
  const std::size_t n = rows_ * cols_;
  return n == 0 ? 0.0 : static_cast<double>(nbytes()) * 8.0 / static_cast<double>(n);
}

namespace {

void check_shape(std::size_t rows, std::size_t cols) {
  if (rows == 0 || cols == 0) {
    throw Error(ErrorCode::size_mismatch, "empty shape [" + std::to_string(rows) + ", " +
                                              std::to_string(cols) + "]: rows and cols must be > 0");
  }
}

void check_bytes(const char* what, std::size_t actual, std::size_t expected, Format format,
                 std::size_t rows, std::size_t cols) {
  if (actual != expected) {
    throw Error(ErrorCode::size_mismatch,
                std::string(what) + " of a " + std::string(format_name(format)) + " [" +
                    std::to_string(rows) + ", " + std::to_string(cols) + "] tensor: expected " +
                    std::to_string(expected) + ", got " + std::to_string(actual));
  }
}

}  // namespace

QuantizedTensor QuantizedTensor::from_blocks(Format format, std::size_t rows, std::size_t cols,
                                             std::span<const std::byte> blocks) {
  check_shape(rows, cols);
  if (formats::traits(format).info.affine) {
    throw Error(ErrorCode::invalid_argument, "from_blocks: " + std::string(format_name(format)) +
                                                 " is affine; use from_affine");
  }
  std::byte* storage = nullptr;
  QuantizedTensor t = TensorBuilder::allocate(format, rows, cols, storage);
  check_bytes("bytes", blocks.size(), t.rows_ * t.row_bytes_, format, rows, cols);
  std::memcpy(storage, blocks.data(), blocks.size());
  return t;
}

QuantizedTensor QuantizedTensor::view_blocks(Format format, std::size_t rows, std::size_t cols,
                                             std::shared_ptr<const std::byte> blocks, std::size_t size) {
  check_shape(rows, cols);
  const FormatInfo& info = formats::traits(format).info;
  if (info.affine) {
    throw Error(ErrorCode::invalid_argument, "view_blocks: " + std::string(format_name(format)) +
                                                 " is affine; use from_affine");
  }
  if (reinterpret_cast<std::uintptr_t>(blocks.get()) % 16 != 0) {
    throw Error(ErrorCode::invalid_argument, "view_blocks: the blocks do not start at a multiple of 16 bytes");
  }
  QuantizedTensor t;
  t.format_ = format;
  t.rows_ = rows;
  t.cols_ = cols;
  t.padded_cols_ = core::round_up(cols, info.row_alignment);
  t.row_bytes_ = formats::padded_row_bytes(info, cols);
  check_bytes("bytes", size, core::checked_mul(rows, t.row_bytes_, "tensor bytes"), format, rows, cols);
  t.data_ = std::move(blocks);
  return t;
}

QuantizedTensor QuantizedTensor::from_affine(Format format, std::size_t rows, std::size_t cols,
                                             const AffineOptions& options,
                                             std::span<const std::byte> codes,
                                             std::span<const float> scales,
                                             std::span<const std::uint8_t> zero_points) {
  check_shape(rows, cols);
  if (!formats::traits(format).info.affine) {
    throw Error(ErrorCode::invalid_argument, "from_affine: " + std::string(format_name(format)) +
                                                 " is not an affine format");
  }
  std::byte* storage = nullptr;
  QuantizedTensor t = TensorBuilder::allocate(format, rows, cols, storage);
  const AffineLayout layout = affine_layout(options, rows, t.padded_cols_);
  check_bytes("code bytes", codes.size(), t.rows_ * t.row_bytes_, format, rows, cols);
  check_bytes("scales", scales.size(), layout.scale_count, format, rows, cols);
  check_bytes("zero points", zero_points.size(), options.symmetric ? 0 : layout.scale_count, format,
              rows, cols);
  for (std::size_t i = 0; i < scales.size(); ++i) {
    if (!(scales[i] >= 0.0f) || scales[i] == std::numeric_limits<float>::infinity()) {
      throw Error(ErrorCode::non_finite, "scale " + std::to_string(i) + " is " +
                                             std::to_string(scales[i]) +
                                             "; scales must be finite and >= 0");
    }
  }
  const formats::AffineSpec spec = formats::affine_spec(format, options);
  for (std::size_t i = 0; i < zero_points.size(); ++i) {
    if (zero_points[i] > spec.qmax()) {
      throw Error(ErrorCode::invalid_argument, "zero point " + std::to_string(i) + " is " +
                                                   std::to_string(zero_points[i]) + ", above " +
                                                   std::to_string(spec.qmax()));
    }
  }
  std::memcpy(storage, codes.data(), codes.size());
  TensorBuilder::set_affine(t, options, layout, {scales.begin(), scales.end()},
                            {zero_points.begin(), zero_points.end()});
  return t;
}

}  // namespace qlinear

namespace qlinear::formats {

WeightView view_of(const QuantizedTensor& q) noexcept {
  WeightView v;
  v.format = q.format();
  v.rows = q.rows();
  v.cols = q.cols();
  v.padded_cols = q.padded_cols();
  v.row_bytes = q.row_bytes();
  v.data = q.data().data();
  if (!q.scales().empty()) {
    v.scales = q.scales().data();
    v.zero_points = q.zero_points().empty() ? nullptr : q.zero_points().data();
    v.group_size = q.group_size();
    v.groups_per_row = q.groups_per_row();
    v.per_tensor = q.affine_options().granularity == AffineOptions::Granularity::tensor;
    v.symmetric = q.affine_options().symmetric;
  }
  return v;
}

void dequantize_row(const WeightView& w, std::size_t row, float* out) {
  const FormatTraits& t = traits(w.format);
  if (!t.info.affine) {
    t.dequantize_row_ref(w.row(row), out, w.padded_cols);
    return;
  }
  const AffineSpec spec{w.format == Format::i8 ? 8 : 4, w.symmetric};
  const std::byte* codes = w.row(row);
  for (std::size_t c = 0; c < w.padded_cols; ++c) {
    const std::size_t s = w.scale_index(row, c);
    const AffineParams params{w.scales[s], w.zero_points ? w.zero_points[s] : std::uint8_t{0}};
    out[c] = dequantize_affine_value(load_affine_code(codes, c, spec), params, spec);
  }
}

}  // namespace qlinear::formats
