// assign_shards() and the names of split files: see split_output.hpp.

#include "model/split_output.hpp"

#include "io/ggml_types.hpp"
#include "model/plan.hpp"
#include "model/shards.hpp"

#include <qlinear/gguf.hpp>
#include <qlinear/safetensors.hpp>

namespace qlinear::model {

std::vector<std::size_t> assign_shards(std::span<const std::uint64_t> sizes, std::uint64_t max_bytes,
                                       std::size_t max_tensors) {
  if ((max_bytes == 0) == (max_tensors == 0)) {
    throw Error(ErrorCode::invalid_argument, "a split needs one limit: a size or a tensor count, not both");
  }
  std::vector<std::size_t> shard_of(sizes.size());
  std::size_t shard = 0;
  std::uint64_t current = 0;  // the current file's tensor bytes, without metadata
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::uint64_t next = current + sizes[i];
    const bool split = max_bytes != 0 ? next > max_bytes : i % max_tensors == 0;
    if (split && i > 0) {
      ++shard;
      current = sizes[i];
    } else {
      current = next;
    }
    shard_of[i] = shard;
  }
  return shard_of;
}

std::filesystem::path shard_path(const std::filesystem::path& output, std::size_t index, std::size_t count) {
  const std::string extension = output.extension().string();
  const std::string stem = output.filename().string().substr(0, output.filename().string().size() - extension.size());
  return output.parent_path() /
         split_file_name(stem, static_cast<unsigned>(index + 1), static_cast<unsigned>(count), extension);
}

std::filesystem::path safetensors_index_path(const std::filesystem::path& output) {
  std::filesystem::path index = output;
  index += ".index.json";
  return index;
}

std::vector<OutputTensor> split_layout(const ModelSource& source, const std::vector<TensorDecision>& decisions,
                                       bool gguf_output) {
  std::vector<OutputTensor> layout;
  for (std::size_t i = 0; i < decisions.size(); ++i) {
    const SourceTensor& t = source.tensors()[i];
    const TensorDecision& d = decisions[i];
    if (t.affine_format || (d.target && format_info(*d.target).affine)) {
      throw Error(ErrorCode::unsupported, "tensor '" + d.name +
                                              "': an i8/i4 tensor is several GGUF tensors and metadata, which a "
                                              "split output cannot keep together; write one file");
    }
    OutputTensor out{d.name, {}, {}, 0, 0};
    std::uint64_t elements = 1;
    for (const auto n : t.shape) elements *= n;
    if (gguf_output) {
      out.shape = gguf_shape(t.shape);
      out.ggml_type = d.target ? ggml_type_for(*d.target) : t.ggml_type;
      const io::GgmlTypeTraits* traits = io::sized_ggml_type(out.ggml_type);
      if (traits == nullptr) throw Error(ErrorCode::unsupported, "tensor '" + d.name + "': no GGUF type for " + t.format_in);
      out.bytes = elements / traits->block_size * traits->type_size;
    } else {
      out.shape = t.shape;
      out.dtype = !d.target ? t.safetensors_dtype
                  : *d.target == Format::f32 ? "F32"
                  : *d.target == Format::f16 ? "F16"
                                             : "BF16";  // a safetensors plan holds float formats only
      out.bytes = elements * safetensors_dtype_bits(out.dtype) / 8;
    }
    layout.push_back(std::move(out));
  }
  return layout;
}

SplitFiles split_files(const std::vector<OutputTensor>& layout, const std::filesystem::path& output,
                       const OutputOptions& options, bool gguf_output) {
  // gguf-split counts each tensor padded to GGUF's default alignment (32), whatever the file's.
  std::vector<std::uint64_t> sizes;
  for (const auto& t : layout) sizes.push_back(gguf_output ? (t.bytes + 31) / 32 * 32 : t.bytes);
  SplitFiles files;
  files.shard_of = assign_shards(sizes, options.split_max_bytes, options.split_max_tensors);
  const std::size_t count = files.shard_of.empty() ? 1 : files.shard_of.back() + 1;
  if (count > UINT16_MAX) {
    throw Error(ErrorCode::invalid_argument, output.string() + ": " + std::to_string(count) +
                                                 " files; a split has at most 65535 (split.count is a u16)");
  }
  for (std::size_t k = 0; k < count; ++k) files.paths.push_back(shard_path(output, k, count));
  return files;
}

}  // namespace qlinear::model
