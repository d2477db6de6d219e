#pragma once
// AXQT v1: the quantized-model files of the axonml-quant crate (`serialize_quantized`), read so that
// its users can move their models to GGUF or safetensors. All integers little-endian:
//
//   offset 0  "AXQT"; u8 version = 1; u8 quant type (0 Q8_0, 1 Q4_0, 2 Q4_1, 3 Q5_0, 4 Q5_1, 5 F16,
//             6 F32); u32 tensor count; u64 total parameter count            (18 bytes)
//   then per tensor, back to back, no names and no padding:
//             u32 rank; rank × u32 dims; u32 block count; the blocks
//
// What is accepted (everything else is Error(malformed_file), or Error(unsupported) where noted):
//   - version 1 only (other versions: unsupported);
//   - Q8_0 blocks of 34 bytes: f16 scale d, 32 int8 q; value = d·q;
//   - Q4_0 blocks of 18 bytes: f16 scale d, 16 bytes holding 32 codes c in 0..15 with element 2i in
//     the LOW nibble of byte i and element 2i+1 in the high nibble (not ggml's order); value = d·(c−8);
//   - Q4_1 blocks of 20 bytes: f16 scale d, f16 minimum m, 16 bytes of codes in the same order;
//     value = d·c + m;
//   - for these, the block count must be ceil(elements / 32); the last block's padding is dropped;
//   - F16 / F32: the values back to back (2 or 4 bytes each). The crate writes a block count of 1 for
//     a whole tensor; a count equal to the element count (one value per block) is accepted too, as the
//     bytes are the same;
//   - Q5_0 / Q5_1 files: unsupported (the crate cannot read them back either: it writes Q4_0-sized
//     blocks for them);
//   - every dimension non-zero, rank 0 read as a scalar; the total parameter count in the header
//     equal to the sum of the tensors' element counts; nothing after the last tensor.
// The crate stores no tensor names: tensors are named "tensor_0", "tensor_1", ... in file order.

#include <qlinear/export.h>
#include <qlinear/error.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace qlinear {

namespace io {
struct AxqtParser;
}

struct QLINEAR_API AxqtTensor {
  std::string name;                  // "tensor_0", ...: AXQT has no names
  std::vector<std::uint64_t> shape;  // as stored (outermost first, as the crate's tensors are)
  std::string quant_type;            // "Q8_0", "Q4_0", "Q4_1", "F16", "F32": the file's type
  std::vector<float> values;         // dequantized, element count of them
};

class QLINEAR_API AxqtFile {
 public:
  static AxqtFile open(const std::filesystem::path& path);

  const std::filesystem::path& path() const noexcept { return path_; }
  std::uint8_t version() const noexcept { return version_; }
  std::string_view quant_type() const noexcept { return quant_type_; }
  std::uint64_t total_params() const noexcept { return total_params_; }
  const std::vector<AxqtTensor>& tensors() const noexcept { return tensors_; }

 private:
  friend struct io::AxqtParser;
  AxqtFile() = default;

  std::filesystem::path path_;
  std::uint8_t version_ = 0;
  std::string quant_type_;
  std::uint64_t total_params_ = 0;
  std::vector<AxqtTensor> tensors_;
};

}  // namespace qlinear
