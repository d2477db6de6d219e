#pragma once
// The GGUF parser behind GgufFile::open, exposed inside qlinear so that tests and fuzz targets can
// parse bytes held in memory.

#include "io/mapped_file.hpp"

#include <qlinear/gguf.hpp>

#include <memory>

namespace qlinear::io {

class ByteReader;

struct GgufParser {
  static GgufFile parse(std::shared_ptr<const MappedFile> file);
  static GgufValue read_value(ByteReader& reader, GgufValueType type, const std::string& context,
                              int depth);
};

inline constexpr char kGgufMagic[4] = {'G', 'G', 'U', 'F'};
inline constexpr std::uint32_t kGgufVersion = 3;
inline constexpr std::uint64_t kGgufDefaultAlignment = 32;
inline constexpr std::size_t kGgufMaxDims = 4;        // GGML_MAX_DIMS
inline constexpr std::size_t kGgufMaxNameBytes = 63;  // GGML_MAX_NAME - 1 (ggml keeps a NUL)
inline constexpr int kGgufMaxArrayDepth = 16;         // arrays of arrays: ours, the format sets none

}  // namespace qlinear::io
