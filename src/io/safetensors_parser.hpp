#pragma once
// The safetensors parser behind SafetensorsFile::open, exposed inside qlinear so that tests and fuzz
// targets can parse bytes held in memory.

#include "io/mapped_file.hpp"

#include <qlinear/safetensors.hpp>

#include <memory>

namespace qlinear::io {

struct SafetensorsParser {
  static SafetensorsFile parse(std::shared_ptr<const MappedFile> file);
};

// The reference implementation's limit on the JSON header.
inline constexpr std::uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

}  // namespace qlinear::io
