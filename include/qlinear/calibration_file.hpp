#pragma once
// Calibration data for a model's weights, by weight name, in one of two kinds of file:
//
// - activations: a safetensors or GGUF file holding, under each weight's name, the inputs that weight
//   meets, [rows, in_features] (leading dimensions of a higher-rank tensor are merged into rows), in
//   F32, F16 or BF16 — what a forward pass with a hook writes out;
// - statistics: qlinear's calibration GGUF, which `qlinear calibrate` and write_calibration_statistics()
//   write. It is a superset of llama.cpp's GGUF importance matrix (general.type "imatrix",
//   imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size; per weight NAME an F32 NAME.in_sum2 of
//   in_features sums of squares and an F32 NAME.counts holding the row count), so llama-quantize and
//   ImportanceMatrix read it as one; qlinear adds qlinear.calibration.version (u32 1) and per weight
//   NAME.xtx, the whole XᵀX, [in, in], written as F64 so that merged statistics equal the statistics
//   of the merged activations exactly (F32 is read too). One row counts as one token: chunk_size 1.
//
// docs/files.md lists every check; every failure is an Error naming the file, the byte offset and the
// tensor: malformed_file for a broken layout, non_finite for NaN or Inf among the values.

#include <qlinear/export.h>
#include <qlinear/calibration.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace qlinear {

namespace model {
struct CalibrationParser;
}

class QLINEAR_API CalibrationFile {
 public:
  enum class Kind { activations, statistics };

  // Reads and checks the header (the values are checked when a weight's data is read). Told apart by
  // content: a GGUF file with general.type "imatrix" is statistics (Error(unsupported) when it lacks
  // the XᵀX tensors: llama-imatrix's files hold only the diagonal, for --imatrix), any other GGUF or
  // safetensors file is activations.
  static CalibrationFile open(const std::filesystem::path& path);

  Kind kind() const noexcept;
  const std::filesystem::path& path() const noexcept;
  const std::vector<std::string>& names() const noexcept;  // the weights it has data for, in file order
  bool contains(std::string_view name) const noexcept;
  std::size_t in_features(std::string_view name) const;  // Error(invalid_argument) for a name it lacks
  std::uint64_t rows(std::string_view name) const;        // the rows of inputs the data stands for
  // What the data was computed from: statistics, imatrix.datasets; activations, the file itself.
  std::vector<std::string> datasets() const;

  // Activations only (Error(invalid_argument) otherwise): the inputs of weight `name`, rows × in
  // floats, every one finite.
  std::vector<float> activations(std::string_view name) const;
  // The statistics of weight `name`'s inputs: accumulated from the activations, or as stored.
  Calibration calibration(std::string_view name) const;
  // Lets the operating system drop the pages of a weight's data that is done with.
  void release(std::string_view name) const noexcept;

  struct Impl;

 private:
  friend struct model::CalibrationParser;
  std::shared_ptr<const Impl> impl_;
};

// One weight's entry in a calibration GGUF, known before its statistics are made.
struct QLINEAR_API CalibrationEntry {
  std::string name;
  std::size_t in_features = 0;
  std::uint64_t rows = 0;  // >= 1
};

// Writes qlinear's calibration GGUF: one entry per element of `entries`, in order, each Calibration
// made by `produce(i)` only when it is written, so memory holds one weight's statistics at a time.
// `datasets` goes to imatrix.datasets; imatrix.chunk_count is the largest row count (chunk_size 1).
// Atomic as GgufWriter: a failure leaves no file. Error(invalid_argument) for a name GGUF cannot hold
// with the ".in_sum2" suffix (empty, or over 55 bytes), a repeated name or 0 rows; Error(size_mismatch)
// when a produced Calibration's width or rows differ from its entry's.
QLINEAR_API
void write_calibration_statistics(const std::filesystem::path& path, const std::vector<CalibrationEntry>& entries,
                                  const std::vector<std::string>& datasets,
                                  const std::function<Calibration(std::size_t index)>& produce);

}  // namespace qlinear
