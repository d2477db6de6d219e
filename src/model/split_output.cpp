// assign_shards() and the names of split files: see split_output.hpp.

#include "model/split_output.hpp"

#include "model/shards.hpp"

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

}  // namespace qlinear::model
