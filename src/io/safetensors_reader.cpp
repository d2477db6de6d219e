// safetensors reader. The header is hostile input: its length is bounded by the file, every tensor's
// byte range must lie inside the data section, match dtype × shape (checked arithmetic) and not
// overlap another tensor's.

#include "core/checked.hpp"
#include "core/half.hpp"

#include <qlinear/error.hpp>
#include <qlinear/safetensors.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>

namespace qlinear {
namespace {

constexpr std::uint64_t kMaxHeaderBytes = 100u << 20;  // the reference implementation's limit

std::size_t dtype_size(const std::string& dtype) {
  static const std::map<std::string, std::size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2}, {"I64", 8},     {"I32", 4},     {"I16", 2},
      {"I8", 1},  {"U64", 8}, {"U32", 4},  {"U16", 2},  {"U8", 1},      {"BOOL", 1},    {"F8_E4M3", 1},
      {"F8_E5M2", 1}};
  const auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

[[noreturn]] void malformed(const std::filesystem::path& path, const std::string& what) {
  throw Error(ErrorCode::malformed_file, path.string() + ": " + what);
}

std::vector<std::byte> read_whole_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw Error(ErrorCode::io, path.string() + ": cannot open for reading");
  const std::streamoff size = in.tellg();
  if (size < 0) throw Error(ErrorCode::io, path.string() + ": cannot tell the file size");
  std::vector<std::byte> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    throw Error(ErrorCode::io, path.string() + ": read failed");
  }
  return bytes;
}

std::uint64_t read_u64_le(const std::byte* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

SafetensorsTensorInfo parse_tensor(const std::filesystem::path& path, const std::string& name,
                                   const nlohmann::json& entry, std::uint64_t data_size) {
  const std::string where = "tensor '" + name + "'";
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
  const std::size_t element_size = dtype_size(info.dtype);
  if (element_size == 0) malformed(path, where + ": unknown dtype '" + info.dtype + "'");
  std::uint64_t bytes = element_size;
  for (const auto& dim : *shape) {
    if (!dim.is_number_unsigned()) malformed(path, where + ": shape entries must be non-negative integers");
    const auto d = dim.get<std::uint64_t>();
    info.shape.push_back(d);
    if (__builtin_mul_overflow(bytes, d, &bytes)) malformed(path, where + ": shape product overflows");
  }
  info.begin = (*offsets)[0].get<std::uint64_t>();
  info.end = (*offsets)[1].get<std::uint64_t>();
  if (info.begin > info.end || info.end > data_size) {
    malformed(path, where + ": data_offsets [" + std::to_string(info.begin) + ", " +
                        std::to_string(info.end) + ") outside the data section of " +
                        std::to_string(data_size) + " bytes");
  }
  if (info.end - info.begin != bytes) {
    malformed(path, where + ": data_offsets span " + std::to_string(info.end - info.begin) +
                        " bytes but dtype × shape needs " + std::to_string(bytes));
  }
  return info;
}

}  // namespace

std::uint64_t SafetensorsTensorInfo::element_count() const noexcept {
  std::uint64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  SafetensorsFile file;
  file.path_ = path;
  auto bytes = std::make_shared<std::vector<std::byte>>(read_whole_file(path));
  if (bytes->size() < 8) malformed(path, "file of " + std::to_string(bytes->size()) + " bytes is too short");
  const std::uint64_t header_len = read_u64_le(bytes->data());
  if (header_len > bytes->size() - 8 || header_len > kMaxHeaderBytes) {
    malformed(path, "header length " + std::to_string(header_len) + " exceeds the file (" +
                        std::to_string(bytes->size()) + " bytes) or the 100 MiB limit");
  }
  file.data_offset_ = 8 + static_cast<std::size_t>(header_len);
  const std::uint64_t data_size = bytes->size() - file.data_offset_;

  nlohmann::json header;
  try {
    const char* begin = reinterpret_cast<const char*>(bytes->data() + 8);
    header = nlohmann::json::parse(begin, begin + header_len);
  } catch (const nlohmann::json::exception& e) {
    malformed(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) malformed(path, "header is not a JSON object");

  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) malformed(path, "__metadata__ is not an object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) malformed(path, "__metadata__ value '" + mk + "' is not a string");
        file.metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    file.tensors_.push_back(parse_tensor(path, key, value, data_size));
  }

  std::vector<const SafetensorsTensorInfo*> by_offset;
  for (const auto& t : file.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    if (by_offset[i]->begin < by_offset[i - 1]->end) {
      malformed(path, "tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name +
                          "' overlap");
    }
  }
  file.bytes_ = std::move(bytes);
  return file;
}

const SafetensorsTensorInfo& SafetensorsFile::tensor(const std::string& name) const {
  for (const auto& t : tensors_) {
    if (t.name == name) return t;
  }
  throw Error(ErrorCode::invalid_argument, path_.string() + ": no tensor named '" + name + "'");
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name) const {
  const SafetensorsTensorInfo& info = tensor(name);
  const std::byte* src = bytes_->data() + data_offset_ + info.begin;
  const auto n = static_cast<std::size_t>(info.element_count());
  std::vector<float> out(n);
  if (info.dtype == "F32") {
    if (n != 0) std::memcpy(out.data(), src, n * sizeof(float));
  } else if (info.dtype == "F16" || info.dtype == "BF16") {
    const bool half = info.dtype == "F16";
    for (std::size_t i = 0; i < n; ++i) {
      const auto bits = static_cast<std::uint16_t>(static_cast<unsigned>(src[2 * i]) |
                                                   (static_cast<unsigned>(src[2 * i + 1]) << 8));
      out[i] = half ? core::fp16_to_fp32(bits) : core::bf16_to_fp32(bits);
    }
  } else {
    throw Error(ErrorCode::unsupported, path_.string() + ": tensor '" + name + "' has dtype " +
                                            info.dtype + "; only F32, F16 and BF16 can be read as floats");
  }
  return out;
}

}  // namespace qlinear
