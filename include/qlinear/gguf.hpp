#pragma once
// GGUF (llama.cpp / ggml model files), version 3: a reader that memory-maps the file and validates
// everything at open, and a streaming writer whose files pass the checks of ggml's own reader.
//
// Shapes are outermost first, as in safetensors and PyTorch: GGUF stores ne[] innermost first, and
// both the reader and the writer reverse it, so a [rows, cols] matrix is {rows, cols} here.

#include <qlinear/export.h>
#include <qlinear/error.hpp>
#include <qlinear/format.hpp>
#include <qlinear/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qlinear {

namespace io {
class MappedFile;
class AtomicFile;
struct GgufParser;
}  // namespace io

class GgufWriter;

enum class GgufValueType : std::uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7, string = 8, array = 9,
  u64 = 10, i64 = 11, f64 = 12
};

QLINEAR_API std::string_view gguf_value_type_name(GgufValueType type) noexcept;  // "u32", "string", ...

// One metadata value: a scalar, a string, or an array (an element type and its elements). Arrays of
// arrays are read as the specification allows; the writer refuses them because ggml's reader does.
// Accessors of the wrong type throw Error(invalid_argument).
//
// Arrays are stored compactly, not as one GgufValue per element: numbers and bools as their
// little-endian bytes, strings as one buffer of their bytes and where each ends, arrays of arrays as
// the bytes GGUF encodes them in and where each ends. So a value takes little more memory than its
// bytes in the file (see memory_bytes()), and array_element() makes an element on request.
class QLINEAR_API GgufValue {
 public:
  static GgufValue u8(std::uint8_t v);
  static GgufValue i8(std::int8_t v);
  static GgufValue u16(std::uint16_t v);
  static GgufValue i16(std::int16_t v);
  static GgufValue u32(std::uint32_t v);
  static GgufValue i32(std::int32_t v);
  static GgufValue u64(std::uint64_t v);
  static GgufValue i64(std::int64_t v);
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  // Error(invalid_argument) when an element's type is not element_type, or when arrays would nest
  // more than 16 deep (the reader's limit).
  static GgufValue array(GgufValueType element_type, const std::vector<GgufValue>& elements);

  GgufValueType type() const noexcept { return type_; }
  GgufValueType element_type() const;  // arrays only

  bool is_integer() const noexcept;
  std::uint64_t as_u64() const;  // any integer type whose value is >= 0
  std::int64_t as_i64() const;   // any integer type whose value fits
  double as_f64() const;         // f32, f64, or any integer type
  bool as_bool() const;
  const std::string& as_string() const;

  // Arrays only. array_element(i) makes element i (Error(invalid_argument) when i >= array_size());
  // as_array() makes all of them, for small arrays: a 250,000-token vocabulary is better walked
  // with array_element().
  std::size_t array_size() const;
  GgufValue array_element(std::size_t i) const;
  std::vector<GgufValue> as_array() const;

  // For listings: strings quoted and escaped (and cut after max_string_bytes), arrays of more than
  // max_array_items shown as "[1, 2, ... (50000 items)]".
  std::string to_display_string(std::size_t max_array_items = 8,
                                std::size_t max_string_bytes = std::string::npos) const;

  // Same type, same value; floats compare by their bits (so a NaN equals the same NaN).
  bool operator==(const GgufValue& other) const;

  // Bytes this value occupies: the object and the buffers it owns, at their capacity (the
  // allocator's own bookkeeping is not counted).
  std::size_t memory_bytes() const noexcept;

 private:
  GgufValue() = default;
  friend struct io::GgufParser;
  friend class GgufWriter;

  // The value as a GGUF file holds it after its type tag.
  void append_encoded(std::string& out) const;

  GgufValueType type_ = GgufValueType::u8;
  GgufValueType element_type_ = GgufValueType::u8;
  // Integers (signed ones sign-extended), bool, float/double bit patterns; for arrays, the element count.
  std::uint64_t bits_ = 0;
  // A string's bytes. An array's elements: numbers and bools little-endian, element after element;
  // strings one after another with no length in between; arrays each as GGUF encodes it (element
  // type, count, elements).
  std::string bytes_;
  // Arrays of strings and of arrays: where each element ends in bytes_.
  std::vector<std::uint64_t> ends_;
};

struct QLINEAR_API GgufTensorInfo {
  std::string name;
  std::vector<std::uint64_t> shape;  // outermost first: GGUF's ne reversed
  std::uint32_t ggml_type = 0;
  std::uint64_t offset = 0;          // relative to the data section
  std::uint64_t nbytes = 0;
  std::optional<Format> format() const;  // qlinear's format for ggml_type, if qlinear has one
  std::uint64_t element_count() const noexcept;
};

class QLINEAR_API GgufFile {
 public:
  // Maps and validates the file: Error(io) when it cannot be read, Error(malformed_file) naming the
  // byte offset and the key or tensor when its contents break the format (see docs in gguf_reader.cpp),
  // Error(unsupported) for a GGUF version other than 2 or 3.
  static GgufFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const noexcept;
  std::uint32_t version() const noexcept { return version_; }
  std::uint64_t alignment() const noexcept { return alignment_; }
  std::uint64_t data_offset() const noexcept { return data_offset_; }  // start of the data section
  std::uint64_t file_size() const noexcept;

  const std::vector<std::pair<std::string, GgufValue>>& metadata() const noexcept { return metadata_; }
  const GgufValue* find(std::string_view key) const noexcept;
  const std::vector<GgufTensorInfo>& tensors() const noexcept { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const noexcept;

  // The tensor's bytes inside the mapping (valid while any copy of this GgufFile lives).
  std::span<const std::byte> tensor_data(const GgufTensorInfo& info) const;
  // Lets the operating system drop the tensor's pages from memory (they are read again if needed):
  // for streaming through models larger than memory.
  void release(const GgufTensorInfo& info) const noexcept;

  // The tensor as a rows × cols QuantizedTensor (rows = product of the outer dimensions, 1 for a 1-D
  // tensor; cols = the innermost). Error(invalid_argument) for an unknown name, Error(unsupported)
  // "unsupported tensor type N in tensor NAME" for a ggml type qlinear has no format for.
  QuantizedTensor tensor(std::string_view name) const;
  // element_count() dequantized values, in file order.
  std::vector<float> tensor_f32(std::string_view name) const;

 private:
  friend struct io::GgufParser;
  GgufFile() = default;

  std::shared_ptr<const io::MappedFile> file_;
  std::uint32_t version_ = 0;
  std::uint64_t alignment_ = 32;
  std::uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::vector<std::uint32_t> metadata_by_key_;   // indices sorted by key, for find()
  std::vector<std::uint32_t> tensors_by_name_;   // indices sorted by name, for find_tensor()
};

// Streaming writer: declare metadata and tensors, write the header, then each tensor's bytes in the
// declared order. The file goes to a temporary file beside the target and is renamed over it by
// finish(); a writer destroyed without finish() (an exception, an early return) leaves the target as
// it was. The layout is the one ggml's reader requires: tensor data contiguous in declaration order,
// each tensor at an offset that is a multiple of the alignment and padded with zeros to the next one.
class QLINEAR_API GgufWriter {
 public:
  // Alignment: a power of two; anything but 32 is recorded as general.alignment (u32).
  explicit GgufWriter(std::filesystem::path target, std::uint64_t alignment = 32);
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;
  ~GgufWriter();

  // Replaces an existing key in place, else appends. Error(invalid_argument) for an empty key, a key
  // over 65535 bytes, or a general.alignment that is not a u32 power of two (a valid one becomes the
  // writer's alignment); Error(unsupported) for an array of arrays (ggml's reader rejects them).
  void set(std::string key, GgufValue value);
  // Shape outermost first, 1 to 4 dimensions, none zero. Error(invalid_argument) when the innermost
  // dimension is not a multiple of the type's block size, the name is empty, longer than 63 bytes or
  // already declared, or the type is not a ggml type with a size.
  void add_tensor(std::string name, std::vector<std::uint64_t> shape, std::uint32_t ggml_type);

  void write_header();  // after every set() and add_tensor()
  // `name` must be the next declared tensor and `bytes` exactly its size; pads to the alignment.
  void write_tensor_data(std::string_view name, std::span<const std::byte> bytes);
  void finish();  // after every tensor's data: flush, fsync, rename over the target

  std::uint64_t alignment() const noexcept { return alignment_; }
  const std::vector<GgufTensorInfo>& tensors() const noexcept { return tensors_; }  // offsets as written

 private:
  enum class State { declaring, writing, finished };
  std::unique_ptr<io::AtomicFile> file_;
  std::uint64_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::size_t next_tensor_ = 0;
  std::uint64_t data_start_ = 0;
  State state_ = State::declaring;
};

// general.quantization_version as ggml writes it (GGML_QNT_VERSION): required when any tensor is
// quantized.
inline constexpr std::uint32_t ggml_quantization_version = 2;

// ggml type ids and qlinear formats.
QLINEAR_API std::optional<Format> format_for_ggml_type(std::uint32_t ggml_type);
QLINEAR_API
std::uint32_t ggml_type_for(Format format);            // Error(unsupported) for the affine formats
QLINEAR_API
std::string_view ggml_type_name(std::uint32_t ggml_type);  // "q4_K", "iq2_xxs", ...; "unknown" beyond
// general.file_type as llama.cpp writes it for a file of mostly `dominant` tensors (MOSTLY_Q4_0 = 2,
// ...). Error(unsupported) for q8_1 and the affine formats, which llama.cpp has no file type for.
QLINEAR_API std::uint32_t llama_file_type_for(Format dominant);

// A QuantizedTensor's bytes as a GGUF tensor of shape {rows, cols} stores them: qlinear's rows are
// unpadded exactly when cols is a multiple of the block size, so this is a view of q.data().
// Error(invalid_argument) when cols is not a multiple of the block size, Error(unsupported) for the
// affine formats.
QLINEAR_API std::span<const std::byte> gguf_tensor_bytes(const QuantizedTensor& q);

}  // namespace qlinear
