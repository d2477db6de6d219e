#pragma once
// Reading safetensors files (Hugging Face): an 8-byte little-endian header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the raw little-endian data.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace qlinear {

struct SafetensorsTensorInfo {
  std::string name;
  std::string dtype;                 // "F32", "F16", "BF16", ... as written in the file
  std::vector<std::uint64_t> shape;  // outermost first, as in the file
  std::uint64_t begin = 0, end = 0;  // byte range inside the data section
  std::uint64_t element_count() const noexcept;
};

class SafetensorsFile {
 public:
  // Reads and validates the header (Error(malformed_file) naming the file and the problem; Error(io)
  // when the file cannot be read).
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const noexcept { return path_; }
  const std::vector<SafetensorsTensorInfo>& tensors() const noexcept { return tensors_; }
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  const SafetensorsTensorInfo& tensor(const std::string& name) const;  // Error if absent

  // The tensor's values as float32 (F32, F16 and BF16 are converted; other dtypes are an Error).
  std::vector<float> read_f32(const std::string& name) const;

 private:
  std::filesystem::path path_;
  std::shared_ptr<const std::vector<std::byte>> bytes_;
  std::size_t data_offset_ = 0;
  std::vector<SafetensorsTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace qlinear
