// safetensors reader. The header is hostile input: its length is bounded by the file and by the
// reference implementation's 100 MB; the JSON must be an object without duplicate keys, nested at most
// as deep as a valid header (3 levels) and with short arrays, so that parsing it allocates no more than
// a small multiple of its size; every tensor's dtype must be known, its size (checked arithmetic) must
// equal its byte range, and the byte ranges must tile the data section exactly, as the reference
// reader requires: no gap, no overlap, nothing after the last tensor.

#include "io/safetensors_parser.hpp"

#include "core/half.hpp"
#include "io/byte_reader.hpp"

#include <qlinear/error.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <set>
#include <string>
#include <utility>

namespace qlinear {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kMaxJsonDepth = 3;                // {tensors: {fields: [dims]}}
constexpr std::size_t kMaxArrayElements = 1024;  // shapes and data_offsets are short

struct DtypeBits {
  std::string_view name;
  std::size_t bits;
};
constexpr std::array<DtypeBits, 22> kDtypes = {{
    {"BOOL", 8},        {"F4", 4},           {"F6_E2M3", 6},     {"F6_E3M2", 6},
    {"U8", 8},          {"I8", 8},           {"F8_E5M2", 8},     {"F8_E4M3", 8},
    {"F8_E8M0", 8},     {"F8_E4M3FNUZ", 8},  {"F8_E5M2FNUZ", 8}, {"I16", 16},
    {"U16", 16},        {"F16", 16},         {"BF16", 16},       {"I32", 32},
    {"U32", 32},        {"F32", 32},         {"C64", 64},        {"F64", 64},
    {"I64", 64},        {"U64", 64},
}};

[[noreturn]] void malformed(const std::filesystem::path& path, const std::string& what) {
  throw Error(ErrorCode::malformed_file, path.string() + ": " + what);
}

std::string quote(std::string_view s) {
  std::string out;
  out.append(1, '\'').append(s).append(1, '\'');
  return out;
}

// Parses the header, refusing duplicate keys (nlohmann would keep the last silently), deep nesting
// and long arrays before they are built.
Json parse_header(const std::filesystem::path& path, const char* begin, const char* end) {
  struct Level {
    bool object;
    std::size_t count;
    std::set<std::string> keys;
  };
  std::vector<Level> stack;
  const auto callback = [&](int, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (!stack.empty() && !stack.back().object && ++stack.back().count > kMaxArrayElements) {
          malformed(path, "header has an array of more than " + std::to_string(kMaxArrayElements) + " elements");
        }
        if (static_cast<int>(stack.size()) >= kMaxJsonDepth) {
          malformed(path, "header nests deeper than a safetensors header (3 levels)");
        }
        stack.push_back({event == Json::parse_event_t::object_start, 0, {}});
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!stack.empty()) stack.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!stack.empty() && !stack.back().keys.insert(parsed.get<std::string>()).second) {
          malformed(path, "duplicate key " + quote(parsed.get<std::string>()) + " in the header");
        }
        break;
      case Json::parse_event_t::value:
        if (!stack.empty() && !stack.back().object && ++stack.back().count > kMaxArrayElements) {
          malformed(path, "header has an array of more than " + std::to_string(kMaxArrayElements) + " elements");
        }
        break;
    }
    return true;
  };
  try {
    return Json::parse(begin, end, callback);
  } catch (const Json::exception& e) {
    malformed(path, std::string("header is not valid JSON: ") + e.what());
  }
}

SafetensorsTensorInfo parse_tensor(const std::filesystem::path& path, const std::string& name,
                                   const Json& entry) {
  const std::string where = "tensor " + quote(name);
  if (!entry.is_object()) malformed(path, where + ": header entry is not an object");
  const auto dtype = entry.find("dtype");
  const auto shape = entry.find("shape");
  const auto offsets = entry.find("data_offsets");
  if (dtype == entry.end() || !dtype->is_string()) malformed(path, where + ": missing string 'dtype'");
  if (shape == entry.end() || !shape->is_array()) malformed(path, where + ": missing array 'shape'");
  if (offsets == entry.end() || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
    malformed(path, where + ": 'data_offsets' must be two non-negative integers");
  }
  SafetensorsTensorInfo info;
  info.name = name;
  info.dtype = dtype->get<std::string>();
  const std::size_t bits = safetensors_dtype_bits(info.dtype);
  if (bits == 0) malformed(path, where + ": unknown dtype " + quote(info.dtype));
  std::uint64_t total_bits = bits;
  for (const auto& dim : *shape) {
    if (!dim.is_number_unsigned()) malformed(path, where + ": shape entries must be non-negative integers");
    const auto d = dim.get<std::uint64_t>();
    info.shape.push_back(d);
    if (__builtin_mul_overflow(total_bits, d, &total_bits)) malformed(path, where + ": the size of its shape overflows");
  }
  if (total_bits % 8 != 0) malformed(path, where + ": " + info.dtype + " × shape is not a whole number of bytes");
  info.begin = (*offsets)[0].get<std::uint64_t>();
  info.end = (*offsets)[1].get<std::uint64_t>();
  if (info.begin > info.end) {
    malformed(path, where + ": data_offsets [" + std::to_string(info.begin) + ", " + std::to_string(info.end) +
                        "] end before they begin");
  }
  if (info.end - info.begin != total_bits / 8) {
    malformed(path, where + ": data_offsets span " + std::to_string(info.end - info.begin) +
                        " bytes but " + info.dtype + " × shape needs " + std::to_string(total_bits / 8));
  }
  return info;
}

}  // namespace

std::size_t safetensors_dtype_bits(std::string_view dtype) noexcept {
  for (const DtypeBits& d : kDtypes) {
    if (d.name == dtype) return d.bits;
  }
  return 0;
}

namespace io {

SafetensorsFile SafetensorsParser::parse(std::shared_ptr<const MappedFile> mapped) {
  const std::filesystem::path& path = mapped->path();
  const std::span<const std::byte> bytes = mapped->bytes();
  SafetensorsFile file;
  if (bytes.size() < 8) {
    throw_malformed(path, 0, "truncated: the file is too short (" + std::to_string(bytes.size()) +
                                 " bytes) to hold the 8-byte header length");
  }
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<std::uint8_t>(bytes[static_cast<std::size_t>(i)]);
  if (header_len > bytes.size() - 8) {
    throw_malformed(path, 0, "truncated: header length " + std::to_string(header_len) +
                                 " exceeds the file: only " + std::to_string(bytes.size() - 8) +
                                 " bytes follow it");
  }
  if (header_len > kSafetensorsMaxHeaderBytes) {
    throw_malformed(path, 0, "header length " + std::to_string(header_len) + " is over the 100 MB limit");
  }
  file.data_offset_ = 8 + header_len;
  const std::uint64_t data_size = bytes.size() - file.data_offset_;

  const char* begin = reinterpret_cast<const char*>(bytes.data() + 8);
  const Json header = parse_header(path, begin, begin + header_len);
  if (!header.is_object()) malformed(path, "header is not a JSON object");

  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) malformed(path, "__metadata__ is not an object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) malformed(path, "__metadata__ value " + quote(mk) + " is not a string");
        file.metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    file.tensors_.push_back(parse_tensor(path, key, value));
  }

  // The byte ranges, in offset order, must tile [0, data_size) exactly.
  std::vector<const SafetensorsTensorInfo*> by_offset;
  by_offset.reserve(file.tensors_.size());
  for (const auto& t : file.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return std::pair(a->begin, a->end) < std::pair(b->begin, b->end); });
  std::uint64_t expected = 0;
  const SafetensorsTensorInfo* previous = nullptr;
  for (const SafetensorsTensorInfo* t : by_offset) {
    if (t->end > data_size) {
      malformed(path, "truncated: tensor " + quote(t->name) + ": data_offsets end at " + std::to_string(t->end) +
                          ", outside the data section of " + std::to_string(data_size) + " bytes");
    }
    if (t->begin < expected) {
      malformed(path, "tensors " + quote(previous->name) + " and " + quote(t->name) + " overlap");
    }
    if (t->begin > expected) {
      malformed(path, "tensor " + quote(t->name) + ": a gap of " + std::to_string(t->begin - expected) +
                          " bytes before its data (data_offsets must tile the data section)");
    }
    expected = t->end;
    previous = t;
  }
  if (expected != data_size) {
    malformed(path, std::to_string(data_size - expected) + " bytes after the last tensor's data");
  }

  file.tensors_by_name_.resize(file.tensors_.size());
  for (std::uint32_t i = 0; i < file.tensors_by_name_.size(); ++i) file.tensors_by_name_[i] = i;
  std::sort(file.tensors_by_name_.begin(), file.tensors_by_name_.end(),
            [&](auto a, auto b) { return file.tensors_[a].name < file.tensors_[b].name; });
  file.file_ = std::move(mapped);
  return file;
}

}  // namespace io

std::uint64_t SafetensorsTensorInfo::element_count() const noexcept {
  std::uint64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  return io::SafetensorsParser::parse(io::MappedFile::open(path));
}

const std::filesystem::path& SafetensorsFile::path() const noexcept {
  static const std::filesystem::path empty;
  return file_ ? file_->path() : empty;
}

std::uint64_t SafetensorsFile::file_size() const noexcept { return file_ ? file_->size() : 0; }

const SafetensorsTensorInfo* SafetensorsFile::find(std::string_view name) const noexcept {
  const auto it = std::lower_bound(tensors_by_name_.begin(), tensors_by_name_.end(), name,
                                   [&](std::uint32_t i, std::string_view n) { return tensors_[i].name < n; });
  return it != tensors_by_name_.end() && tensors_[*it].name == name ? &tensors_[*it] : nullptr;
}

const SafetensorsTensorInfo& SafetensorsFile::tensor(std::string_view name) const {
  if (const SafetensorsTensorInfo* info = find(name)) return *info;
  throw Error(ErrorCode::invalid_argument, path().string() + ": no tensor named '" + std::string(name) + "'");
}

std::span<const std::byte> SafetensorsFile::tensor_data(const SafetensorsTensorInfo& info) const {
  std::uint64_t begin = 0, end = 0;
  if (!file_ || info.begin > info.end || __builtin_add_overflow(data_offset_, info.begin, &begin) ||
      __builtin_add_overflow(data_offset_, info.end, &end) || end > file_->size()) {
    throw Error(ErrorCode::invalid_argument, path().string() + ": tensor '" + info.name +
                                                 "' does not lie inside this file");
  }
  return file_->bytes().subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin));
}

void SafetensorsFile::release(const SafetensorsTensorInfo& info) const noexcept {
  try {
    if (file_) file_->release(tensor_data(info));
  } catch (const Error&) {
    // A tensor outside this file has no pages of it to release.
  }
}

std::vector<float> SafetensorsFile::read_f32(std::string_view name) const {
  const SafetensorsTensorInfo& info = tensor(name);
  const std::span<const std::byte> src = tensor_data(info);
  const auto n = static_cast<std::size_t>(info.element_count());
  if (info.dtype == "F32") {
    std::vector<float> out(n);
    if (n != 0) std::memcpy(out.data(), src.data(), n * sizeof(float));
    return out;
  }
  if (info.dtype == "F16" || info.dtype == "BF16") {
    const bool half = info.dtype == "F16";
    std::vector<float> out(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint16_t bits = io::load_u16_le(src.data() + 2 * i);
      out[i] = half ? core::fp16_to_fp32(bits) : core::bf16_to_fp32(bits);
    }
    return out;
  }
  throw Error(ErrorCode::unsupported, path().string() + ": tensor '" + info.name + "' has dtype " +
                                          info.dtype + "; only F32, F16 and BF16 can be read as floats");
}

}  // namespace qlinear
