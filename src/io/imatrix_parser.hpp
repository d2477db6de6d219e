#pragma once
// The importance-matrix parser behind ImportanceMatrix::open, exposed inside qlinear so that tests and
// fuzz targets can parse bytes held in memory.

#include "io/mapped_file.hpp"

#include <qlinear/imatrix.hpp>

#include <memory>

namespace qlinear::io {

struct ImatrixParser {
  // GGUF when the file starts with "GGUF", the legacy .dat kind otherwise.
  static ImportanceMatrix parse(std::shared_ptr<const MappedFile> file);

 private:
  static ImportanceMatrix parse_gguf(std::shared_ptr<const MappedFile> file);
  static ImportanceMatrix parse_dat(const MappedFile& file);
};

}  // namespace qlinear::io
