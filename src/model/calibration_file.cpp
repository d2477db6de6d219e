// CalibrationFile: activations (safetensors or GGUF) and qlinear's calibration statistics (GGUF), read
// as hostile input. The header is checked when the file opens; a weight's values when they are read.

#include "model/calibration_parser.hpp"

#include "core/half.hpp"
#include "io/byte_reader.hpp"
#include "io/gguf_parser.hpp"
#include "io/safetensors_parser.hpp"

#include <qlinear/calibration_file.hpp>
#include <qlinear/error.hpp>
#include <qlinear/gguf.hpp>
#include <qlinear/safetensors.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <optional>
#include <set>

namespace qlinear {

namespace {

constexpr std::uint32_t kGgmlF32 = 0, kGgmlF16 = 1, kGgmlBf16 = 30, kGgmlF64 = 28;
constexpr std::string_view kXtxSuffix = ".xtx", kSumsSuffix = ".in_sum2", kCountsSuffix = ".counts";
constexpr std::uint32_t kStatisticsVersion = 1;
// The widest inputs accumulated from activations: XᵀX takes 8·in² bytes (32 GiB here), which a file
// of one row does not bound (its rows take 4·in). The widest layers of released models have 53,248
// inputs (Llama 3.1 405B's ffn_down).
constexpr std::uint64_t kMaxActivationInputs = 65536;
// GGUF tensor names hold at most 63 bytes; the longest suffix is ".in_sum2".
constexpr std::size_t kMaxEntryName = 63 - kSumsSuffix.size();

std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.append(1, '\'').append(s).append(1, '\'');
  return out;
}

std::string describe(double v) { return std::isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf"; }

[[noreturn]] void throw_non_finite(const std::filesystem::path& path, std::uint64_t offset, const std::string& what) {
  throw Error(ErrorCode::non_finite, path.string() + ": byte offset " + std::to_string(offset) + ": " + what);
}

// One weight's data in the file.
struct Entry {
  std::string name;
  std::size_t in = 0;
  std::uint64_t rows = 0;
  // activations: the tensor (its element size 4 or 2, its dtype); statistics: the three tensors.
  std::size_t tensor = 0, sums = 0, counts = 0;
  std::uint32_t type = kGgmlF32;  // activations: F32, F16 or BF16; statistics: XᵀX's F64 or F32
  std::uint64_t data_offset = 0;  // in the file, of the activations or of XᵀX
};

std::uint32_t ggml_type_of_dtype(std::string_view dtype) {
  if (dtype == "F32") return kGgmlF32;
  if (dtype == "F16") return kGgmlF16;
  if (dtype == "BF16") return kGgmlBf16;
  return UINT32_MAX;
}

float load_float(const std::byte* p, std::uint32_t type) noexcept {
  if (type == kGgmlF32) {
    std::uint32_t bits;
    std::memcpy(&bits, p, 4);
    return std::bit_cast<float>(bits);
  }
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return type == kGgmlF16 ? core::fp16_to_fp32(h) : core::bf16_to_fp32(h);
}

}  // namespace

struct CalibrationFile::Impl {
  std::filesystem::path path;
  Kind kind = Kind::activations;
  std::optional<GgufFile> gguf;
  std::optional<SafetensorsFile> safetensors;
  std::vector<std::string> names;
  std::vector<Entry> entries;
  std::map<std::string, std::size_t, std::less<>> by_name;
  std::vector<std::string> datasets;

  const Entry& entry(std::string_view name) const {
    const auto it = by_name.find(name);
    if (it == by_name.end()) {
      throw Error(ErrorCode::invalid_argument, path.string() + ": no calibration data for " + quote(name));
    }
    return entries[it->second];
  }

  void add(Entry e) {
    by_name.emplace(e.name, entries.size());
    names.push_back(e.name);
    entries.push_back(std::move(e));
  }

  void open_activations();
  void open_statistics();
  std::span<const std::byte> bytes_of(std::size_t tensor) const {
    return gguf ? gguf->tensor_data(gguf->tensors()[tensor]) : safetensors->tensor_data(safetensors->tensors()[tensor]);
  }
};

// Activations: every tensor a float matrix (or higher rank, rows merged) with at least one row.
void CalibrationFile::Impl::open_activations() {
  struct Info {
    std::string name;
    std::string dtype;
    std::uint32_t type;
    std::vector<std::uint64_t> shape;
    std::uint64_t offset;
  };
  std::vector<Info> infos;
  if (gguf) {
    for (const auto& t : gguf->tensors()) {
      infos.push_back({t.name, std::string(ggml_type_name(t.ggml_type)), t.ggml_type, t.shape,
                       gguf->data_offset() + t.offset});
    }
  } else {
    for (const auto& t : safetensors->tensors()) {
      infos.push_back({t.name, t.dtype, ggml_type_of_dtype(t.dtype), t.shape, safetensors->data_offset() + t.begin});
    }
  }
  if (infos.empty()) io::throw_malformed(path, 0, "no tensors: an activations file holds one tensor per weight");
  for (std::size_t i = 0; i < infos.size(); ++i) {
    const Info& t = infos[i];
    const std::string what = "tensor " + quote(t.name);
    if (t.type != kGgmlF32 && t.type != kGgmlF16 && t.type != kGgmlBf16) {
      io::throw_malformed(path, t.offset, what + " has type " + t.dtype + "; activations must be F32, F16 or BF16");
    }
    if (t.shape.size() < 2) {
      io::throw_malformed(path, t.offset, what + " has " + std::to_string(t.shape.size()) +
                                              " dimensions; activations are [rows, in_features]");
    }
    std::uint64_t rows = 1;
    for (std::size_t d = 0; d + 1 < t.shape.size(); ++d) rows *= t.shape[d];  // the reader checked the product
    if (rows == 0 || t.shape.back() == 0) {
      io::throw_malformed(path, t.offset, what + " holds no inputs (a zero dimension)");
    }
    if (t.shape.back() > kMaxActivationInputs) {
      io::throw_malformed(path, t.offset, what + " has " + std::to_string(t.shape.back()) +
                                              " inputs; qlinear accumulates XᵀX for up to " +
                                              std::to_string(kMaxActivationInputs) + " (8·in² bytes)");
    }
    add({t.name, static_cast<std::size_t>(t.shape.back()), rows, i, 0, 0, t.type, t.offset});
  }
  datasets = {path.string()};
}

// Statistics: per NAME.xtx, a square F64/F32 NAME.xtx, an F32 NAME.in_sum2 of as many values as a row
// of it, an F32 NAME.counts of one value.
void CalibrationFile::Impl::open_statistics() {
  const GgufFile& f = *gguf;
  if (const GgufValue* v = f.find("qlinear.calibration.version")) {
    if (v->type() != GgufValueType::u32 || v->as_u64() != kStatisticsVersion) {
      throw Error(ErrorCode::unsupported, path.string() + ": qlinear.calibration.version is " +
                                              v->to_display_string(8, 32) + "; this qlinear reads version 1");
    }
  }
  if (const GgufValue* v = f.find("imatrix.datasets")) {
    if (v->type() == GgufValueType::array && v->element_type() == GgufValueType::string) {
      for (std::size_t i = 0; i < v->array_size(); ++i) datasets.push_back(v->array_element(i).as_string());
    }
  }
  std::map<std::string, std::size_t, std::less<>> index;
  for (std::size_t i = 0; i < f.tensors().size(); ++i) index.emplace(f.tensors()[i].name, i);
  const auto at = [&](std::size_t i) { return f.data_offset() + f.tensors()[i].offset; };
  for (std::size_t i = 0; i < f.tensors().size(); ++i) {
    const GgufTensorInfo& t = f.tensors()[i];
    if (!t.name.ends_with(kXtxSuffix)) continue;
    const std::string name = t.name.substr(0, t.name.size() - kXtxSuffix.size());
    const std::string what = "entry " + quote(name);
    if (name.empty()) io::throw_malformed(path, at(i), "tensor " + quote(t.name) + ": the entry's name is empty");
    if (t.ggml_type != kGgmlF64 && t.ggml_type != kGgmlF32) {
      io::throw_malformed(path, at(i), what + ": tensor " + quote(t.name) + " has type " +
                                           std::string(ggml_type_name(t.ggml_type)) + "; it must be f64 or f32");
    }
    if (t.shape.size() != 2 || t.shape[0] != t.shape[1]) {
      std::string shape;
      for (auto d : t.shape) shape += (shape.empty() ? "" : "×") + std::to_string(d);
      io::throw_malformed(path, at(i), what + ": XᵀX has shape " + shape + "; it must be square, [in, in]");
    }
    const auto sums = index.find(name + std::string(kSumsSuffix));
    const auto counts = index.find(name + std::string(kCountsSuffix));
    if (sums == index.end() || counts == index.end()) {
      const std::string_view missing = sums == index.end() ? kSumsSuffix : kCountsSuffix;
      io::throw_malformed(path, at(i), what + ": tensor " + quote(t.name) + " has no " +
                                           quote(name + std::string(missing)) + " beside it");
    }
    const GgufTensorInfo& s = f.tensors()[sums->second];
    const GgufTensorInfo& c = f.tensors()[counts->second];
    if (s.ggml_type != kGgmlF32 || s.element_count() != t.shape[0]) {
      io::throw_malformed(path, at(sums->second), what + ": tensor " + quote(s.name) + " must be " +
                                                      std::to_string(t.shape[0]) +
                                                      " f32 values, one per column of XᵀX");
    }
    if (c.ggml_type != kGgmlF32 || c.element_count() != 1) {
      io::throw_malformed(path, at(counts->second), what + ": tensor " + quote(c.name) +
                                                        " must be one f32 value, the row count");
    }
    float count;
    std::memcpy(&count, f.tensor_data(c).data(), 4);
    // A row count: a whole number >= 1 (llama.cpp's counts are floats, exact up to 2^24 rows).
    if (!std::isfinite(count) || count < 1.0f || count != std::floor(count) || count >= 0x1p64f) {
      io::throw_malformed(path, at(counts->second), what + ": the row count is " + std::to_string(count) +
                                                        "; it must be a whole number >= 1");
    }
    add({name, static_cast<std::size_t>(t.shape[0]), static_cast<std::uint64_t>(count), i, sums->second,
         counts->second, t.ggml_type, at(i)});
  }
  if (entries.empty()) {
    throw Error(ErrorCode::unsupported,
                path.string() + ": an importance matrix without XᵀX (no tensor NAME.xtx): it holds only the "
                                "diagonal of the statistics; give it with --imatrix, or calibrate from activations");
  }
}

CalibrationFile CalibrationFile::open(const std::filesystem::path& path) {
  return model::CalibrationParser::parse(io::MappedFile::open(path));
}

CalibrationFile model::CalibrationParser::parse(std::shared_ptr<const io::MappedFile> file) {
  auto impl = std::make_shared<CalibrationFile::Impl>();
  impl->path = file->path();
  const auto bytes = file->bytes();
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), "GGUF", 4) == 0) {
    impl->gguf = io::GgufParser::parse(std::move(file));
    const GgufValue* type = impl->gguf->find("general.type");
    const bool statistics = type && type->type() == GgufValueType::string && type->as_string() == "imatrix";
    impl->kind = statistics ? CalibrationFile::Kind::statistics : CalibrationFile::Kind::activations;
    statistics ? impl->open_statistics() : impl->open_activations();
  } else {
    impl->safetensors = io::SafetensorsParser::parse(std::move(file));
    impl->open_activations();
  }
  CalibrationFile out;
  out.impl_ = std::move(impl);
  return out;
}

CalibrationFile::Kind CalibrationFile::kind() const noexcept { return impl_->kind; }
const std::filesystem::path& CalibrationFile::path() const noexcept { return impl_->path; }
const std::vector<std::string>& CalibrationFile::names() const noexcept { return impl_->names; }
bool CalibrationFile::contains(std::string_view name) const noexcept { return impl_->by_name.count(name) > 0; }
std::size_t CalibrationFile::in_features(std::string_view name) const { return impl_->entry(name).in; }
std::uint64_t CalibrationFile::rows(std::string_view name) const { return impl_->entry(name).rows; }
std::vector<std::string> CalibrationFile::datasets() const { return impl_->datasets; }

std::vector<float> CalibrationFile::activations(std::string_view name) const {
  if (impl_->kind != Kind::activations) {
    throw Error(ErrorCode::invalid_argument, impl_->path.string() + " holds statistics, not activations");
  }
  const Entry& e = impl_->entry(name);
  const auto bytes = impl_->bytes_of(e.tensor);
  const std::size_t size = e.type == kGgmlF32 ? 4 : 2;
  std::vector<float> x(bytes.size() / size);
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = load_float(bytes.data() + i * size, e.type);
    if (!std::isfinite(x[i])) {
      throw_non_finite(impl_->path, e.data_offset + i * size,
                       "tensor " + quote(e.name) + " row " + std::to_string(i / e.in) + " column " +
                           std::to_string(i % e.in) + " is " + describe(x[i]) + "; activations must be finite");
    }
  }
  return x;
}

Calibration CalibrationFile::calibration(std::string_view name) const {
  const Entry& e = impl_->entry(name);
  if (impl_->kind == Kind::activations) {
    Calibration c(e.in);
    c.add(activations(name), static_cast<std::size_t>(e.rows));
    return c;
  }
  const auto bytes = impl_->bytes_of(e.tensor);
  const std::size_t size = e.type == kGgmlF64 ? 8 : 4;
  std::vector<double> xtx(bytes.size() / size);
  for (std::size_t i = 0; i < xtx.size(); ++i) {
    if (size == 8) {
      std::uint64_t bits;
      std::memcpy(&bits, bytes.data() + i * 8, 8);
      xtx[i] = std::bit_cast<double>(bits);
    } else {
      xtx[i] = load_float(bytes.data() + i * 4, kGgmlF32);
    }
  }
  // The checks Calibration::from_statistics makes, here with the offset of the value at fault.
  const std::size_t n = e.in;
  const std::string what = "entry " + quote(e.name) + ": XᵀX";
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      const double v = xtx[i * n + j];
      const std::uint64_t at = e.data_offset + (i * n + j) * size;
      const std::string where = " at row " + std::to_string(i) + ", column " + std::to_string(j);
      if (!std::isfinite(v)) throw_non_finite(impl_->path, at, what + where + " is " + describe(v));
      if (v != xtx[j * n + i]) io::throw_malformed(impl_->path, at, what + " is not symmetric" + where);
      if (i == j && v < 0) io::throw_malformed(impl_->path, at, what + " has a negative diagonal value" + where);
    }
  }
  return Calibration::from_statistics(n, xtx, e.rows);
}

void CalibrationFile::release(std::string_view name) const noexcept {
  const auto it = impl_->by_name.find(name);
  if (it == impl_->by_name.end()) return;
  const Entry& e = impl_->entries[it->second];
  if (impl_->gguf) {
    impl_->gguf->release(impl_->gguf->tensors()[e.tensor]);
  } else {
    impl_->safetensors->release(impl_->safetensors->tensors()[e.tensor]);
  }
}

void write_calibration_statistics(const std::filesystem::path& path, const std::vector<CalibrationEntry>& entries,
                                  const std::vector<std::string>& datasets,
                                  const std::function<Calibration(std::size_t index)>& produce) {
  std::set<std::string_view> seen;
  std::uint64_t most_rows = 0;
  for (const auto& e : entries) {
    const std::string what = "calibration entry " + quote(e.name);
    if (e.name.empty() || e.name.size() > kMaxEntryName) {
      throw Error(ErrorCode::invalid_argument, what + ": a name of 1 to " + std::to_string(kMaxEntryName) +
                                                   " bytes is needed (GGUF holds 63 with the '.in_sum2' suffix)");
    }
    if (!seen.insert(e.name).second) throw Error(ErrorCode::invalid_argument, what + " repeated");
    if (e.rows == 0 || e.in_features == 0) throw Error(ErrorCode::invalid_argument, what + ": no rows or no inputs");
    most_rows = std::max(most_rows, e.rows);
  }
  GgufWriter writer(path);
  // What llama-imatrix writes (each row one token: chunk size 1), then qlinear's version.
  writer.set("general.type", GgufValue::string("imatrix"));
  std::vector<GgufValue> sets;
  for (const auto& d : datasets) sets.push_back(GgufValue::string(d));
  writer.set("imatrix.datasets", GgufValue::array(GgufValueType::string, sets));
  const auto chunks = static_cast<std::uint32_t>(std::min<std::uint64_t>(most_rows, UINT32_MAX));
  writer.set("imatrix.chunk_count", GgufValue::u32(chunks));
  writer.set("imatrix.chunk_size", GgufValue::u32(1));
  writer.set("qlinear.calibration.version", GgufValue::u32(kStatisticsVersion));
  for (const auto& e : entries) {
    const std::uint64_t n = e.in_features;
    writer.add_tensor(e.name + std::string(kSumsSuffix), {1, n}, kGgmlF32);
    writer.add_tensor(e.name + std::string(kCountsSuffix), {1, 1}, kGgmlF32);
    writer.add_tensor(e.name + std::string(kXtxSuffix), {n, n}, kGgmlF64);
  }
  writer.write_header();
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const CalibrationEntry& e = entries[i];
    const Calibration c = produce(i);
    if (c.in_features() != e.in_features || c.rows() != e.rows) {
      throw Error(ErrorCode::size_mismatch, "calibration entry " + quote(e.name) + ": statistics of " +
                                                std::to_string(c.rows()) + " rows × " +
                                                std::to_string(c.in_features()) + " inputs, declared " +
                                                std::to_string(e.rows) + " × " + std::to_string(e.in_features));
    }
    std::vector<float> sums(e.in_features);
    const auto xtx = c.xtx();
    for (std::size_t j = 0; j < sums.size(); ++j) sums[j] = static_cast<float>(xtx[j * e.in_features + j]);
    const float count = static_cast<float>(e.rows);
    writer.write_tensor_data(e.name + std::string(kSumsSuffix), std::as_bytes(std::span<const float>(sums)));
    writer.write_tensor_data(e.name + std::string(kCountsSuffix), std::as_bytes(std::span<const float>(&count, 1)));
    writer.write_tensor_data(e.name + std::string(kXtxSuffix), std::as_bytes(xtx));
  }
  writer.finish();
}

}  // namespace qlinear
