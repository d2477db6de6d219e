// Importance-matrix reader: the GGUF kind and the legacy .dat kind of llama.cpp's llama-imatrix, read
// as llama-quantize reads them, and checked as hostile input. Every failure is
// Error(malformed_file) "<file>: byte offset N: <entry>: <what>".
//
// GGUF kind, after the GGUF reader's own checks: general.type, when present, the string "imatrix";
// imatrix.datasets an array of strings, imatrix.chunk_count and imatrix.chunk_size u32 (llama-quantize
// refuses a GGUF importance matrix without them); for every tensor NAME.in_sum2 a tensor NAME.counts
// and the other way round, both F32, NAME not empty, in_sum2's element count a multiple of counts'
// (one row of sums per count); every value finite and >= 0; at least one entry. Other tensors are
// ignored, as llama-quantize ignores them.
//
// Legacy .dat kind, all integers int32 little-endian: the entry count (>= 1, and no more than the
// bytes left can hold at 17 bytes an entry, checked before anything is allocated); per entry the
// name length (>= 1), the name (no NUL byte: llama.cpp would cut the name there), ncall (>= 0), the
// value count nval (>= 1, its bytes inside the file) and nval floats (finite, >= 0); names unique.
// Then nothing, or the chunk count (>= 0), then nothing, or a dataset-name length (>= 0) and the
// name (no NUL), then nothing: a partial trailer or trailing bytes are errors.

#include "io/imatrix_parser.hpp"

#include "io/byte_reader.hpp"
#include "io/gguf_parser.hpp"

#include <qlinear/gguf.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <utility>

namespace qlinear::io {
namespace {

constexpr std::string_view kSumsSuffix = ".in_sum2";
constexpr std::string_view kCountsSuffix = ".counts";
constexpr std::uint32_t kGgmlF32 = 0;
// Smallest .dat entry: name length, a 1-byte name, ncall, nval and one float.
constexpr std::uint64_t kMinDatEntryBytes = 4 + 1 + 4 + 4 + 4;

// Built by appending: "'" + std::string(s) + "'" draws a false -Wrestrict warning from GCC 12.
std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.append(1, '\'').append(s).append(1, '\'');
  return out;
}

float load_f32_le(const std::byte* p) noexcept {
  const std::uint32_t bits = load_u32_le(p);
  float v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// A sum of squares or a count: llama-imatrix only ever writes finite values >= 0 (-0 included).
bool valid_value(float v) noexcept { return std::isfinite(v) && !(v < 0.0f); }

std::string describe(float v) {
  return std::isnan(v) ? "NaN" : std::isinf(v) ? (v > 0 ? "+Inf" : "-Inf") : std::to_string(v);
}

// Sorts the entries by name for find(); a repeated name fails at the second one's offset.
void index_names(std::vector<std::uint32_t>& by_name, const std::vector<std::string>& names,
                 const std::vector<std::uint64_t>& offsets, const std::filesystem::path& path) {
  by_name.resize(names.size());
  for (std::uint32_t i = 0; i < by_name.size(); ++i) by_name[i] = i;
  std::stable_sort(by_name.begin(), by_name.end(), [&](auto a, auto b) { return names[a] < names[b]; });
  for (std::size_t i = 1; i < by_name.size(); ++i) {
    if (names[by_name[i - 1]] == names[by_name[i]]) {
      throw_malformed(path, offsets[by_name[i]], "entry " + quote(names[by_name[i]]) + ": duplicate name");
    }
  }
}

// ---- GGUF kind ---------------------------------------------------------------------------------------

// Where metadata entry `key` starts in a GGUF file that has already been validated; 24, the start
// of the metadata, for a key the file lacks.
std::uint64_t key_offset(const MappedFile& file, std::string_view key) {
  ByteReader r(file.bytes(), file.path());
  (void)r.take(16, "the magic, version and tensor count");
  const std::uint64_t n_kv = r.u64("the metadata count");
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    const std::size_t at = r.offset();
    const std::uint64_t length = r.u64("key");
    const auto bytes = r.take(length, "key");
    const auto type = static_cast<GgufValueType>(r.u32("type"));
    if (std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()) == key) return at;
    GgufParser::skip_value(r, type, "value", 0);
  }
  return 24;
}

struct GgufEntry {
  const GgufTensorInfo* sums = nullptr;
  const GgufTensorInfo* counts = nullptr;
};

// The F32 values of one tensor, each checked: an error names the offset of the bad value.
std::vector<float> checked_values(const GgufFile& gguf, const GgufTensorInfo& t, const std::string& entry) {
  const auto bytes = gguf.tensor_data(t);
  const std::uint64_t at = gguf.data_offset() + t.offset;
  std::vector<float> values(bytes.size() / 4);
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = load_f32_le(bytes.data() + 4 * i);
    if (!valid_value(values[i])) {
      throw_malformed(gguf.path(), at + 4 * i, entry + ": tensor " + quote(t.name) + " value " + std::to_string(i) +
                                                   " is " + describe(values[i]) + "; it must be finite and >= 0");
    }
  }
  return values;
}

std::uint32_t u32_key(const GgufFile& gguf, const MappedFile& file, std::string_view key) {
  const GgufValue* v = gguf.find(key);
  if (v == nullptr) {
    throw_malformed(file.path(), 24, "no key " + quote(key) +
                                         " (llama-quantize requires imatrix.datasets, imatrix.chunk_count "
                                         "and imatrix.chunk_size)");
  }
  if (v->type() != GgufValueType::u32) {
    throw_malformed(file.path(), key_offset(file, key), "key " + quote(key) + " has type " +
                                                            std::string(gguf_value_type_name(v->type())) +
                                                            "; it must be u32");
  }
  return static_cast<std::uint32_t>(v->as_u64());
}

void read_gguf_metadata(const GgufFile& gguf, const MappedFile& file, std::vector<std::string>& datasets,
                        std::uint32_t& chunks, std::uint32_t& chunk_size) {
  if (const GgufValue* type = gguf.find("general.type")) {
    if (type->type() != GgufValueType::string || type->as_string() != "imatrix") {
      throw_malformed(file.path(), key_offset(file, "general.type"),
                      "general.type is " + type->to_display_string(8, 64) +
                          ", not \"imatrix\": this GGUF file is not an importance matrix");
    }
  }
  const GgufValue* names = gguf.find("imatrix.datasets");
  if (names == nullptr) {
    throw_malformed(file.path(), 24, "no key 'imatrix.datasets' (llama-quantize requires imatrix.datasets, "
                                     "imatrix.chunk_count and imatrix.chunk_size)");
  }
  if (names->type() != GgufValueType::array || names->element_type() != GgufValueType::string) {
    throw_malformed(file.path(), key_offset(file, "imatrix.datasets"),
                    "key 'imatrix.datasets' must be an array of strings");
  }
  datasets.reserve(names->array_size());
  for (std::size_t i = 0; i < names->array_size(); ++i) datasets.push_back(names->array_element(i).as_string());
  chunks = u32_key(gguf, file, "imatrix.chunk_count");
  chunk_size = u32_key(gguf, file, "imatrix.chunk_size");
}

}  // namespace

ImportanceMatrix ImatrixParser::parse(std::shared_ptr<const MappedFile> file) {
  const auto bytes = file->bytes();
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), kGgufMagic, 4) == 0) return parse_gguf(std::move(file));
  return parse_dat(*file);
}

ImportanceMatrix ImatrixParser::parse_gguf(std::shared_ptr<const MappedFile> file) {
  ImportanceMatrix m;
  m.path_ = file->path();
  m.kind_ = ImportanceMatrix::Kind::gguf;
  const GgufFile gguf = GgufParser::parse(file);
  read_gguf_metadata(gguf, *file, m.datasets_, m.chunks_, m.chunk_size_);

  // Pair NAME.in_sum2 with NAME.counts, in the order of the in_sum2 tensors (or of the counts
  // tensors, for a counts tensor without sums, so the error names the first such tensor).
  std::map<std::string, GgufEntry, std::less<>> pairs;
  std::vector<std::string> order;
  for (const GgufTensorInfo& t : gguf.tensors()) {
    const bool sums = t.name.ends_with(kSumsSuffix), counts = !sums && t.name.ends_with(kCountsSuffix);
    if (!sums && !counts) continue;
    std::string stem = t.name.substr(0, t.name.size() - (sums ? kSumsSuffix : kCountsSuffix).size());
    const std::uint64_t at = gguf.data_offset() + t.offset;
    if (stem.empty()) throw_malformed(m.path_, at, "tensor " + quote(t.name) + ": the entry's name is empty");
    if (t.ggml_type != kGgmlF32) {
      throw_malformed(m.path_, at, "entry " + quote(stem) + ": tensor " + quote(t.name) + " has type " +
                                       std::string(ggml_type_name(t.ggml_type)) + "; it must be f32");
    }
    auto [it, inserted] = pairs.try_emplace(stem);
    if (inserted) order.push_back(stem);
    (sums ? it->second.sums : it->second.counts) = &t;
  }
  if (order.empty()) {
    throw_malformed(m.path_, gguf.data_offset(), "no entries: no tensor is named NAME.in_sum2");
  }
  std::vector<std::uint64_t> offsets;
  for (const std::string& name : order) {
    const GgufEntry& e = pairs.find(name)->second;
    const std::string entry = "entry " + quote(name);
    const GgufTensorInfo* present = e.sums ? e.sums : e.counts;
    const std::uint64_t at = gguf.data_offset() + present->offset;
    if (e.sums == nullptr || e.counts == nullptr) {
      throw_malformed(m.path_, at, entry + ": tensor " + quote(present->name) + " has no " +
                                       quote(name + std::string(e.sums ? kCountsSuffix : kSumsSuffix)) +
                                       " beside it");
    }
    const std::vector<float> sums = checked_values(gguf, *e.sums, entry);
    const std::vector<float> counts = checked_values(gguf, *e.counts, entry);
    if (sums.size() % counts.size() != 0) {
      throw_malformed(m.path_, at, entry + ": " + std::to_string(sums.size()) + " sums cannot be split into " +
                                       std::to_string(counts.size()) + " equal rows, one per count");
    }
    const std::size_t row = sums.size() / counts.size();
    m.begins_.push_back(m.values_.size());
    m.lengths_.push_back(sums.size());
    for (std::size_t j = 0; j < counts.size(); ++j) {
      // llama.cpp keeps counts as integers (rounded half away from zero) and divides by them as floats;
      // an expert that saw no token weighs every column 1.
      const float count = static_cast<float>(std::round(static_cast<double>(counts[j])));
      for (std::size_t i = 0; i < row; ++i) {
        m.values_.push_back(count > 0.0f ? sums[j * row + i] / count : 1.0f);
      }
    }
    m.names_.push_back(name);
    offsets.push_back(at);
  }
  index_names(m.by_name_, m.names_, offsets, m.path_);  // cannot fail: tensor names are unique
  return m;
}

// ---- legacy .dat kind --------------------------------------------------------------------------------

namespace {

std::int32_t i32(ByteReader& r, std::string_view what) { return static_cast<std::int32_t>(r.u32(what)); }

// A name of `length` bytes (already checked >= 0 by the caller), bounded by the bytes left, no NUL.
std::string read_name(ByteReader& r, std::int32_t length, std::size_t length_at, const std::string& what) {
  if (static_cast<std::uint64_t>(length) > r.remaining()) {
    r.fail_at(length_at, "truncated: " + what + ": name length " + std::to_string(length) + " exceeds the " +
                             std::to_string(r.remaining()) + " bytes left in the file");
  }
  const std::size_t at = r.offset();
  const auto bytes = r.take(static_cast<std::uint64_t>(length), what);
  std::string name(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (const auto nul = name.find('\0'); nul != std::string::npos) {
    r.fail_at(at + nul, what + ": the name holds a NUL byte at position " + std::to_string(nul));
  }
  return name;
}

}  // namespace

ImportanceMatrix ImatrixParser::parse_dat(const MappedFile& mapped) {
  ImportanceMatrix m;
  m.path_ = mapped.path();
  m.kind_ = ImportanceMatrix::Kind::legacy_dat;
  ByteReader r(mapped.bytes(), mapped.path());
  const std::int32_t n_entries = i32(r, "the entry count");
  if (n_entries < 1) {
    r.fail_at(0, "entry count " + std::to_string(n_entries) + ": an importance matrix holds at least one entry");
  }
  if (static_cast<std::uint64_t>(n_entries) > r.remaining() / kMinDatEntryBytes) {
    r.fail_at(0, "entry count " + std::to_string(n_entries) + " cannot fit in the " +
                     std::to_string(r.remaining()) + " bytes left in the file");
  }
  std::vector<std::uint64_t> offsets;
  offsets.reserve(static_cast<std::size_t>(n_entries));
  m.names_.reserve(static_cast<std::size_t>(n_entries));
  for (std::int32_t e = 0; e < n_entries; ++e) {
    const std::size_t at = r.offset();
    std::string what = "entry " + std::to_string(e);
    const std::int32_t length = i32(r, what + " name length");
    if (length < 1) r.fail_at(at, what + ": name length " + std::to_string(length) + "; a name needs at least 1 byte");
    const std::string name = read_name(r, length, at, what);
    what = "entry " + quote(name);
    const std::size_t ncall_at = r.offset();
    const std::int32_t ncall = i32(r, what + " ncall");
    if (ncall < 0) r.fail_at(ncall_at, what + ": ncall " + std::to_string(ncall) + " is negative");
    const std::size_t nval_at = r.offset();
    const std::int32_t nval = i32(r, what + " value count");
    if (nval < 1) r.fail_at(nval_at, what + ": value count " + std::to_string(nval) + "; an entry holds at least 1");
    if (static_cast<std::uint64_t>(nval) > r.remaining() / 4) {
      r.fail_at(nval_at, "truncated: " + what + ": " + std::to_string(nval) + " values need " +
                             std::to_string(static_cast<std::uint64_t>(nval) * 4) + " bytes, but " +
                             std::to_string(r.remaining()) + " are left in the file");
    }
    const std::size_t values_at = r.offset();
    const auto bytes = r.take(static_cast<std::uint64_t>(nval) * 4, what + " values");
    m.begins_.push_back(m.values_.size());
    m.lengths_.push_back(static_cast<std::size_t>(nval));
    // The values are mean squares times ncall (what llama-imatrix stores); llama-quantize divides by
    // ncall as a float when it is above 0 and takes them as they are otherwise.
    const float divisor = static_cast<float>(ncall);
    for (std::int32_t i = 0; i < nval; ++i) {
      const float v = load_f32_le(bytes.data() + 4 * static_cast<std::size_t>(i));
      if (!valid_value(v)) {
        r.fail_at(values_at + 4 * static_cast<std::size_t>(i), what + ": value " + std::to_string(i) + " is " +
                                                                     describe(v) + "; it must be finite and >= 0");
      }
      m.values_.push_back(ncall > 0 ? v / divisor : v);
    }
    m.names_.push_back(name);
    offsets.push_back(at);
  }
  index_names(m.by_name_, m.names_, offsets, m.path_);

  // The optional trailer: the chunk count, then the dataset name.
  if (r.remaining() == 0) return m;
  const std::size_t chunks_at = r.offset();
  const std::int32_t chunks = i32(r, "the chunk count after the entries");
  if (chunks < 0) r.fail_at(chunks_at, "chunk count " + std::to_string(chunks) + " is negative");
  m.chunks_ = static_cast<std::uint32_t>(chunks);
  if (r.remaining() == 0) return m;
  const std::size_t length_at = r.offset();
  const std::int32_t length = i32(r, "the dataset name length");
  if (length < 0) r.fail_at(length_at, "dataset name length " + std::to_string(length) + " is negative");
  std::string dataset = read_name(r, length, length_at, "the dataset name");
  if (!dataset.empty()) m.datasets_.push_back(std::move(dataset));
  if (r.remaining() != 0) {
    r.fail(std::to_string(r.remaining()) + " bytes after the dataset name, where the file should end");
  }
  return m;
}

}  // namespace qlinear::io

namespace qlinear {

ImportanceMatrix ImportanceMatrix::open(const std::filesystem::path& path) {
  return io::ImatrixParser::parse(io::MappedFile::open(path));
}

std::optional<std::span<const float>> ImportanceMatrix::find(std::string_view tensor_name) const noexcept {
  const auto it = std::lower_bound(by_name_.begin(), by_name_.end(), tensor_name,
                                   [&](std::uint32_t i, std::string_view n) { return names_[i] < n; });
  if (it == by_name_.end() || names_[*it] != tensor_name) return std::nullopt;
  return std::span<const float>(values_).subspan(begins_[*it], lengths_[*it]);
}

}  // namespace qlinear
