#pragma once
// The parser behind CalibrationFile::open, exposed inside qlinear so that tests and fuzz targets can
// parse bytes held in memory (the file's label names it in errors, and tells nothing else).

#include "io/mapped_file.hpp"

#include <qlinear/calibration_file.hpp>

#include <memory>

namespace qlinear::model {

struct CalibrationParser {
  static CalibrationFile parse(std::shared_ptr<const io::MappedFile> file);
};

}  // namespace qlinear::model
