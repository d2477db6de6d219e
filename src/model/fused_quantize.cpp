// quantize_and_measure(): see fused_quantize.hpp. The model layer may call the kernels; the formats
// layer below may not, which is why this pass lives here and measure() keeps the reference sums.

#include "model/fused_quantize.hpp"

#include "core/thread_pool.hpp"
#include "formats/error_sums.hpp"
#include "formats/registry.hpp"
#include "kernels/kernel_table.hpp"

#include <qlinear/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <vector>

#if defined(__unix__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace qlinear::model {
namespace {

std::size_t stored_value_bytes(Format f) {
  return f == Format::f32 ? 4 : (f == Format::f16 || f == Format::bf16) ? 2 : 0;
}

// What quantize() accepts: none, or one finite weight >= 0 per column.
bool usable_importance(std::span<const float> importance, std::size_t cols) {
  if (importance.empty()) return true;
  if (importance.size() != cols) return false;
  for (float v : importance) {
    if (!std::isfinite(v) || v < 0.0f) return false;
  }
  return true;
}

}  // namespace

std::byte* QuantizeWorkspace::output(std::size_t bytes, bool keep_previous) {
  if (single_) next_ = 0;
  if (!keep_previous && !single_) next_ = 1 - next_;  // the buffer handed out last time
  const int i = next_;
  next_ = 1 - next_;
  if (bytes > capacity_[i]) {
    output_[i].reset();  // give the smaller buffer back before taking the larger one
    output_[i] = std::make_unique_for_overwrite<std::byte[]>(bytes);
    capacity_[i] = bytes;
  }
  return output_[i].get();
}

std::optional<FusedResult> quantize_and_measure(const StoredRows& input, Format target,
                                                std::span<const float> importance,
                                                QuantizeWorkspace& workspace,
                                                const std::function<void()>& release_previous) {
  const formats::FormatTraits& t = formats::traits(target);
  const FormatInfo& info = t.info;
  const std::size_t rows = input.rows, cols = input.cols, value_bytes = stored_value_bytes(input.stored);
  if (info.affine || !t.quantize_row_ref || !t.dequantize_row_ref || value_bytes == 0) return std::nullopt;
  if (rows == 0 || cols == 0 || cols % info.row_alignment != 0) return std::nullopt;
  if (input.bytes.size() / value_bytes / cols != rows || input.bytes.size() != rows * cols * value_bytes) {
    return std::nullopt;
  }
  if (!usable_importance(importance, cols)) return std::nullopt;

  const kernels::KernelTable& k = kernels::active_kernels();
  const auto index = [](Format f) { return static_cast<std::size_t>(f); };
  const formats::QuantizeRowFn quantize_fn =
      k.quantize_row[index(target)] ? k.quantize_row[index(target)] : t.quantize_row_ref;
  const formats::QuantizeRowWeightedFn weighted_fn = importance.empty() ? nullptr : t.quantize_row_weighted_ref;
  const formats::DequantizeRowFn restore_fn = k.dequantize_row[index(target)];
  const formats::DequantizeRowFn convert_fn =
      input.stored == Format::f32 ? nullptr : k.dequantize_row[index(input.stored)];
  const std::uint32_t limit = formats::out_of_range_limit(target);
  const std::size_t row_bytes = formats::padded_row_bytes(info, cols);
  const bool reuse = release_previous && rows * row_bytes >= input.bytes.size();
  if (reuse) release_previous();
  std::byte* const out = workspace.output(rows * row_bytes, !reuse);

  const std::size_t panel_rows = formats::error_panel_rows(cols);
  const std::size_t panels = (rows + panel_rows - 1) / panel_rows;
  std::vector<formats::ErrorSums> sums(panels);
  std::vector<char> bad(panels, 0);
  const auto quantize_panel = [&](std::size_t p) {
    // One row's buffers per panel (a row is small): the row as f32, the row restored from its
    // blocks, and an aligned copy of a stored row whose address does not suit its type.
    std::vector<float> scratch(3 * cols);
    float* const converted = scratch.data();
    float* const restored = converted + cols;
    float* const staging = restored + cols;
    formats::ErrorLanes lanes = formats::zero_lanes();
    const std::size_t end = std::min(rows, (p + 1) * panel_rows);
    for (std::size_t r = p * panel_rows; r < end; ++r) {
      const std::byte* stored = input.bytes.data() + r * cols * value_bytes;
      if (reinterpret_cast<std::uintptr_t>(stored) % value_bytes != 0) {
        std::memcpy(staging, stored, cols * value_bytes);
        stored = reinterpret_cast<const std::byte*>(staging);
      }
      const float* row = reinterpret_cast<const float*>(stored);
      if (convert_fn) {
        convert_fn(stored, converted, cols);
        row = converted;
      }
      if (k.any_out_of_range(row, cols, limit)) {
        bad[p] = 1;
        return;
      }
      std::byte* blocks = out + r * row_bytes;
      if (weighted_fn) {
        weighted_fn(row, blocks, cols, importance.data());
      } else {
        quantize_fn(row, blocks, cols);
      }
      restore_fn(blocks, restored, cols);
      k.accumulate_error(row, restored, cols, lanes);
    }
    sums[p] = formats::collapse(lanes);
  };
  std::vector<std::exception_ptr> failures(panels);  // a row function that throws (the pool's tasks may not)
  core::parallel_for(panels, [&](std::size_t p) noexcept {
    try {
      quantize_panel(p);
    } catch (...) {
      failures[p] = std::current_exception();
    }
  });
  for (const auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
  for (char b : bad) {
    if (b) return std::nullopt;
  }
  formats::ErrorSums total;
  for (const auto& s : sums) formats::add_to(total, s);
  return FusedResult{{out, rows * row_bytes}, formats::stats_from_sums(total, rows * cols, rows * row_bytes)};
}

std::optional<FusedResult> quantize_and_measure(const ModelSource& source, std::size_t index, Format target,
                                                std::span<const float> importance,
                                                QuantizeWorkspace& workspace,
                                                const std::function<void()>& release_previous) {
  const SourceTensor& t = source.tensors()[index];
  if (t.affine_format || t.shape.empty()) return std::nullopt;
  const Format stored = t.ggml_type == 0 ? Format::f32 : t.ggml_type == 1 ? Format::f16 : Format::bf16;
  if (t.ggml_type != 0 && t.ggml_type != 1 && t.ggml_type != 30) return std::nullopt;
  const std::span<const std::byte> bytes = source.raw_bytes(index);
  const std::size_t cols = t.shape.back();
  if (cols == 0) return std::nullopt;
  const std::size_t rows = bytes.size() / stored_value_bytes(stored) / cols;
  try {
    return quantize_and_measure(StoredRows{bytes, stored, rows, cols}, target, importance, workspace,
                                release_previous);
  } catch (const Error& e) {
    throw Error(e.code(), "tensor '" + t.name + "': " + e.what());
  }
}

void prefetch(std::span<const std::byte> bytes) noexcept {
#if defined(__unix__)
  if (bytes.empty()) return;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(bytes.data()) / page * page;
  const auto end = reinterpret_cast<std::uintptr_t>(bytes.data()) + bytes.size();
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_WILLNEED);
#else
  (void)bytes;
#endif
}

}  // namespace qlinear::model
