// Quantizing and dequantizing whole tensors: validation, row padding, and the affine scales. Rows
// are independent, so they run on the thread pool; the result does not depend on the thread count.

#include "core/checked.hpp"
#include "core/half.hpp"
#include "core/thread_pool.hpp"
#include "formats/affine.hpp"
#include "formats/registry.hpp"
#include "formats/tensor_builder.hpp"
#include "formats/weight_view.hpp"

#include <qlinear/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

namespace qlinear {
namespace {

using Granularity = AffineOptions::Granularity;

// Inputs per task when quantizing in parallel: large enough that a task outweighs handing it out.
constexpr std::size_t kChunk = 1 << 16;

std::string position(std::size_t index, std::size_t cols) {
  return "row " + std::to_string(index / cols) + ", column " + std::to_string(index % cols);
}

void check_shape(std::span<const float> w, std::size_t rows, std::size_t cols) {
  if (rows == 0 || cols == 0) {
    throw Error(ErrorCode::size_mismatch, "cannot quantize an empty shape [" + std::to_string(rows) +
                                              ", " + std::to_string(cols) + "]");
  }
  const std::size_t expected = core::checked_mul(rows, cols, "weight count");
  if (w.size() != expected) {
    throw Error(ErrorCode::size_mismatch,
                "weights have " + std::to_string(w.size()) + " values, expected rows × cols = " +
                    std::to_string(rows) + " × " + std::to_string(cols) + " = " +
                    std::to_string(expected));
  }
}

// Throws the error that names the first value an out-of-range check objected to.
[[noreturn]] void report_unrepresentable(std::span<const float> w, std::size_t cols) {
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (!std::isfinite(w[i])) {
      throw Error(ErrorCode::non_finite, "weight at " + position(i, cols) + " is " +
                                             (std::isnan(w[i]) ? "NaN" : "Inf"));
    }
  }
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (std::isinf(core::fp16_to_fp32(core::fp32_to_fp16(w[i])))) {
      throw Error(ErrorCode::non_finite, "weight " + std::to_string(w[i]) + " at " + position(i, cols) +
                                             " is outside the f16 range (±65504)");
    }
  }
  throw Error(ErrorCode::internal, "a weight was flagged unrepresentable but none is");
}

std::uint32_t limit_bits(Format format) { return formats::out_of_range_limit(format); }

void check_values(std::span<const float> w, std::size_t cols, Format format) {
  const std::size_t chunks = (w.size() + kChunk - 1) / kChunk;
  std::vector<char> bad(chunks, 0);
  core::parallel_for(chunks, [&](std::size_t i) {
    const std::size_t begin = i * kChunk;
    bad[i] = formats::any_out_of_range_ref(w.data() + begin, std::min(kChunk, w.size() - begin), limit_bits(format));
  });
  if (std::find(bad.begin(), bad.end(), 1) != bad.end()) report_unrepresentable(w, cols);
}

void check_importance(std::span<const float> importance, std::size_t cols) {
  if (importance.empty()) return;
  if (importance.size() != cols) {
    throw Error(ErrorCode::size_mismatch, "importance has " + std::to_string(importance.size()) +
                                              " values, expected one per column: " + std::to_string(cols));
  }
  for (std::size_t c = 0; c < cols; ++c) {
    if (!std::isfinite(importance[c]) || importance[c] < 0.0f) {
      throw Error(ErrorCode::invalid_argument, "importance of column " + std::to_string(c) + " is " +
                                                   std::to_string(importance[c]) +
                                                   "; it must be finite and >= 0");
    }
  }
}

// Rows in parallel, each checked (while it is in cache) and then quantized by `row_fn` (a fast
// quantizer with the reference's bytes) or the reference; with importance weights, by the format's
// weighted quantizer. Padding columns get importance 0: their error costs nothing.
void quantize_blocks(std::span<const float> w, std::size_t rows, std::size_t cols, std::byte* out,
                     std::size_t row_bytes, std::size_t padded_cols, const formats::FormatTraits& t,
                     std::span<const float> importance, formats::QuantizeRowFn row_fn,
                     formats::OutOfRangeFn check_fn) {
  const formats::QuantizeRowFn fn = row_fn ? row_fn : t.quantize_row_ref;
  const formats::QuantizeRowWeightedFn weighted_fn = importance.empty() ? nullptr : t.quantize_row_weighted_ref;
  std::vector<float> padded_importance;
  if (weighted_fn) {
    padded_importance.assign(padded_cols, 0.0f);
    std::copy(importance.begin(), importance.end(), padded_importance.begin());
  }
  const formats::OutOfRangeFn check = check_fn ? check_fn : &formats::any_out_of_range_ref;
  const std::uint32_t limit = limit_bits(t.info.format);
  const std::size_t rows_per_task = std::max<std::size_t>(1, kChunk / padded_cols);
  const std::size_t tasks = (rows + rows_per_task - 1) / rows_per_task;
  std::vector<char> bad(tasks, 0);
  core::parallel_for(tasks, [&](std::size_t task) {
    std::vector<float> padded(padded_cols != cols ? padded_cols : 0, 0.0f);  // zeros after cols
    const std::size_t end = std::min(rows, (task + 1) * rows_per_task);
    for (std::size_t r = task * rows_per_task; r < end; ++r) {
      const float* src = w.data() + r * cols;
      if (check(src, cols, limit)) {
        bad[task] = 1;
        return;
      }
      if (padded_cols != cols) {
        std::copy(src, src + cols, padded.begin());
        src = padded.data();
      }
      if (weighted_fn) {
        weighted_fn(src, out + r * row_bytes, padded_cols, padded_importance.data());
      } else {
        fn(src, out + r * row_bytes, padded_cols);
      }
    }
  });
  if (std::find(bad.begin(), bad.end(), 1) != bad.end()) report_unrepresentable(w, cols);
}

QuantizedTensor quantize_affine(std::span<const float> w, std::size_t rows, std::size_t cols,
                                Format format, const AffineOptions& options, std::span<const float> importance) {
  std::byte* codes = nullptr;
  QuantizedTensor t = TensorBuilder::allocate(format, rows, cols, codes);
  const AffineLayout layout = affine_layout(options, rows, t.padded_cols());
  const formats::AffineSpec spec = formats::affine_spec(format, options);

  std::vector<formats::AffineParams> params(layout.scale_count);
  if (options.granularity == Granularity::tensor) {
    params[0] = formats::calibrate_affine(w, spec, options, importance, cols);
  } else {
    core::parallel_for(rows, [&](std::size_t r) {
      for (std::size_t g = 0; g < layout.groups_per_row; ++g) {
        // Only real weights calibrate a group: the row's zero padding must not shift percentiles.
        const std::size_t begin = std::min(cols, g * layout.group_size);
        const std::size_t end = std::min(cols, begin + layout.group_size);
        params[r * layout.groups_per_row + g] = formats::calibrate_affine(
            w.subspan(r * cols + begin, end - begin), spec, options,
            importance.empty() ? importance : importance.subspan(begin, end - begin), end - begin);
      }
    });
  }

  const bool per_tensor = options.granularity == Granularity::tensor;
  core::parallel_for(rows, [&](std::size_t r) {
    std::byte* row = codes + r * t.row_bytes();
    for (std::size_t c = 0; c < t.padded_cols(); ++c) {
      const auto& p = params[per_tensor ? 0 : r * layout.groups_per_row + c / layout.group_size];
      const float value = c < cols ? w[r * cols + c] : 0.0f;
      formats::store_affine_code(row, c, formats::quantize_affine_value(value, p, spec), spec);
    }
  });

  std::vector<float> scales(params.size());
  std::vector<std::uint8_t> zero_points(options.symmetric ? 0 : params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    scales[i] = params[i].scale;
    if (!options.symmetric) zero_points[i] = params[i].zero_point;
  }
  TensorBuilder::set_affine(t, options, layout, std::move(scales), std::move(zero_points));
  return t;
}

}  // namespace

std::uint32_t formats::out_of_range_limit(Format format) noexcept {
  return format == Format::f16 ? 0x477ff000u : 0x7f800000u;
}

// Integer tests on the bits, so the loop vectorizes (the error message comes from a slow scan
// that only runs when this finds something).
bool formats::any_out_of_range_ref(const float* x, std::size_t n, std::uint32_t limit_bits) {
  std::uint32_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    bad |= static_cast<std::uint32_t>((bits & 0x7fffffffu) >= limit_bits);
  }
  return bad != 0;
}

void formats::check_quantize_input(std::span<const float> w, std::size_t rows, std::size_t cols, Format format,
                                   std::span<const float> importance) {
  check_shape(w, rows, cols);
  check_importance(importance, cols);
  check_values(w, cols, format);
}

QuantizedTensor formats::quantize_with(std::span<const float> w, std::size_t rows, std::size_t cols,
                                       Format format, const QuantizeOptions& options, QuantizeRowFn row_fn,
                                       OutOfRangeFn check_fn) {
  const formats::FormatTraits& t = formats::traits(format);
  check_shape(w, rows, cols);
  check_importance(options.importance, cols);
  if (t.info.affine) {
    check_values(w, cols, format);
    return quantize_affine(w, rows, cols, format, options.affine, options.importance);
  }
  std::byte* storage = nullptr;
  // Every byte of every row is written below, so the storage need not be zeroed first.
  QuantizedTensor q = TensorBuilder::allocate(format, rows, cols, storage, /*zeroed=*/false);
  quantize_blocks(w, rows, cols, storage, q.row_bytes(), q.padded_cols(), t, options.importance, row_fn,
                  check_fn);
  return q;
}

std::vector<float> dequantize(const QuantizedTensor& q) {
  const formats::WeightView view = formats::view_of(q);
  std::vector<float> out(q.rows() * q.cols());
  std::vector<float> row(q.padded_cols());
  for (std::size_t r = 0; r < q.rows(); ++r) {
    formats::dequantize_row(view, r, row.data());
    std::copy_n(row.begin(), q.cols(), out.begin() + static_cast<std::ptrdiff_t>(r * q.cols()));
  }
  return out;
}

}  // namespace qlinear
