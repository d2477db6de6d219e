#pragma once
// Affine (i8 / i4) tensors in a GGUF file, stored as standard tensors so that every GGUF reader can
// open the file:
//   NAME             I8, the codes row by row without qlinear's padding. i8: the original shape, one
//                    code per byte (int8, or the bits of the uint8 code when asymmetric). i4: the
//                    innermost dimension halved (rounded up), two codes per byte, element 2k in the
//                    low nibble and 2k+1 in the high nibble; symmetric codes stored as q + 8.
//   NAME.scale       F32 [rows, groups per row], [rows, 1] per channel, or [1] per tensor.
//   NAME.zero_point  F32, the same shape, asymmetric only (integer values).
// and metadata under "qlinear.affine.NAME.": format ("i8"/"i4"), symmetric (bool), granularity
// ("tensor"/"channel"/"group"), group_size (u32), shape (u64 array, outermost first).

#include <qlinear/gguf.hpp>
#include <qlinear/tensor.hpp>

#include <optional>
#include <string>
#include <vector>

namespace qlinear::model {

std::string affine_scale_name(const std::string& name);
std::string affine_zero_point_name(const std::string& name);
std::string affine_key(const std::string& name, const char* field);

// The tensor infos (name, shape, type) the affine tensor `name` of `shape` writes, in order.
struct PlannedTensor {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::uint32_t ggml_type;
};
std::vector<PlannedTensor> affine_tensors(const std::string& name, const std::vector<std::uint64_t>& shape,
                                          Format format, const AffineOptions& options);
void add_affine_metadata(GgufWriter& writer, const std::string& name,
                         const std::vector<std::uint64_t>& shape, Format format,
                         const AffineOptions& options);

// The bytes of each tensor of affine_tensors(), in the same order.
std::vector<std::vector<std::byte>> affine_tensor_bytes(const QuantizedTensor& q);

struct AffineMetadata {
  Format format;
  AffineOptions options;
  std::vector<std::uint64_t> shape;
};
// The metadata of the affine tensor `name`, if the file holds one (Error(malformed_file) if broken).
std::optional<AffineMetadata> read_affine_metadata(const GgufFile& file, const std::string& name);

// The affine tensor `name` if the file holds one written this way (its metadata is present).
std::optional<QuantizedTensor> read_affine(const GgufFile& file, const std::string& name);
bool is_affine_companion(const GgufFile& file, const std::string& tensor_name);

}  // namespace qlinear::model
