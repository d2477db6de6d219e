#include "model/source.hpp"

#include "model/affine_gguf.hpp"
#include "model/shards.hpp"

#include <qlinear/axqt.hpp>
#include <qlinear/error.hpp>

#include <cstring>
#include <fstream>
#include <map>

namespace qlinear::model {
namespace {

// A tensor's floats: viewed in place in the mapped file when it stores f32 aligned for float, else
// the converted copy that read() returns.
template <typename Read>
FloatValues floats_of(bool stored_as_f32, std::span<const std::byte> bytes, Read&& read) {
  FloatValues out;
  if (stored_as_f32 && reinterpret_cast<std::uintptr_t>(bytes.data()) % alignof(float) == 0) {
    out.values = {reinterpret_cast<const float*>(bytes.data()), bytes.size() / sizeof(float)};
  } else {
    out.storage = read();
    out.values = out.storage;
  }
  return out;
}

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
    return floats_of(info.dtype == "F32", file_.tensor_data(info), [&] { return file_.read_f32(info.name); });
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
  explicit GgufSource(GgufFile file) : file_(std::move(file)) {
    for (std::size_t i = 0; i < file_.tensors().size(); ++i) {
      const GgufTensorInfo& info = file_.tensors()[i];
      if (is_affine_companion(file_, info.name)) continue;  // part of the affine tensor it belongs to
      SourceTensor t;
      t.name = info.name;
      t.shape = info.shape;
      t.format_in = std::string(ggml_type_name(info.ggml_type));
      t.floating = info.format().has_value();
      t.ggml_type = info.ggml_type;
      t.nbytes = info.nbytes;
      t.safetensors_dtype = safetensors_dtype_of(info.ggml_type);
      if (auto affine = model::read_affine_metadata(file_, info.name)) {
        t.shape = affine->shape;
        t.format_in = std::string(format_name(affine->format));
        t.floating = true;
        t.ggml_type = kNoGgmlType;
        t.safetensors_dtype.clear();
        t.affine_format = affine->format;
        t.affine_options = affine->options;
        t.nbytes = 0;  // the codes, scales and zero points together
        for (const auto& part : model::affine_tensors(info.name, affine->shape, affine->format, affine->options)) {
          if (const GgufTensorInfo* p = file_.find_tensor(part.name)) t.nbytes += p->nbytes;
        }
      }
      tensors_.push_back(std::move(t));
      infos_.push_back(i);
    }
  }

  const std::vector<SourceTensor>& tensors() const override { return tensors_; }

  FloatValues read_floats(std::size_t index) const override {
    const GgufTensorInfo& info = file_.tensors()[infos_[index]];
    if (tensors_[index].affine_format) return floats_of(false, {}, [&] { return dequantize(read_affine(index)); });
    return floats_of(info.ggml_type == 0, file_.tensor_data(info), [&] { return file_.tensor_f32(info.name); });
  }

  std::span<const std::byte> raw_bytes(std::size_t index) const override {
    return file_.tensor_data(file_.tensors()[infos_[index]]);
  }

  QuantizedTensor read_affine(std::size_t index) const override {
    return *model::read_affine(file_, tensors_[index].name);
  }

  void release(std::size_t index) const override { file_.release(file_.tensors()[infos_[index]]); }
  const GgufFile* gguf() const noexcept override { return &file_; }

 private:
  GgufFile file_;
  std::vector<SourceTensor> tensors_;
  std::vector<std::size_t> infos_;  // index into file_.tensors() of each source tensor
};

// AXQT tensors are read whole when the file opens (the format is small and sequential); they are
// floats from then on, copied as F32 when kept.
class AxqtSource final : public ModelSource {
 public:
  explicit AxqtSource(const std::filesystem::path& path) : file_(AxqtFile::open(path)) {
    for (const AxqtTensor& a : file_.tensors()) {
      SourceTensor t;
      t.name = a.name;
      t.shape = a.shape;
      t.format_in = a.quant_type;
      t.floating = true;
      t.ggml_type = 0;
      t.safetensors_dtype = "F32";
      t.nbytes = stored_bytes(a);
      if (a.quant_type != "F32") t.copy_note = "dequantized from " + a.quant_type + " to F32";
      tensors_.push_back(std::move(t));
    }
  }

  const std::vector<SourceTensor>& tensors() const override { return tensors_; }
  FloatValues read_floats(std::size_t index) const override {
    FloatValues out;
    out.values = file_.tensors()[index].values;
    return out;
  }
  std::span<const std::byte> raw_bytes(std::size_t index) const override {
    return std::as_bytes(std::span<const float>(file_.tensors()[index].values));
  }
  void release(std::size_t) const override {}

 private:
  // The tensor's blocks as the file stores them (the report's "bytes in").
  static std::uint64_t stored_bytes(const AxqtTensor& a) {
    const std::uint64_t n = a.values.size(), blocks = (n + 31) / 32;
    if (a.quant_type == "Q8_0") return blocks * 34;
    if (a.quant_type == "Q4_0") return blocks * 18;
    if (a.quant_type == "Q4_1") return blocks * 20;
    if (a.quant_type == "F16") return n * 2;
    return n * 4;
  }

  AxqtFile file_;
  std::vector<SourceTensor> tensors_;
};

std::string file_magic(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::io, path.string() + ": cannot open for reading");
  char magic[4] = {};
  in.read(magic, 4);
  return std::string(magic, static_cast<std::size_t>(in.gcount()));
}

}  // namespace

QuantizedTensor ModelSource::read_affine(std::size_t index) const {
  throw Error(ErrorCode::internal, "tensor " + std::to_string(index) + " is not an affine tensor");
}

std::unique_ptr<ModelSource> open_safetensors_file(const std::filesystem::path& path) {
  return std::make_unique<SafetensorsSource>(path);
}

std::unique_ptr<ModelSource> open_gguf_file(GgufFile file) { return std::make_unique<GgufSource>(std::move(file)); }

namespace {

// The shards of a GGUF split after its first file, checked as llama.cpp's loader checks them.
std::unique_ptr<ModelSource> open_gguf_split(GgufFile first, const std::vector<std::filesystem::path>& paths) {
  std::vector<GgufFile> files;
  files.push_back(std::move(first));
  for (std::size_t i = 1; i < paths.size(); ++i) files.push_back(GgufFile::open(paths[i]));
  std::vector<SplitKeys> keys;
  for (const GgufFile& f : files) keys.push_back(read_split_keys(f));
  check_split(keys);
  std::vector<std::unique_ptr<ModelSource>> shards;
  for (GgufFile& f : files) shards.push_back(open_gguf_file(std::move(f)));
  return join_shards(std::move(shards), paths);
}

std::unique_ptr<ModelSource> open_safetensors_shards(const ModelFiles& files) {
  std::vector<std::unique_ptr<ModelSource>> shards;
  for (const auto& path : files.files) shards.push_back(open_safetensors_file(path));
  if (files.weights) {
    std::vector<std::pair<std::string, std::vector<std::string>>> held;
    for (std::size_t i = 0; i < shards.size(); ++i) {
      auto& tensors = held.emplace_back(files.files[i].filename().string(), std::vector<std::string>{}).second;
      for (const SourceTensor& t : shards[i]->tensors()) tensors.push_back(t.name);
    }
    check_safetensors_index(*files.weights, files.index, held);
  }
  return join_shards(std::move(shards), files.files);
}

}  // namespace

std::unique_ptr<ModelSource> ModelSource::open(const std::filesystem::path& path) {
  const ModelFiles files = find_model_files(path);
  if (files.kind != ModelFiles::Kind::single) return open_safetensors_shards(files);
  const std::filesystem::path& file = files.files[0];
  const std::string magic = file_magic(file);
  if (magic == "GGUF") {
    GgufFile gguf = GgufFile::open(file);
    const auto split = gguf_split_files(gguf);
    if (split.empty()) return open_gguf_file(std::move(gguf));
    return open_gguf_split(std::move(gguf), split);
  }
  if (magic == "AXQT") return std::make_unique<AxqtSource>(file);
  return open_safetensors_file(file);
}

}  // namespace qlinear::model
