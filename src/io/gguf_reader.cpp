// GGUF reader. Everything in the file is hostile; the checks, in file order:
//   magic "GGUF"; version 2 or 3 (1 and > 3: unsupported; 0 or a byte-swapped value: malformed);
//   tensor and metadata counts that the bytes left could hold (each entry needs a minimum size), checked
//   before anything is allocated; every string and array length bounded by the bytes left;
//   metadata keys non-empty and unique; value and element types known; bools 0 or 1; arrays nested
//   at most 16 deep; general.alignment, when present, a u32 power of two;
//   tensor names non-empty, at most 63 bytes and unique; at most 4 dimensions, none zero or above
//   INT64_MAX; an element count that fits in int64; a ggml type with a size (unknown and removed ids
//   are malformed, since the tensor's size cannot be computed); the innermost dimension a multiple of
//   the type's block size; a byte size that does not overflow;
//   the data section at the header's end rounded up to the alignment, inside the file; tensor data
//   contiguous in info order, the first at offset 0 and each next one at the previous end rounded up to
//   the alignment (ggml's reader requires exactly this layout: it rules out gaps, overlap and
//   misalignment); every tensor's bytes inside the file. The last tensor's trailing padding may be
//   missing, as llama.cpp's loader allows.

#include "io/gguf_parser.hpp"

#include "core/checked.hpp"
#include "formats/registry.hpp"
#include "io/byte_reader.hpp"
#include "io/ggml_types.hpp"

#include <qlinear/error.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

namespace qlinear::io {
namespace {

using T = GgufValueType;

constexpr std::uint64_t kInt64Max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
// Smallest encodings: a metadata entry (key length + 1 key byte + type + 1 value byte) and a tensor
// info (name length + 1 name byte + n_dims + type + offset).
constexpr std::uint64_t kMinEntryBytes = 8 + 1 + 4 + 1;
constexpr std::uint64_t kMinTensorInfoBytes = 8 + 1 + 4 + 4 + 8;

std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.append(1, '\'').append(s).append(1, '\'');
  return out;
}

// A string's bytes: its u64 length, bounded by the bytes left, then the bytes.
std::span<const std::byte> read_string_bytes(ByteReader& r, std::string_view what) {
  const std::size_t at = r.offset();
  const std::uint64_t length = r.u64(what);
  if (length > r.remaining()) {
    r.fail_at(at, std::string(what) + ": string length " + std::to_string(length) + " exceeds the " +
                      std::to_string(r.remaining()) + " bytes left in the file");
  }
  return r.take(length, what);
}

std::string read_string(ByteReader& r, std::string_view what) {
  const auto bytes = read_string_bytes(r, what);
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Bytes one encoded element of `type` takes at the least.
std::uint64_t min_encoded_bytes(T type) {
  switch (type) {
    case T::string: return 8;
    case T::array: return 12;
    default: return gguf_fixed_size(type);
  }
}

bool known_value_type(std::uint32_t type) { return type <= static_cast<std::uint32_t>(T::f64); }

// Numbers and bools of `type`, `count` of them; bools must be 0 or 1.
std::span<const std::byte> read_fixed(ByteReader& r, T type, std::uint64_t count, const std::string& context) {
  const std::size_t at = r.offset();
  // count * size fits: the array header bounded count by the bytes left over the size.
  const auto bytes = r.take(count * gguf_fixed_size(type), context);
  if (type == T::boolean) {
    const auto bad = std::find_if(bytes.begin(), bytes.end(), [](std::byte b) { return b > std::byte{1}; });
    if (bad != bytes.end()) {
      r.fail_at(at + static_cast<std::size_t>(bad - bytes.begin()),
                context + ": bool value " + std::to_string(static_cast<unsigned>(*bad)) + " is neither 0 nor 1");
    }
  }
  return bytes;
}

struct ArrayHeader {
  T element_type;
  std::uint64_t count;
};

// An array's element type and count: the nesting depth allowed, the type known, and the count no
// more than the bytes left could hold.
ArrayHeader read_array_header(ByteReader& r, const std::string& context, int depth) {
  const std::size_t at = r.offset();
  if (depth >= kGgufMaxArrayDepth) {
    throw Error(ErrorCode::unsupported,
                r.path().string() + ": byte offset " + std::to_string(at) + ": " + context +
                    ": arrays nested more than " + std::to_string(kGgufMaxArrayDepth) + " deep");
  }
  const std::uint32_t element_type = r.u32(context);
  if (!known_value_type(element_type)) {
    r.fail_at(at, context + ": unknown array element type " + std::to_string(element_type));
  }
  const auto type = static_cast<T>(element_type);
  const std::size_t count_at = r.offset();
  const std::uint64_t count = r.u64(context);
  if (count > r.remaining() / min_encoded_bytes(type)) {
    r.fail_at(count_at, context + ": array of " + std::to_string(count) + " " +
                            std::string(gguf_value_type_name(type)) + " elements cannot fit in the " +
                            std::to_string(r.remaining()) + " bytes left in the file");
  }
  return {type, count};
}

std::uint64_t align_up(const ByteReader& r, std::uint64_t value, std::uint64_t alignment) {
  std::uint64_t sum = 0;
  if (__builtin_add_overflow(value, alignment - 1, &sum)) r.fail("offset " + std::to_string(value) + " overflows when aligned");
  return sum / alignment * alignment;
}

}  // namespace

void GgufParser::skip_value(ByteReader& r, GgufValueType type, const std::string& context, int depth) {
  if (gguf_fixed_size(type) != 0) {
    (void)read_fixed(r, type, 1, context);
  } else if (type == T::string) {
    (void)read_string_bytes(r, context);
  } else {
    const ArrayHeader h = read_array_header(r, context, depth);
    if (gguf_fixed_size(h.element_type) != 0) {
      (void)read_fixed(r, h.element_type, h.count, context);
    } else {
      for (std::uint64_t i = 0; i < h.count; ++i) skip_value(r, h.element_type, context, depth + 1);
    }
  }
}

GgufValue GgufParser::read_value(ByteReader& r, GgufValueType type, const std::string& context,
                                 int depth) {
  GgufValue v;
  v.type_ = type;
  if (gguf_fixed_size(type) != 0) {
    v.bits_ = gguf_scalar_bits(type, read_fixed(r, type, 1, context).data());
    return v;
  }
  if (type == T::string) {
    v.bytes_ = read_string(r, context);
    return v;
  }
  const ArrayHeader h = read_array_header(r, context, depth);
  v.element_type_ = h.element_type;
  v.bits_ = h.count;
  if (gguf_fixed_size(h.element_type) != 0) {
    const auto bytes = read_fixed(r, h.element_type, h.count, context);
    v.bytes_.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return v;
  }
  // Strings and arrays: checked first, then copied into buffers allocated once at their final size.
  ByteReader check = r;
  for (std::uint64_t i = 0; i < h.count; ++i) skip_value(check, h.element_type, context, depth + 1);
  const auto all = r.take(check.offset() - r.offset(), context);
  ByteReader elements(all, r.path());
  v.ends_.reserve(static_cast<std::size_t>(h.count));
  if (h.element_type == T::string) {
    v.bytes_.reserve(all.size() - static_cast<std::size_t>(h.count) * 8);  // less the lengths
    for (std::uint64_t i = 0; i < h.count; ++i) {
      const auto bytes = read_string_bytes(elements, context);
      v.bytes_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      v.ends_.push_back(v.bytes_.size());
    }
  } else {
    v.bytes_.assign(reinterpret_cast<const char*>(all.data()), all.size());
    for (std::uint64_t i = 0; i < h.count; ++i) {
      skip_value(elements, T::array, context, depth + 1);
      v.ends_.push_back(elements.offset());
    }
  }
  return v;
}

GgufFile GgufParser::parse(std::shared_ptr<const MappedFile> mapped) {
  const std::filesystem::path& path = mapped->path();
  ByteReader r(mapped->bytes(), path);
  GgufFile file;

  const auto magic = r.take(4, "the magic 'GGUF'");
  if (std::memcmp(magic.data(), kGgufMagic, 4) != 0) r.fail_at(0, "not a GGUF file: the magic is not 'GGUF'");

  file.version_ = r.u32("the version");
  if (file.version_ == 0 || (file.version_ & 0xffffu) == 0) {
    r.fail_at(4, "version " + std::to_string(file.version_) +
                     " is not valid (a file of the other byte order, or corrupt)");
  }
  if (file.version_ == 1 || file.version_ > kGgufVersion) {
    throw Error(ErrorCode::unsupported, path.string() + ": byte offset 4: GGUF version " +
                                            std::to_string(file.version_) +
                                            " is not supported (versions 2 and 3 are)");
  }

  const std::uint64_t n_tensors = r.u64("the tensor count");
  const std::uint64_t n_kv = r.u64("the metadata count");
  if (n_kv > r.remaining() / kMinEntryBytes) {
    r.fail_at(16, "metadata count " + std::to_string(n_kv) + " cannot fit in the " +
                      std::to_string(r.remaining()) + " bytes left in the file");
  }
  if (n_tensors > (r.remaining() - n_kv * kMinEntryBytes) / kMinTensorInfoBytes) {
    r.fail_at(8, "tensor count " + std::to_string(n_tensors) + " cannot fit in the " +
                     std::to_string(r.remaining()) + " bytes left in the file");
  }

  // Metadata.
  std::vector<std::size_t> key_offsets;
  key_offsets.reserve(static_cast<std::size_t>(n_kv));
  file.metadata_.reserve(static_cast<std::size_t>(n_kv));
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    const std::size_t at = r.offset();
    std::string key = read_string(r, "the key of metadata entry " + std::to_string(i));
    if (key.empty()) r.fail_at(at, "metadata entry " + std::to_string(i) + " has an empty key");
    const std::string context = "key " + quote(key);
    const std::size_t type_at = r.offset();
    const std::uint32_t type = r.u32(context);
    if (!known_value_type(type)) r.fail_at(type_at, context + ": unknown value type " + std::to_string(type));
    GgufValue value = read_value(r, static_cast<T>(type), context, 0);
    key_offsets.push_back(at);
    file.metadata_.emplace_back(std::move(key), std::move(value));
  }
  file.metadata_by_key_.resize(file.metadata_.size());
  for (std::uint32_t i = 0; i < file.metadata_by_key_.size(); ++i) file.metadata_by_key_[i] = i;
  std::stable_sort(file.metadata_by_key_.begin(), file.metadata_by_key_.end(),
                   [&](auto a, auto b) { return file.metadata_[a].first < file.metadata_[b].first; });
  for (std::size_t i = 1; i < file.metadata_by_key_.size(); ++i) {
    const auto prev = file.metadata_by_key_[i - 1], cur = file.metadata_by_key_[i];
    if (file.metadata_[prev].first == file.metadata_[cur].first) {
      r.fail_at(key_offsets[cur], "duplicate metadata key " + quote(file.metadata_[cur].first));
    }
  }

  for (std::size_t i = 0; i < file.metadata_.size(); ++i) {
    if (file.metadata_[i].first != "general.alignment") continue;
    const GgufValue& value = file.metadata_[i].second;
    if (value.type() != T::u32) {
      r.fail_at(key_offsets[i], "general.alignment has type " +
                                    std::string(gguf_value_type_name(value.type())) + "; it must be u32");
    }
    const std::uint64_t alignment = value.as_u64();
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
      r.fail_at(key_offsets[i], "general.alignment " + std::to_string(alignment) + " is not a power of two");
    }
    file.alignment_ = alignment;
  }

  // Tensor infos.
  std::vector<std::size_t> info_offsets, offset_fields;
  info_offsets.reserve(static_cast<std::size_t>(n_tensors));
  offset_fields.reserve(static_cast<std::size_t>(n_tensors));
  file.tensors_.reserve(static_cast<std::size_t>(n_tensors));
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    const std::size_t at = r.offset();
    GgufTensorInfo info;
    info.name = read_string(r, "the name of tensor " + std::to_string(i));
    if (info.name.empty()) r.fail_at(at, "tensor " + std::to_string(i) + " has an empty name");
    const std::string context = "tensor " + quote(info.name);
    if (info.name.size() > kGgufMaxNameBytes) {
      r.fail_at(at, context + ": name of " + std::to_string(info.name.size()) +
                        " bytes is longer than the 63 ggml allows");
    }
    const std::size_t dims_at = r.offset();
    const std::uint32_t n_dims = r.u32(context);
    if (n_dims > kGgufMaxDims) {
      r.fail_at(dims_at, context + ": " + std::to_string(n_dims) + " dimensions; GGUF allows at most 4");
    }
    std::uint64_t ne[kGgufMaxDims] = {1, 1, 1, 1};
    std::uint64_t elements = 1;
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      const std::size_t dim_at = r.offset();
      ne[d] = r.u64(context);
      if (ne[d] == 0) r.fail_at(dim_at, context + ": dimension ne[" + std::to_string(d) + "] is zero");
      if (ne[d] > kInt64Max) {
        r.fail_at(dim_at, context + ": dimension ne[" + std::to_string(d) + "] is negative as int64");
      }
      if (__builtin_mul_overflow(elements, ne[d], &elements) || elements >= kInt64Max) {
        r.fail_at(dim_at, context + ": the element count overflows int64");
      }
    }
    const std::size_t type_at = r.offset();
    info.ggml_type = r.u32(context);
    const GgmlTypeTraits* traits = sized_ggml_type(info.ggml_type);
    if (traits == nullptr) {
      if (ggml_type_traits(info.ggml_type) != nullptr) {
        r.fail_at(type_at, context + ": ggml type " + std::to_string(info.ggml_type) + " (" +
                               std::string(ggml_type_name(info.ggml_type)) +
                               ") was removed from ggml and has no size");
      }
      r.fail_at(type_at, context + ": unknown ggml type " + std::to_string(info.ggml_type));
    }
    if (ne[0] % traits->block_size != 0) {
      r.fail_at(dims_at, context + ": rows of " + std::to_string(ne[0]) + " elements are not a multiple of the " +
                             std::string(traits->name) + " block size " +
                             std::to_string(traits->block_size));
    }
    if (__builtin_mul_overflow(elements / traits->block_size, std::uint64_t{traits->type_size}, &info.nbytes)) {
      r.fail_at(dims_at, context + ": the byte size overflows");
    }
    offset_fields.push_back(r.offset());
    info.offset = r.u64(context);
    info.shape.assign(std::make_reverse_iterator(ne + n_dims), std::make_reverse_iterator(ne));
    info_offsets.push_back(at);
    file.tensors_.push_back(std::move(info));
  }
  file.tensors_by_name_.resize(file.tensors_.size());
  for (std::uint32_t i = 0; i < file.tensors_by_name_.size(); ++i) file.tensors_by_name_[i] = i;
  std::stable_sort(file.tensors_by_name_.begin(), file.tensors_by_name_.end(),
                   [&](auto a, auto b) { return file.tensors_[a].name < file.tensors_[b].name; });
  for (std::size_t i = 1; i < file.tensors_by_name_.size(); ++i) {
    const auto prev = file.tensors_by_name_[i - 1], cur = file.tensors_by_name_[i];
    if (file.tensors_[prev].name == file.tensors_[cur].name) {
      r.fail_at(info_offsets[cur], "duplicate tensor name " + quote(file.tensors_[cur].name));
    }
  }

  // Data section.
  const std::uint64_t header_end = r.offset();
  const std::uint64_t file_size = r.size();
  file.data_offset_ = align_up(r, header_end, file.alignment_);
  if (!file.tensors_.empty() && file.data_offset_ > file_size) {
    r.fail_at(header_end, "truncated: the data section would start at " + std::to_string(file.data_offset_) +
                              ", past the end of the file (" + std::to_string(file_size) + " bytes)");
  }
  std::uint64_t expected = 0;
  for (std::size_t i = 0; i < file.tensors_.size(); ++i) {
    const GgufTensorInfo& t = file.tensors_[i];
    const std::string context = "tensor " + quote(t.name);
    if (t.offset != expected) {
      if (t.offset < expected && i > 0) {
        r.fail_at(offset_fields[i], context + ": data offset " + std::to_string(t.offset) +
                                        " overlaps tensor " + quote(file.tensors_[i - 1].name) +
                                        ", whose padded data ends at " + std::to_string(expected));
      }
      r.fail_at(offset_fields[i], context + ": data offset " + std::to_string(t.offset) + ", expected " +
                                      std::to_string(expected) +
                                      " (tensor data must be contiguous in tensor order, each tensor "
                                      "padded to the alignment " +
                                      std::to_string(file.alignment_) + ")");
    }
    std::uint64_t end = 0;
    if (__builtin_add_overflow(file.data_offset_ + t.offset, t.nbytes, &end) || end > file_size) {
      r.fail_at(offset_fields[i], "truncated: " + context + ": its " + std::to_string(t.nbytes) +
                                      " bytes of data at file offset " +
                                      std::to_string(file.data_offset_ + t.offset) +
                                      " extend past the end of the file (" +
                                      std::to_string(file_size) + " bytes)");
    }
    expected = align_up(r, t.offset + t.nbytes, file.alignment_);
  }

  file.file_ = std::move(mapped);
  return file;
}

}  // namespace qlinear::io

namespace qlinear {

std::optional<Format> GgufTensorInfo::format() const { return format_for_ggml_type(ggml_type); }

std::uint64_t GgufTensorInfo::element_count() const noexcept {
  std::uint64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

GgufFile GgufFile::open(const std::filesystem::path& path) {
  return io::GgufParser::parse(io::MappedFile::open(path));
}

const std::filesystem::path& GgufFile::path() const noexcept {
  static const std::filesystem::path empty;
  return file_ ? file_->path() : empty;
}

std::uint64_t GgufFile::file_size() const noexcept { return file_ ? file_->size() : 0; }

const GgufValue* GgufFile::find(std::string_view key) const noexcept {
  const auto it = std::lower_bound(metadata_by_key_.begin(), metadata_by_key_.end(), key,
                                   [&](std::uint32_t i, std::string_view k) { return metadata_[i].first < k; });
  return it != metadata_by_key_.end() && metadata_[*it].first == key ? &metadata_[*it].second : nullptr;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const noexcept {
  const auto it = std::lower_bound(tensors_by_name_.begin(), tensors_by_name_.end(), name,
                                   [&](std::uint32_t i, std::string_view n) { return tensors_[i].name < n; });
  return it != tensors_by_name_.end() && tensors_[*it].name == name ? &tensors_[*it] : nullptr;
}

std::span<const std::byte> GgufFile::tensor_data(const GgufTensorInfo& info) const {
  std::uint64_t begin = 0, end = 0;
  if (!file_ || __builtin_add_overflow(data_offset_, info.offset, &begin) ||
      __builtin_add_overflow(begin, info.nbytes, &end) || end > file_->size()) {
    throw Error(ErrorCode::invalid_argument, path().string() + ": tensor '" + info.name +
                                                 "' does not lie inside this file");
  }
  return file_->bytes().subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(info.nbytes));
}

void GgufFile::release(const GgufTensorInfo& info) const noexcept {
  try {
    if (file_) file_->release(tensor_data(info));
  } catch (const Error&) {
    // A tensor outside this file has no pages of it to release.
  }
}

namespace {

std::string readable_types() {
  std::string out;
  for (const FormatInfo& f : all_formats()) {
    if (f.ggml_type < 0) continue;
    if (!out.empty()) out += ", ";
    out += f.name;
  }
  return out;
}

struct Matrix {
  const GgufTensorInfo* info;
  Format format;
  std::size_t rows, cols;
};

Matrix as_matrix(const GgufFile& file, std::string_view name) {
  const GgufTensorInfo* info = file.find_tensor(name);
  if (info == nullptr) {
    throw Error(ErrorCode::invalid_argument, file.path().string() + ": no tensor named '" + std::string(name) + "'");
  }
  const auto format = info->format();
  if (!format) {
    throw Error(ErrorCode::unsupported, file.path().string() + ": unsupported tensor type " +
                                            std::to_string(info->ggml_type) + " in tensor " + info->name +
                                            " (ggml " + std::string(ggml_type_name(info->ggml_type)) +
                                            "; qlinear reads " + readable_types() + ")");
  }
  // Dimensions are non-zero and their product fits in int64 (checked at open).
  const std::size_t cols = info->shape.empty() ? 1 : static_cast<std::size_t>(info->shape.back());
  return {info, *format, static_cast<std::size_t>(info->element_count()) / cols, cols};
}

}  // namespace

QuantizedTensor GgufFile::tensor(std::string_view name) const {
  const Matrix m = as_matrix(*this, name);
  return QuantizedTensor::from_blocks(m.format, m.rows, m.cols, tensor_data(*m.info));
}

std::vector<float> GgufFile::tensor_f32(std::string_view name) const {
  const Matrix m = as_matrix(*this, name);
  const formats::FormatTraits& traits = formats::traits(m.format);
  const std::span<const std::byte> data = tensor_data(*m.info);
  const std::size_t row_bytes = data.size() / m.rows;
  std::vector<float> out(core::checked_mul(m.rows, m.cols, "tensor elements"));
  // Rows are copied to aligned storage first: the mapping's alignment is the file's, possibly 1.
  std::vector<std::uint64_t> row((row_bytes + 7) / 8);
  for (std::size_t r = 0; r < m.rows; ++r) {
    std::memcpy(row.data(), data.data() + r * row_bytes, row_bytes);
    traits.dequantize_row_ref(row.data(), out.data() + r * m.cols, m.cols);
  }
  return out;
}

}  // namespace qlinear
