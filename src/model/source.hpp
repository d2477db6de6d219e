#pragma once
// The input of a model quantization, whatever file it came from: named tensors whose values can be
// read as floats (or copied as they are), one at a time.

#include <qlinear/gguf.hpp>
#include <qlinear/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace qlinear::model {

inline constexpr std::uint32_t kNoGgmlType = UINT32_MAX;

struct SourceTensor {
  std::string name;
  std::vector<std::uint64_t> shape;  // outermost first
  std::string format_in;             // "F32", "BF16", "q4_0", "q4_K", "I64", ...
  bool floating = false;             // read_floats() can give its values
  std::uint32_t ggml_type = kNoGgmlType;  // the GGUF type its bytes already are, if any
  std::string safetensors_dtype;          // the safetensors dtype its bytes already are, if any
  std::uint64_t nbytes = 0;
  std::string copy_note;             // why a kept copy is not bit-for-bit its own type (e.g. U8 as I8)
  // An affine tensor of a GGUF file written by qlinear (its codes, scales and zero points are one
  // tensor here): its format and layout, so that keeping it rewrites all of its parts.
  std::optional<Format> affine_format;
  AffineOptions affine_options{};
};

// Float values, viewed in place where the file holds aligned f32, else converted into `storage`.
struct FloatValues {
  std::span<const float> values;
  std::vector<float> storage;
};

class ModelSource {
 public:
  // Opens a safetensors or GGUF file, told apart by content (GGUF starts with "GGUF"), or a sharded
  // model as one (shards.hpp): a folder, a safetensors index, the first file of a GGUF split.
  static std::unique_ptr<ModelSource> open(const std::filesystem::path& path);
  virtual ~ModelSource() = default;

  virtual const std::vector<SourceTensor>& tensors() const = 0;
  virtual FloatValues read_floats(std::size_t index) const = 0;
  virtual std::span<const std::byte> raw_bytes(std::size_t index) const = 0;
  // The stored tensor of an affine source tensor (affine_format set).
  virtual QuantizedTensor read_affine(std::size_t index) const;
  // Gives the input pages of a tensor that is done back to the kernel, so a whole model streams
  // through with memory for about one tensor.
  virtual void release(std::size_t index) const = 0;

  // The file holding the model's metadata: the first shard's, for a sharded model.
  virtual const GgufFile* gguf() const noexcept { return nullptr; }
  virtual const SafetensorsFile* safetensors() const noexcept { return nullptr; }

  // A model read from several files: the files, in order, and which one holds tensor `index`.
  virtual std::vector<std::filesystem::path> shard_paths() const { return {}; }
  virtual std::size_t shard_of(std::size_t /*index*/) const { return 0; }
};

// One file of a model as it is (a GGUF file's split keys are not followed).
std::unique_ptr<ModelSource> open_safetensors_file(const std::filesystem::path& path);
std::unique_ptr<ModelSource> open_gguf_file(GgufFile file);

// The shards of a model as one (sharded_source.cpp): their tensors in shard order. Error(malformed_file)
// naming both files when two shards hold a tensor of the same name.
std::unique_ptr<ModelSource> join_shards(std::vector<std::unique_ptr<ModelSource>> shards,
                                         std::vector<std::filesystem::path> paths);

// Tensors `indices` of `parent` (which must outlive it), in that order, as a model of their own;
// the metadata is the parent's.
std::unique_ptr<ModelSource> select_tensors(const ModelSource& parent, std::vector<std::size_t> indices);

}  // namespace qlinear::model
