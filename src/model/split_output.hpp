#pragma once
// Writing a model into several files: which file each tensor goes to (the rule of llama.cpp's
// gguf-split), the files' names, and a writer that sends each tensor to its file. Every file is
// written atomically (GgufWriter, SafetensorsWriter); when the whole output does not complete, the
// files already finished are removed again, so a failed run leaves no part of its output behind.

#include "model/source.hpp"

#include <qlinear/error.hpp>
#include <qlinear/model.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace qlinear::model {

// The file of each tensor, given each tensor's size as the limit counts it (for GGUF, its bytes
// padded to 32, as gguf-split pads whatever the file's alignment). As gguf-split does: with
// `max_bytes`, a tensor starts a new file when the current file's tensors and it would exceed
// max_bytes; with `max_tensors`, every max_tensors-th tensor starts a new file. One difference: a
// first tensor larger than max_bytes stays in the first file, where gguf-split gives up because the
// first file would be empty (gguf-py's writer keeps it there too). Error(invalid_argument) when both limits or neither are given.
std::vector<std::size_t> assign_shards(std::span<const std::uint64_t> sizes, std::uint64_t max_bytes,
                                       std::size_t max_tensors);

// OUT.gguf → OUT-00002-of-00005.gguf (index 1 of 5); OUT.safetensors → OUT-00002-of-00005.safetensors.
std::filesystem::path shard_path(const std::filesystem::path& output, std::size_t index, std::size_t count);
// OUT.safetensors → OUT.safetensors.index.json, as Hugging Face names it.
std::filesystem::path safetensors_index_path(const std::filesystem::path& output);

// One tensor of a split output: what its file's header and the split rule need.
struct OutputTensor {
  std::string name, dtype;  // dtype: safetensors output
  std::vector<std::uint64_t> shape;
  std::uint32_t ggml_type = 0;  // GGUF output
  std::uint64_t bytes = 0;
};

// The output tensors of `decisions`, one per source tensor. Error(unsupported) for an i8/i4 tensor
// (several GGUF tensors and metadata keys, which a split cannot keep together).
std::vector<OutputTensor> split_layout(const ModelSource& source, const std::vector<TensorDecision>& decisions,
                                       bool gguf_output);

// Each tensor's file and the files' names. Error(invalid_argument) beyond 65535 files (split.count
// is a u16).
struct SplitFiles {
  std::vector<std::size_t> shard_of;
  std::vector<std::filesystem::path> paths;
};
SplitFiles split_files(const std::vector<OutputTensor>& layout, const std::filesystem::path& output,
                       const OutputOptions& options, bool gguf_output);

// Sends each tensor's data to the writer of its file: `open(k)` makes file k's writer with its
// tensors declared and its header written; a file is finished (committed) after its last tensor,
// and the next one opened. Until keep() the destructor removes the files finished so far.
template <typename Writer>
class SplitWriter {
 public:
  using Open = std::function<std::unique_ptr<Writer>(std::size_t shard)>;

  // shard_of: the file of each tensor, in the order the tensors are written (as assign_shards gives).
  SplitWriter(std::vector<std::size_t> shard_of, std::vector<std::filesystem::path> paths, Open open)
      : shard_of_(std::move(shard_of)), paths_(std::move(paths)), open_(std::move(open)) {
    current_ = open_(0);
  }
  SplitWriter(const SplitWriter&) = delete;
  SplitWriter& operator=(const SplitWriter&) = delete;
  ~SplitWriter() {
    current_.reset();  // its temporary file goes
    if (kept_) return;
    for (const auto& path : finished_) {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
    }
  }

  void write_tensor_data(std::string_view name, std::span<const std::byte> bytes) {
    if (next_ >= shard_of_.size() || !current_) {
      throw Error(ErrorCode::invalid_argument, paths_.back().string() + ": tensor '" + std::string(name) +
                                                   "' written after the last declared tensor");
    }
    current_->write_tensor_data(name, bytes);
    ++next_;
    if (next_ == shard_of_.size() || shard_of_[next_] != shard_) finish_current();
  }

  // After the last tensor: every file is then complete (a model of no tensors has one file).
  void finish() {
    if (current_) finish_current();
    if (shard_ + 1 != paths_.size() || next_ != shard_of_.size()) {
      throw Error(ErrorCode::invalid_argument, paths_.back().string() + ": finish() before every tensor was written");
    }
  }
  // The output is complete: the files stay.
  void keep() noexcept { kept_ = true; }

 private:
  void finish_current() {
    current_->finish();
    finished_.push_back(paths_[shard_]);
    current_.reset();
    if (next_ < shard_of_.size()) {
      shard_ = shard_of_[next_];
      current_ = open_(shard_);
    }
  }

  std::vector<std::size_t> shard_of_;
  std::vector<std::filesystem::path> paths_;
  Open open_;
  std::unique_ptr<Writer> current_;
  std::size_t shard_ = 0, next_ = 0;
  std::vector<std::filesystem::path> finished_;
  bool kept_ = false;
};

}  // namespace qlinear::model
