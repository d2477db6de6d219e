// libFuzzer target: the checks of sharded models. The first byte picks what the rest is:
//   0, 1: a safetensors index (JSON) → parse_safetensors_index, then check_safetensors_index against
//         shards that hold exactly what it lists (0: which must pass) or with one tensor moved or
//         dropped (1: which must fail);
//   2:    split keys of up to 64 shards, 10 bytes each (which keys are present, split.no,
//         split.count, split.tensors.count, the shard's tensor count) → check_split, and the bytes
//         as a file name → parse_split_name (whose result must name the file again);
//   3:    GGUF bytes → read_split_keys → check_split of that one file.
// Any input must pass or give a qlinear::Error; a crash, a sanitizer report, another exception, a
// hang, or a verdict against the rule above is a bug.

#include "io/gguf_parser.hpp"
#include "model/shards.hpp"

#include <qlinear/error.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Shards = std::vector<std::pair<std::string, std::vector<std::string>>>;

void check_index(std::string_view text, bool perturb, std::uint8_t which) {
  const qlinear::model::SafetensorsIndex index = qlinear::model::parse_safetensors_index(text, "fuzz.index.json");
  std::map<std::string, std::vector<std::string>> held;
  for (const auto& [name, shard] : index.weight_map) held[shard].push_back(name);
  Shards shards;
  for (const auto& shard : index.shards) shards.emplace_back(shard, held[shard]);
  if (!perturb) {
    try {
      qlinear::model::check_safetensors_index(index, "fuzz.index.json", shards);
    } catch (const qlinear::Error&) {
      __builtin_trap();  // shards that hold exactly what the index lists
    }
    return;
  }
  auto& from = shards[which % shards.size()].second;
  if (from.empty()) return;
  const std::string moved = from.back();
  from.pop_back();
  if (which & 0x80) shards[(which + 1) % shards.size()].second.push_back(moved);  // else dropped
  try {
    qlinear::model::check_safetensors_index(index, "fuzz.index.json", shards);
  } catch (const qlinear::Error&) {
    return;
  }
  // Moved to the same shard it came from (one shard) is no change; anything else must be caught.
  if (!((which & 0x80) && shards.size() == 1)) __builtin_trap();
}

void check_keys(const std::uint8_t* data, std::size_t size) {
  std::vector<qlinear::model::SplitKeys> shards;
  const auto u16 = [&](std::size_t at) { return static_cast<std::uint16_t>(data[at] | data[at + 1] << 8); };
  for (std::size_t at = 0; at + 10 <= size && shards.size() < 64; at += 10) {
    qlinear::model::SplitKeys k;
    k.file = "shard" + std::to_string(shards.size()) + ".gguf";
    if (data[at] & 1) k.no = u16(at + 1);
    if (data[at] & 2) k.count = u16(at + 3);
    if (data[at] & 4) {
      k.tensors_count = static_cast<std::int32_t>(static_cast<std::uint32_t>(u16(at + 5)) | static_cast<std::uint32_t>(u16(at + 7)) << 16);
    }
    k.tensors = data[at + 9];
    shards.push_back(k);
  }
  if (!shards.empty()) {
    try {
      qlinear::model::check_split(shards);
    } catch (const qlinear::Error&) {
    }
  }
  const std::string_view name(reinterpret_cast<const char*>(data), size);
  if (const auto parsed = qlinear::model::parse_split_name(name)) {
    if (qlinear::model::split_file_name(parsed->prefix, parsed->number, parsed->count) != name) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t mode = data[0] & 3, which = data[1];
  data += 2;
  size -= 2;
  try {
    if (mode <= 1) {
      check_index(std::string_view(reinterpret_cast<const char*>(data), size), mode == 1, which);
    } else if (mode == 2) {
      check_keys(data, size);
    } else {
      std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
      const qlinear::GgufFile file =
          qlinear::io::GgufParser::parse(qlinear::io::MappedFile::from_bytes("fuzz-00001-of-00001.gguf", std::move(bytes)));
      const qlinear::model::SplitKeys keys = qlinear::model::read_split_keys(file);
      qlinear::model::check_split(std::span(&keys, 1));
    }
  } catch (const qlinear::Error&) {
  }
  return 0;
}
