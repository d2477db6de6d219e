#pragma once
// safetensors files (Hugging Face): an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw little-endian data. The reader memory-maps the
// file and validates the header as the reference implementation does; the writer streams tensors into
// a temporary file that replaces the target only when complete.

#include <qlinear/export.h>
#include <qlinear/error.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qlinear {

namespace io {
class MappedFile;
class AtomicFile;
struct SafetensorsParser;
}  // namespace io

struct QLINEAR_API SafetensorsTensorInfo {
  std::string name;
  std::string dtype;                 // "F32", "F16", "BF16", ... as written in the file
  std::vector<std::uint64_t> shape;  // outermost first, as in the file; [] is a scalar
  std::uint64_t begin = 0, end = 0;  // byte range inside the data section
  std::uint64_t element_count() const noexcept;
  std::uint64_t nbytes() const noexcept { return end - begin; }
};

// Bits per element of a safetensors dtype ("F32" → 32, "F4" → 4), 0 for a name the format lacks.
QLINEAR_API std::size_t safetensors_dtype_bits(std::string_view dtype) noexcept;

class QLINEAR_API SafetensorsFile {
 public:
  // Maps and validates the file: Error(io) when it cannot be read; Error(malformed_file) naming the
  // file, the tensor and the problem when the header is too long for the file, not JSON, has duplicate
  // keys, an unknown dtype, a shape whose size overflows, or byte ranges that do not match dtype ×
  // shape or do not tile the data section exactly (no gap, no overlap, no trailing bytes).
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const noexcept;
  const std::vector<SafetensorsTensorInfo>& tensors() const noexcept { return tensors_; }  // header order
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  const SafetensorsTensorInfo* find(std::string_view name) const noexcept;
  const SafetensorsTensorInfo& tensor(std::string_view name) const;  // Error(invalid_argument) if absent
  std::uint64_t data_offset() const noexcept { return data_offset_; }  // 8 + header length
  std::uint64_t file_size() const noexcept;

  // The tensor's bytes inside the mapping (valid while any copy of this SafetensorsFile lives).
  std::span<const std::byte> tensor_data(const SafetensorsTensorInfo& info) const;
  // Lets the operating system drop the tensor's pages from memory (they are read again if needed).
  void release(const SafetensorsTensorInfo& info) const noexcept;

  // The tensor's values as float32 (F32, F16 and BF16 are converted; other dtypes: Error(unsupported)).
  std::vector<float> read_f32(std::string_view name) const;

 private:
  friend struct io::SafetensorsParser;
  SafetensorsFile() = default;

  std::shared_ptr<const io::MappedFile> file_;
  std::uint64_t data_offset_ = 0;
  std::vector<SafetensorsTensorInfo> tensors_;
  std::vector<std::uint32_t> tensors_by_name_;  // indices sorted by name, for find()
  std::map<std::string, std::string> metadata_;
};

// Streaming writer: declare metadata and tensors, write the header, then each tensor's bytes in the
// declared order (they are stored back to back in that order). Atomic as GgufWriter: the target is
// replaced by finish() only; a writer destroyed before that leaves the target as it was.
class QLINEAR_API SafetensorsWriter {
 public:
  explicit SafetensorsWriter(std::filesystem::path target);
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;
  ~SafetensorsWriter();

  void set_metadata(std::string key, std::string value);  // replaces an existing key
  // dtype: any safetensors dtype ("F32", "F16", "BF16", "I8", ...). Error(invalid_argument) for an
  // empty, reserved ("__metadata__") or repeated name, an unknown dtype, or a size that overflows.
  void add_tensor(std::string name, std::string dtype, std::vector<std::uint64_t> shape);
  void write_header();  // the JSON header padded with spaces to a multiple of 8 bytes
  void write_tensor_data(std::string_view name, std::span<const std::byte> bytes);  // declared order, exact size
  void finish();

 private:
  enum class State { declaring, writing, finished };
  std::unique_ptr<io::AtomicFile> file_;
  std::map<std::string, std::string> metadata_;
  std::vector<SafetensorsTensorInfo> tensors_;
  std::size_t next_tensor_ = 0;
  State state_ = State::declaring;
};

}  // namespace qlinear
