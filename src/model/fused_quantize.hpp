#pragma once
// Quantizing and measuring a tensor in one pass: row panels on every thread of the pool, each row
// converted from the file's f32/f16/bf16 (through the kernel table), checked, quantized, and
// dequantized again while it is in cache to add into the panel's error sums. The bytes are
// quantize()'s and the statistics measure()'s, bit for bit (error_sums.hpp): this is the same
// work without a float copy of the tensor, a second pass over it, or fresh buffers per tensor.

#include "model/source.hpp"

#include <qlinear/format.hpp>
#include <qlinear/tensor.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>

namespace qlinear::model {

// A tensor's rows as the file stores them: rows × cols values of f32, f16 or bf16, little-endian,
// at any byte address.
struct StoredRows {
  std::span<const std::byte> bytes;
  Format stored = Format::f32;
  std::size_t rows = 0, cols = 0;
};

// Two output buffers, used in turn (one tensor is written from one while the next is quantized
// into the other), kept from tensor to tensor and grown only for a larger one: their pages are
// faulted in once per model instead of once per tensor.
class QuantizeWorkspace {
 public:
  QuantizeWorkspace() = default;
  // `single`: one buffer only, handed out again on every call (for a workspace that holds one
  // tensor's output at a time, as each of --jobs' tensors does until it is written).
  explicit QuantizeWorkspace(bool single) : single_(single) {}

  // A buffer of at least `bytes`: the other one than last time when `keep_previous` (what the call
  // before returned stays valid), else the same one again.
  std::byte* output(std::size_t bytes, bool keep_previous = true);

 private:
  std::unique_ptr<std::byte[]> output_[2];
  std::size_t capacity_[2] = {0, 0};
  int next_ = 0;
  bool single_ = false;
};

struct FusedResult {
  std::span<const std::byte> bytes;  // in the workspace: valid until its next use but one
  QuantStats stats;
};

// Empty where this pass does not apply: an affine target, rows the format must pad, a stored
// format other than f32/f16/bf16, importance weights that quantize() would refuse, or a weight
// that cannot be quantized (NaN, Inf, beyond f16). quantize() and measure() then do the same work
// and give the error that names the weight.
//
// The previous result's bytes stay valid, in the workspace's other buffer, while the output is
// smaller than the input (the usual case: a second output buffer then costs less than the input).
// Otherwise (f32 to f32, bf16 to f32, ...) `release_previous` is called first, to finish with them,
// and the same buffer is used again, so memory stays within the input and one output; without
// it, the other buffer is used all the same.
std::optional<FusedResult> quantize_and_measure(const StoredRows& input, Format target,
                                                std::span<const float> importance,
                                                QuantizeWorkspace& workspace,
                                                const std::function<void()>& release_previous = {});

// The same for tensor `index` of a model, read from the file's bytes where it stores f32, f16 or
// bf16 (of any shape: the last dimension is the row).
std::optional<FusedResult> quantize_and_measure(const ModelSource& source, std::size_t index, Format target,
                                                std::span<const float> importance,
                                                QuantizeWorkspace& workspace,
                                                const std::function<void()>& release_previous = {});

// Asks the kernel to start reading `bytes` (the next tensor, in a mapped file) into the page cache
// now, so that reading overlaps quantizing the current tensor when the file is not cached yet. A
// hint: nothing is mapped or counted as this process's memory, and failures are ignored.
void prefetch(std::span<const std::byte> bytes) noexcept;

}  // namespace qlinear::model
