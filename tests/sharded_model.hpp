#pragma once
// Small synthetic models written in shards, for the tests of sharded inputs and split outputs: the
// same tensors as one safetensors file, as safetensors shards with or without an index, and as one
// GGUF file or a GGUF split whose split keys a test may set as it likes (to break them).

#include "temp_dir.hpp"
#include "test_support.hpp"

#include <qlinear/gguf.hpp>
#include <qlinear/safetensors.hpp>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace qlinear::test {

struct ShardTensor {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::vector<float> values;
};

// Six tensors: matrices whose rows are whole q8_0/q4_0 blocks, one that is not (a fallback), a
// bias and a norm (kept).
inline std::vector<ShardTensor> sharded_model_tensors() {
  return {{"blk.0.attn_q.weight", {32, 64}, gaussian(32 * 64, 11, 0.05f)},
          {"blk.0.attn_q.bias", {32}, gaussian(32, 12)},
          {"blk.0.ffn_up.weight", {48, 64}, gaussian(48 * 64, 13, 0.02f)},
          {"blk.0.ffn_down.weight", {64, 48}, gaussian(64 * 48, 14, 0.02f)},
          {"blk.1.attn_q.weight", {32, 64}, gaussian(32 * 64, 15, 0.05f)},
          {"output_norm.weight", {64}, std::vector<float>(64, 1.0f)}};
}

inline std::span<const std::byte> float_bytes(const std::vector<float>& v) { return std::as_bytes(std::span(v)); }

// One safetensors file of `tensors` (metadata format=pt, as PyTorch writes).
inline void write_safetensors_model(const std::filesystem::path& path, const std::vector<ShardTensor>& tensors) {
  SafetensorsWriter writer(path);
  writer.set_metadata("format", "pt");
  for (const auto& t : tensors) writer.add_tensor(t.name, "F32", t.shape);
  writer.write_header();
  for (const auto& t : tensors) writer.write_tensor_data(t.name, float_bytes(t.values));
  writer.finish();
}

// Shards of `tensors` cut at `cuts` (the index of each shard's first tensor after the first), named
// model-0000K-of-0000N.safetensors in `dir`; with `index`, model.safetensors.index.json beside them
// as transformers writes it. Returns the shards' paths.
inline std::vector<std::filesystem::path> write_safetensors_shards(const std::filesystem::path& dir,
                                                                   const std::vector<ShardTensor>& tensors,
                                                                   const std::vector<std::size_t>& cuts,
                                                                   bool index = true) {
  std::vector<std::size_t> starts{0};
  starts.insert(starts.end(), cuts.begin(), cuts.end());
  starts.push_back(tensors.size());
  const std::size_t count = starts.size() - 1;
  std::vector<std::filesystem::path> paths;
  nlohmann::json weight_map = nlohmann::json::object();
  for (std::size_t k = 0; k < count; ++k) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", k + 1, count);
    paths.push_back(dir / name);
    const std::vector<ShardTensor> part(tensors.begin() + static_cast<std::ptrdiff_t>(starts[k]),
                                        tensors.begin() + static_cast<std::ptrdiff_t>(starts[k + 1]));
    write_safetensors_model(paths.back(), part);
    for (const auto& t : part) weight_map[t.name] = name;
  }
  if (index) {
    const nlohmann::json json{{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}};
    const std::string text = json.dump(2);
    write_bytes(dir / "model.safetensors.index.json", std::as_bytes(std::span(text.data(), text.size())));
  }
  return paths;
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  write_bytes(path, std::as_bytes(std::span(text.data(), text.size())));
}

// The split keys a shard gets; std::nullopt leaves a key out.
struct SplitKeyValues {
  std::optional<std::uint16_t> no, count;
  std::optional<std::int32_t> tensors;
};

// One GGUF file: general.architecture, a string, then the split keys when given, then `tensors` (F32).
inline void write_gguf_model(const std::filesystem::path& path, const std::vector<ShardTensor>& tensors,
                             const SplitKeyValues& split = {}, bool metadata = true) {
  GgufWriter writer(path);
  if (metadata) {
    writer.set("general.architecture", GgufValue::string("llama"));
    writer.set("general.name", GgufValue::string("sharded test model"));
  }
  if (split.no) writer.set("split.no", GgufValue::u16(*split.no));
  if (split.count) writer.set("split.count", GgufValue::u16(*split.count));
  if (split.tensors) writer.set("split.tensors.count", GgufValue::i32(*split.tensors));
  for (const auto& t : tensors) writer.add_tensor(t.name, t.shape, 0);
  writer.write_header();
  for (const auto& t : tensors) writer.write_tensor_data(t.name, float_bytes(t.values));
  writer.finish();
}

// A GGUF split as gguf-split writes it: NAME-0000K-of-0000N.gguf, the metadata in the first, the split
// keys in each (`keys(k)` may change them). Returns the shards' paths.
template <typename Keys>
std::vector<std::filesystem::path> write_gguf_split(const std::filesystem::path& dir, const std::string& name,
                                                    const std::vector<ShardTensor>& tensors,
                                                    const std::vector<std::size_t>& cuts, Keys keys) {
  std::vector<std::size_t> starts{0};
  starts.insert(starts.end(), cuts.begin(), cuts.end());
  starts.push_back(tensors.size());
  const std::size_t count = starts.size() - 1;
  std::vector<std::filesystem::path> paths;
  for (std::size_t k = 0; k < count; ++k) {
    char file[128];
    std::snprintf(file, sizeof(file), "%s-%05zu-of-%05zu.gguf", name.c_str(), k + 1, count);
    paths.push_back(dir / file);
    const std::vector<ShardTensor> part(tensors.begin() + static_cast<std::ptrdiff_t>(starts[k]),
                                        tensors.begin() + static_cast<std::ptrdiff_t>(starts[k + 1]));
    SplitKeyValues split{static_cast<std::uint16_t>(k), static_cast<std::uint16_t>(count),
                         static_cast<std::int32_t>(tensors.size())};
    keys(k, split);
    write_gguf_model(paths.back(), part, split, k == 0);
  }
  return paths;
}

inline std::vector<std::filesystem::path> write_gguf_split(const std::filesystem::path& dir, const std::string& name,
                                                           const std::vector<ShardTensor>& tensors,
                                                           const std::vector<std::size_t>& cuts) {
  return write_gguf_split(dir, name, tensors, cuts, [](std::size_t, SplitKeyValues&) {});
}

}  // namespace qlinear::test
