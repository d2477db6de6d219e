// Finding a sharded model's files and checking what their names, index and split keys promise. The
// shards' contents are read (and checked again by their own readers) in sharded_source.cpp.

#include "model/shards.hpp"

#include <qlinear/error.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

namespace qlinear::model {
namespace {

using Json = nlohmann::ordered_json;

// An index lists each tensor once, with a file name: a few dozen bytes a tensor. 100 MB is several
// times what a model of a million tensors needs, and bounds what a hostile file can make us allocate.
constexpr std::uintmax_t kMaxIndexBytes = 100'000'000;
// {"metadata": {...: [...]}, "weight_map": {...}}: metadata values may be arrays or objects (some
// writers add them); anything deeper is not an index.
constexpr int kMaxIndexDepth = 4;
// Error messages list this many names, then how many more.
constexpr std::size_t kListed = 8;

[[noreturn]] void malformed(const std::filesystem::path& path, const std::string& what) {
  throw Error(ErrorCode::malformed_file, path.string() + ": " + what);
}

std::string quote(std::string_view s) { return std::string("'").append(s).append("'"); }

// "'a', 'b', 'c' and 5 more".
std::string list_names(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < kListed; ++i) out += (i == 0 ? "" : ", ") + quote(names[i]);
  if (names.size() > kListed) out += " and " + std::to_string(names.size() - kListed) + " more";
  return out;
}

bool plain_file_name(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string read_text(const std::filesystem::path& path) {
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(ErrorCode::io, path.string() + ": cannot open for reading: " + ec.message());
  if (size > kMaxIndexBytes) malformed(path, "an index of " + std::to_string(size) + " bytes; at most 100 MB");
  std::ifstream in(path, std::ios::binary);
  std::string text(static_cast<std::size_t>(size), '\0');
  if (!in || !in.read(text.data(), static_cast<std::streamsize>(size))) {
    throw Error(ErrorCode::io, path.string() + ": cannot read");
  }
  return text;
}

// Error(io) naming every file of `files` that does not exist.
void require_files(const std::filesystem::path& from, const std::vector<std::filesystem::path>& files,
                   std::size_t expected) {
  std::vector<std::string> missing;
  for (const auto& f : files) {
    if (!std::filesystem::is_regular_file(f)) missing.push_back(f.filename().string());
  }
  if (missing.empty()) return;
  throw Error(ErrorCode::io, from.string() + ": " + std::to_string(missing.size()) + " of its " +
                                 std::to_string(expected) + " shards missing beside it: " + list_names(missing));
}

}  // namespace

SafetensorsIndex parse_safetensors_index(std::string_view text, const std::filesystem::path& path) {
  std::vector<std::set<std::string>> keys;  // one per open object or array (arrays keep theirs empty)
  const auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (depth >= kMaxIndexDepth) malformed(path, "nests deeper than a safetensors index");
        keys.emplace_back();
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second) {
          malformed(path, "key " + quote(parsed.get<std::string>()) + " appears twice");
        }
        break;
      case Json::parse_event_t::value:
        break;
    }
    return true;
  };
  Json json;
  try {
    json = Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::exception& e) {
    malformed(path, std::string("not valid JSON: ") + e.what());
  }
  if (!json.is_object()) malformed(path, "not a JSON object");
  const auto map = json.find("weight_map");
  if (map == json.end() || !map->is_object()) malformed(path, "no object \"weight_map\": not a safetensors index");
  if (map->empty()) malformed(path, "\"weight_map\" lists no tensor");
  SafetensorsIndex index;
  std::set<std::string> shards;
  for (const auto& [name, file] : map->items()) {
    if (!file.is_string()) malformed(path, "tensor " + quote(name) + ": its shard is not a string");
    const std::string shard = file.get<std::string>();
    if (!plain_file_name(shard)) {
      malformed(path, "tensor " + quote(name) + ": shard " + quote(shard) + " is not a file name beside the index");
    }
    if (name.empty()) malformed(path, "a tensor with an empty name");
    shards.insert(shard);
    index.weight_map.emplace_back(name, shard);
  }
  index.shards.assign(shards.begin(), shards.end());
  return index;
}

void check_safetensors_index(const SafetensorsIndex& index, const std::filesystem::path& path,
                             std::span<const std::pair<std::string, std::vector<std::string>>> shards) {
  std::map<std::string, std::string> listed(index.weight_map.begin(), index.weight_map.end());
  std::map<std::string, std::string> held;  // tensor → the first shard holding it
  std::vector<std::string> unlisted, misplaced;
  for (const auto& [shard, tensors] : shards) {
    for (const auto& name : tensors) {
      held.emplace(name, shard);
      const auto it = listed.find(name);
      if (it == listed.end()) {
        unlisted.push_back(name + "' in '" + shard);
      } else if (it->second != shard) {
        misplaced.push_back(name + "' in '" + shard + "', listed in '" + it->second);
      }
    }
  }
  std::vector<std::string> absent;
  for (const auto& [name, shard] : index.weight_map) {
    const auto it = held.find(name);
    if (it == held.end()) absent.push_back(name + "' in '" + shard);
  }
  // Quoting: each entry above is "name' ... 'shard" so that list_names() quotes both ends.
  if (!absent.empty()) {
    malformed(path, std::to_string(absent.size()) + " tensor(s) listed in the index are absent from their shard: " +
                        list_names(absent));
  }
  if (!misplaced.empty()) {
    malformed(path, std::to_string(misplaced.size()) + " tensor(s) held by another shard than the index says: " +
                        list_names(misplaced));
  }
  if (!unlisted.empty()) {
    malformed(path, std::to_string(unlisted.size()) + " tensor(s) held by a shard but not in the index: " +
                        list_names(unlisted));
  }
}

std::optional<SplitName> parse_split_name(std::string_view file_name, std::string_view extension) {
  // PREFIX-NNNNN-of-NNNNN.ext: the tail is 15 characters plus the extension.
  constexpr std::size_t kTail = 15;
  if (!ends_with(file_name, extension) || file_name.size() <= kTail + extension.size()) return std::nullopt;
  const std::string_view tail = file_name.substr(file_name.size() - extension.size() - kTail, kTail);
  const auto digits = [](std::string_view s, unsigned& out) {
    out = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      out = out * 10 + static_cast<unsigned>(c - '0');
    }
    return true;
  };
  SplitName name;
  if (tail[0] != '-' || tail.substr(6, 4) != "-of-" || !digits(tail.substr(1, 5), name.number) ||
      !digits(tail.substr(10, 5), name.count)) {
    return std::nullopt;
  }
  if (name.number == 0 || name.count == 0 || name.number > name.count) return std::nullopt;
  name.prefix = std::string(file_name.substr(0, file_name.size() - extension.size() - kTail));
  return name;
}

std::string split_file_name(std::string_view prefix, unsigned number, unsigned count, std::string_view extension) {
  char tail[32];
  std::snprintf(tail, sizeof(tail), "-%05u-of-%05u", number, count);
  return std::string(prefix).append(tail).append(extension);
}

SplitKeys read_split_keys(const GgufFile& file) {
  SplitKeys keys;
  keys.file = file.path();
  keys.tensors = file.tensors().size();
  const auto typed = [&](std::string_view key, GgufValueType type) -> const GgufValue* {
    const GgufValue* v = file.find(key);
    if (v != nullptr && v->type() != type) {
      malformed(file.path(), "key " + std::string(key) + " is a " + std::string(gguf_value_type_name(v->type())) +
                                 "; llama.cpp writes a " + std::string(gguf_value_type_name(type)));
    }
    return v;
  };
  if (const GgufValue* v = typed(kSplitNoKey, GgufValueType::u16)) keys.no = static_cast<std::uint16_t>(v->as_u64());
  if (const GgufValue* v = typed(kSplitCountKey, GgufValueType::u16)) {
    keys.count = static_cast<std::uint16_t>(v->as_u64());
  }
  if (const GgufValue* v = typed(kSplitTensorsKey, GgufValueType::i32)) {
    keys.tensors_count = static_cast<std::int32_t>(v->as_i64());
  }
  return keys;
}

void check_split(std::span<const SplitKeys> shards) {
  if (shards.empty()) throw Error(ErrorCode::internal, "check_split: no shards");
  const SplitKeys& first = shards[0];
  const std::string of = " of a split of " + std::to_string(shards.size());
  if (!first.tensors_count) malformed(first.file, "no key split.tensors.count" + of);
  if (*first.tensors_count < 0) {
    malformed(first.file, "split.tensors.count is " + std::to_string(*first.tensors_count));
  }
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const SplitKeys& s = shards[i];
    const std::string position = "shard " + std::to_string(i + 1) + of;
    if (!s.no || !s.count || !s.tensors_count) {
      malformed(s.file, position + ": it lacks " +
                            std::string(!s.no ? kSplitNoKey : !s.count ? kSplitCountKey : kSplitTensorsKey));
    }
    if (*s.no != i) malformed(s.file, position + ", but its split.no is " + std::to_string(*s.no));
    if (*s.count != shards.size()) malformed(s.file, position + ", but its split.count is " + std::to_string(*s.count));
    if (*s.tensors_count != *first.tensors_count) {
      malformed(s.file, position + ": its split.tensors.count is " + std::to_string(*s.tensors_count) + ", " +
                            first.file.filename().string() + "'s " + std::to_string(*first.tensors_count));
    }
    total += s.tensors;
  }
  if (total != static_cast<std::uint64_t>(*first.tensors_count)) {
    malformed(first.file, "split.tensors.count is " + std::to_string(*first.tensors_count) + ", but the " +
                              std::to_string(shards.size()) + " shards hold " + std::to_string(total) + " tensors");
  }
}

std::vector<std::filesystem::path> gguf_split_files(const GgufFile& first) {
  const SplitKeys keys = read_split_keys(first);
  if (!keys.count || *keys.count <= 1) return {};
  const std::string file_name = first.path().filename().string();
  const auto name = parse_split_name(file_name);
  if (keys.no && *keys.no != 0) {
    malformed(first.path(), "is shard " + std::to_string(*keys.no + 1) + " of a split of " +
                                std::to_string(*keys.count) + "; give the first shard, " +
                                split_file_name(name ? name->prefix : "NAME", 1, *keys.count));
  }
  if (!name || name->number != 1 || name->count != *keys.count) {
    malformed(first.path(), "split.count is " + std::to_string(*keys.count) +
                                ", but the file is not named as the first shard of such a split (NAME" +
                                split_file_name("", 1, *keys.count) + ")");
  }
  std::vector<std::filesystem::path> files{first.path()};
  for (unsigned i = 2; i <= *keys.count; ++i) {
    files.push_back(first.path().parent_path() / split_file_name(name->prefix, i, *keys.count));
  }
  require_files(first.path(), files, files.size());
  return files;
}

ModelFiles find_model_files(const std::filesystem::path& input) {
  ModelFiles out;
  std::error_code ec;
  if (std::filesystem::is_directory(input, ec)) {
    std::vector<std::filesystem::path> indexes, ggufs, firsts, safetensors;
    for (const auto& entry : std::filesystem::directory_iterator(input)) {
      if (!entry.is_regular_file()) continue;
      const std::string name = entry.path().filename().string();
      if (name.starts_with(".")) continue;  // hidden files: temporary files of an unfinished write, ...
      if (ends_with(name, ".safetensors.index.json")) indexes.push_back(entry.path());
      if (ends_with(name, ".safetensors")) safetensors.push_back(entry.path());
      if (ends_with(name, ".gguf")) {
        ggufs.push_back(entry.path());
        const auto split = parse_split_name(name);
        if (split && split->number == 1) firsts.push_back(entry.path());
      }
    }
    const auto names = [](std::vector<std::filesystem::path> paths) {
      std::sort(paths.begin(), paths.end());
      std::vector<std::string> file_names;
      for (const auto& p : paths) file_names.push_back(p.filename().string());
      return list_names(file_names);
    };
    const auto ambiguous = [&](const std::string& what) {
      throw Error(ErrorCode::invalid_argument, input.string() + ": holds more than one model (" + what +
                                                   "); name the file to read");
    };
    if (indexes.size() > 1) ambiguous(names(indexes));
    if (indexes.size() == 1) {
      if (!ggufs.empty()) ambiguous(names(indexes) + " and " + names(ggufs));
      return find_model_files(indexes[0]);
    }
    if (!ggufs.empty() && !safetensors.empty()) ambiguous(names(ggufs) + " and " + names(safetensors));
    if (!ggufs.empty()) {
      if (firsts.size() == 1) {
        out.files = {firsts[0]};
      } else if (ggufs.size() == 1) {
        out.files = {ggufs[0]};
      } else {
        ambiguous(names(firsts.empty() ? ggufs : firsts));
      }
      return out;
    }
    if (safetensors.empty()) {
      throw Error(ErrorCode::invalid_argument,
                  input.string() + ": no model in this folder (no .gguf, .safetensors or .safetensors.index.json)");
    }
    std::sort(safetensors.begin(), safetensors.end());
    out.kind = safetensors.size() == 1 ? ModelFiles::Kind::single : ModelFiles::Kind::safetensors_folder;
    out.files = std::move(safetensors);
    return out;
  }
  if (input.extension() == ".json") {
    out.kind = ModelFiles::Kind::safetensors_index;
    out.index = input;
    out.weights = parse_safetensors_index(read_text(input), input);
    for (const auto& shard : out.weights->shards) out.files.push_back(input.parent_path() / shard);
    require_files(input, out.files, out.files.size());
    return out;
  }
  out.files = {input};
  return out;
}

}  // namespace qlinear::model
