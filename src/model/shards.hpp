#pragma once
// Models stored in several files: a Hugging Face safetensors index (model.safetensors.index.json and
// the shards its weight_map names), a folder of safetensors files, or a GGUF split written by
// llama.cpp's gguf-split (NAME-00001-of-00003.gguf ..., each with the keys split.no, split.count and
// split.tensors.count). This part finds the files and checks what their names and keys promise;
// sharded_source.cpp reads them as one model.

#include <qlinear/gguf.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qlinear::model {

// The keys llama.cpp reads from every shard of a split.
inline constexpr std::string_view kSplitNoKey = "split.no";                   // u16, from 0
inline constexpr std::string_view kSplitCountKey = "split.count";             // u16
inline constexpr std::string_view kSplitTensorsKey = "split.tensors.count";  // i32, of the whole model

// A safetensors index: which shard file holds each tensor.
struct SafetensorsIndex {
  std::vector<std::pair<std::string, std::string>> weight_map;  // tensor → shard file, in the file's order
  std::vector<std::string> shards;                              // the distinct shard files, sorted by name
};

// Parses an index. Error(malformed_file) naming `path` when the text is not a JSON object, has a key
// twice, nests deeper than an index does, lacks an object "weight_map" or has an empty one, maps a
// tensor to something other than a string, or names a shard that is not a plain file name beside the
// index (empty, ".", "..", or with a folder separator).
SafetensorsIndex parse_safetensors_index(std::string_view text, const std::filesystem::path& path);

// Checks an index against what its shards hold: (shard file name, the tensors it holds) for every
// shard of index.shards, in that order. Error(malformed_file) naming the index, the tensors and the
// shards for a tensor listed in the index that its shard does not hold, or a tensor that a shard
// holds and the index does not put there.
void check_safetensors_index(const SafetensorsIndex& index, const std::filesystem::path& path,
                             std::span<const std::pair<std::string, std::vector<std::string>>> shards);

// llama.cpp's names of split files: PREFIX-00002-of-00005.gguf (five digits, numbered from 1).
struct SplitName {
  std::string prefix;  // everything before "-NNNNN-of-NNNNN"
  unsigned number = 0, count = 0;
};
std::optional<SplitName> parse_split_name(std::string_view file_name, std::string_view extension = ".gguf");
std::string split_file_name(std::string_view prefix, unsigned number, unsigned count,
                            std::string_view extension = ".gguf");

// The split keys of one GGUF file, and how many tensors it holds.
struct SplitKeys {
  std::filesystem::path file;
  std::optional<std::uint16_t> no, count;
  std::optional<std::int32_t> tensors_count;
  std::uint64_t tensors = 0;
};
// Error(malformed_file) naming the file and the key when a split key has another type than llama.cpp
// writes (u16, u16, i32).
SplitKeys read_split_keys(const GgufFile& file);

// Checks the shards of one split, in order, as llama.cpp's loader would, and more: every shard has
// split.no equal to its position, split.count equal to the number of shards, the same
// split.tensors.count (>= 0), and the shards' tensors add up to it. Error(malformed_file) naming the
// shard and the keys that disagree.
void check_split(std::span<const SplitKeys> shards);

// The files a model input names.
struct ModelFiles {
  enum class Kind { single, safetensors_index, safetensors_folder };
  Kind kind = Kind::single;
  std::filesystem::path index;              // safetensors_index: the index file
  std::vector<std::filesystem::path> files;  // single: one file (it may be the first of a GGUF split)
  std::optional<SafetensorsIndex> weights;  // safetensors_index
};

// A file is itself, or an index when its name ends in .json. A folder holds one model: its one
// *.safetensors.index.json; else its .gguf files (the first file of a split, or a single file);
// else its .safetensors files, all of them, in name order. Error(io) for a missing input or shard
// (every missing shard named), Error(invalid_argument) for a folder that holds no model or more than
// one kind of input, Error(malformed_file) for a broken index.
ModelFiles find_model_files(const std::filesystem::path& input);

// The other files of the GGUF split whose first file is `first` (opened): none when it has no
// split.count or a count of 1. Error(malformed_file) when the first file's keys or name are not
// those of a split's first file, Error(io) naming every missing shard.
std::vector<std::filesystem::path> gguf_split_files(const GgufFile& first);

}  // namespace qlinear::model
