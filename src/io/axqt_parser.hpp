#pragma once
// The AXQT parser behind AxqtFile::open, exposed inside qlinear for tests and fuzz targets.

#include "io/mapped_file.hpp"

#include <qlinear/axqt.hpp>

#include <memory>

namespace qlinear::io {

struct AxqtParser {
  static AxqtFile parse(std::shared_ptr<const MappedFile> file);
};

}  // namespace qlinear::io
