#pragma once
// The GGUF parser behind GgufFile::open, exposed inside qlinear so that tests and fuzz targets can
// parse bytes held in memory.

#include "io/mapped_file.hpp"

#include <qlinear/gguf.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace qlinear::io {

class ByteReader;

struct GgufParser {
  static GgufFile parse(std::shared_ptr<const MappedFile> file);
  // One value of `type` (its type tag already read), at array nesting `depth` (0 for a metadata
  // value). Checks everything before allocating; arrays come out compact (see GgufValue).
  static GgufValue read_value(ByteReader& reader, GgufValueType type, const std::string& context,
                              int depth);
  // Checks one value as read_value does and moves past it, allocating nothing.
  static void skip_value(ByteReader& reader, GgufValueType type, const std::string& context, int depth);
};

// Bytes of one number or bool in a GGUF file; 0 for strings and arrays, whose size varies.
inline std::size_t gguf_fixed_size(GgufValueType type) noexcept {
  switch (type) {
    case GgufValueType::u8: case GgufValueType::i8: case GgufValueType::boolean: return 1;
    case GgufValueType::u16: case GgufValueType::i16: return 2;
    case GgufValueType::u32: case GgufValueType::i32: case GgufValueType::f32: return 4;
    case GgufValueType::u64: case GgufValueType::i64: case GgufValueType::f64: return 8;
    case GgufValueType::string: case GgufValueType::array: return 0;
  }
  return 0;
}

// The little-endian number of gguf_fixed_size(type) bytes at p as GgufValue keeps it: signed types
// sign-extended to 64 bits, floats as their bit pattern.
inline std::uint64_t gguf_scalar_bits(GgufValueType type, const std::byte* p) noexcept {
  const std::size_t size = gguf_fixed_size(type);
  std::uint64_t v = 0;
  for (std::size_t i = size; i-- > 0;) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  switch (type) {
    case GgufValueType::i8: return static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int8_t>(v)));
    case GgufValueType::i16: return static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int16_t>(v)));
    case GgufValueType::i32: return static_cast<std::uint64_t>(static_cast<std::int64_t>(static_cast<std::int32_t>(v)));
    default: return v;
  }
}

inline constexpr char kGgufMagic[4] = {'G', 'G', 'U', 'F'};
inline constexpr std::uint32_t kGgufVersion = 3;
inline constexpr std::uint64_t kGgufDefaultAlignment = 32;
inline constexpr std::size_t kGgufMaxDims = 4;        // GGML_MAX_DIMS
inline constexpr std::size_t kGgufMaxNameBytes = 63;  // GGML_MAX_NAME - 1 (ggml keeps a NUL)
inline constexpr int kGgufMaxArrayDepth = 16;         // arrays of arrays: ours, the format sets none

}  // namespace qlinear::io
