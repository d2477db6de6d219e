#include "model/source.hpp"

#include "core/half.hpp"
#include "io/mapped_file.hpp"

#include <qlinear/error.hpp>

#include <cstring>
#include <fstream>
#include <map>

namespace qlinear::model {
namespace {

// safetensors dtypes that GGUF can hold byte for byte, and the ones kept as same-width signed bits.
struct DtypeMapping {
  std::uint32_t ggml_type;
  const char* note;
};
const std::map<std::string, DtypeMapping>& dtype_mappings() {
  static const std::map<std::string, DtypeMapping> m = {
      {"F32", {0, ""}},   {"F16", {1, ""}},    {"BF16", {30, ""}}, {"F64", {28, ""}},
      {"I8", {24, ""}},   {"I16", {25, ""}},   {"I32", {26, ""}},  {"I64", {27, ""}},
      {"U8", {24, "U8 bits stored as I8"}},    {"BOOL", {24, "BOOL stored as I8"}},
      {"U16", {25, "U16 bits stored as I16"}}, {"U32", {26, "U32 bits stored as I32"}},
      {"U64", {27, "U64 bits stored as I64"}}, {"F8_E4M3", {24, "F8_E4M3 bits stored as I8"}},
      {"F8_E5M2", {24, "F8_E5M2 bits stored as I8"}}};
  return m;
}

std::string safetensors_dtype_of(std::uint32_t ggml_type) {
  switch (ggml_type) {
    case 0: return "F32";
    case 1: return "F16";
    case 30: return "BF16";
    case 28: return "F64";
    case 24: return "I8";
    case 25: return "I16";
    case 26: return "I32";
    case 27: return "I64";
    default: return "";
  }
}

class SafetensorsSource final : public ModelSource {
 public:
  explicit SafetensorsSource(const std::filesystem::path& path) : file_(SafetensorsFile::open(path)) {
    for (const auto& info : file_.tensors()) {
      SourceTensor t;
      t.name = info.name;
      t.shape = info.shape;
      t.format_in = info.dtype;
      t.floating = info.dtype == "F32" || info.dtype == "F16" || info.dtype == "BF16";
      t.nbytes = info.end - info.begin;
      t.safetensors_dtype = info.dtype;
      const auto it = dtype_mappings().find(info.dtype);
      if (it != dtype_mappings().end()) {
        t.ggml_type = it->second.ggml_type;
        t.copy_note = it->second.note;
      }
      tensors_.push_back(std::move(t));
    }
  }

  const std::vector<SourceTensor>& tensors() const override { return tensors_; }

  FloatValues read_floats(std::size_t index) const override {
    const auto& info = file_.tensors()[index];
    const std::span<const std::byte> bytes = file_.tensor_data(info);
    FloatValues out;
    if (info.dtype == "F32" && reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(float) == 0) {
      out.values = {reinterpret_cast<const float*>(bytes.data()), bytes.size() / sizeof(float)};
      return out;
    }
    out.storage = file_.read_f32(info.name);
    out.values = out.storage;
    return out;
  }

  std::span<const std::byte> raw_bytes(std::size_t index) const override {
    return file_.tensor_data(file_.tensors()[index]);
  }

  void release(std::size_t index) const override { file_.release(file_.tensors()[index]); }
  const SafetensorsFile* safetensors() const noexcept override { return &file_; }

 private:
  SafetensorsFile file_;
  std::vector<SourceTensor> tensors_;
};

class GgufSource final : public ModelSource {
 public:
  explicit GgufSource(const std::filesystem::path& path) : file_(GgufFile::open(path)) {
    for (const auto& info : file_.tensors()) {
      SourceTensor t;
      t.name = info.name;
      t.shape = info.shape;
      t.format_in = std::string(ggml_type_name(info.ggml_type));
      t.floating = info.format().has_value();
      t.ggml_type = info.ggml_type;
      t.nbytes = info.nbytes;
      t.safetensors_dtype = safetensors_dtype_of(info.ggml_type);
      tensors_.push_back(std::move(t));
    }
  }

  const std::vector<SourceTensor>& tensors() const override { return tensors_; }

  FloatValues read_floats(std::size_t index) const override {
    const auto& info = file_.tensors()[index];
    FloatValues out;
    const std::span<const std::byte> bytes = file_.tensor_data(info);
    if (info.ggml_type == 0 && reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(float) == 0) {
      out.values = {reinterpret_cast<const float*>(bytes.data()), bytes.size() / sizeof(float)};
      return out;
    }
    out.storage = file_.tensor_f32(info.name);
    out.values = out.storage;
    return out;
  }

  std::span<const std::byte> raw_bytes(std::size_t index) const override {
    return file_.tensor_data(file_.tensors()[index]);
  }

  void release(std::size_t index) const override { file_.release(file_.tensors()[index]); }
  const GgufFile* gguf() const noexcept override { return &file_; }

 private:
  GgufFile file_;
  std::vector<SourceTensor> tensors_;
};

bool starts_with_gguf_magic(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::io, path.string() + ": cannot open for reading");
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace

std::unique_ptr<ModelSource> ModelSource::open(const std::filesystem::path& path) {
  if (starts_with_gguf_magic(path)) return std::make_unique<GgufSource>(path);
  return std::make_unique<SafetensorsSource>(path);
}

}  // namespace qlinear::model
