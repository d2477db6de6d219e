#pragma once
// ggml's tensor types: id, name, and the block size and bytes per block that a tensor's byte size is
// computed from. Ids that ggml removed (4, 5, 31-33, 36-38) keep their name but have no size, as in
// ggml, whose reader rejects them.

#include <cstdint>
#include <optional>
#include <string_view>

namespace qlinear::io {

struct GgmlTypeTraits {
  std::string_view name;
  std::uint32_t block_size;  // 0 for a removed type
  std::uint32_t type_size;   // bytes per block
};

inline constexpr std::uint32_t kGgmlTypeCount = 43;

// nullptr for an id past the table.
const GgmlTypeTraits* ggml_type_traits(std::uint32_t ggml_type) noexcept;

// The traits of a type a file may hold (known and not removed), else nullptr.
inline const GgmlTypeTraits* sized_ggml_type(std::uint32_t ggml_type) noexcept {
  const GgmlTypeTraits* t = ggml_type_traits(ggml_type);
  return t != nullptr && t->block_size != 0 ? t : nullptr;
}

}  // namespace qlinear::io
