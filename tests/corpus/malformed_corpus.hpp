#pragma once
// The malformed-file corpus: files that break one rule of their format each, made at run time from
// the documented layouts, with the ErrorCode and a piece of the message a reader must give. The
// valid seed files beside them are small correct files of each format (the fuzz targets start from
// both). Used by the test suite and by the qlinear_write_corpus tool.

#include <qlinear/error.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace qlinear::test {

enum class Reader { gguf, safetensors, axqt, imatrix, calibration };

// "gguf", "safetensors", "axqt", "imatrix", "calibration"
std::string_view reader_name(Reader reader) noexcept;
// ".gguf", ".safetensors", ".axonml", ".imatrix", ".calibration"
std::string_view reader_extension(Reader reader) noexcept;

struct MalformedCase {
  std::string name;
  Reader reader;
  std::vector<std::byte> bytes;
  ErrorCode expected;
  std::string message;  // a substring of the Error's message
};

struct SeedFile {
  std::string name;
  Reader reader;
  std::vector<std::byte> bytes;
};

std::vector<MalformedCase> malformed_corpus();
std::vector<SeedFile> valid_seed_files();

// The importance-matrix cases and seeds (imatrix_corpus.cpp), part of the two lists above.
void add_imatrix_cases(std::vector<MalformedCase>& out);
void add_imatrix_seeds(std::vector<SeedFile>& out);
// The calibration-file cases and seeds (calibration_corpus.cpp): activations and statistics, read
// by CalibrationFile (opened, then every entry's data read).
void add_calibration_cases(std::vector<MalformedCase>& out);
void add_calibration_seeds(std::vector<SeedFile>& out);

}  // namespace qlinear::test
