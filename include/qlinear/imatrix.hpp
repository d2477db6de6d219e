#pragma once
// Importance matrices as llama.cpp's llama-imatrix writes them: for each weight tensor, the mean
// square of the activations that met each of its input columns (per expert, for 3-D expert tensors),
// which QuantizeOptions::importance takes as the cost of an error in that column.
//
// Both kinds llama.cpp writes are read, told apart by their first bytes:
// - GGUF (`general.type` = "imatrix"): per weight tensor NAME, an F32 tensor NAME.in_sum2 (the sums of
//   squares, one row of cols values per expert) and an F32 tensor NAME.counts (one count per expert);
//   the importance is in_sum2 / count, and 1 for the whole row of an expert whose count is 0 (as
//   llama-quantize does, counts are first rounded to the nearest integer);
// - the legacy binary ".dat" kind: entries of (name, ncall, values), whose values are divided by
//   ncall when it is above 0, then optionally the chunk count and the dataset name.
// docs/files.md lists everything the reader checks.

#include <qlinear/export.h>
#include <qlinear/error.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qlinear {

namespace io {
struct ImatrixParser;
}

class QLINEAR_API ImportanceMatrix {
 public:
  enum class Kind { gguf, legacy_dat };

  // Reads and validates the whole file: Error(io) when it cannot be read, Error(malformed_file)
  // naming the file, the byte offset and the entry when its contents break the format (counts that
  // the file cannot hold, NaN, Inf or negative values, repeated names, ...), Error(unsupported) for a
  // GGUF version qlinear does not read.
  static ImportanceMatrix open(const std::filesystem::path& path);

  const std::filesystem::path& path() const noexcept { return path_; }
  Kind kind() const noexcept { return kind_; }

  // The importance of each input column of the tensor (cols values; experts × cols for a 3-D expert
  // tensor, expert after expert), finite and >= 0; empty when the file has no entry of that name.
  std::optional<std::span<const float>> find(std::string_view tensor_name) const noexcept;
  std::size_t size() const noexcept { return names_.size(); }          // entries
  const std::vector<std::string>& names() const noexcept { return names_; }  // in file order

  // The datasets the matrix was computed on (GGUF: imatrix.datasets; .dat: the trailer's name, when
  // there is one), the first of them ("" when none), and the chunks it was computed on (GGUF:
  // imatrix.chunk_count; .dat: the trailer's count; 0 when the file does not tell).
  const std::vector<std::string>& datasets() const noexcept { return datasets_; }
  std::string dataset() const { return datasets_.empty() ? std::string() : datasets_.front(); }
  std::uint32_t chunks() const noexcept { return chunks_; }
  std::uint32_t chunk_size() const noexcept { return chunk_size_; }  // tokens per chunk; 0 for .dat

 private:
  friend struct io::ImatrixParser;
  ImportanceMatrix() = default;

  std::filesystem::path path_;
  Kind kind_ = Kind::gguf;
  std::vector<std::string> names_;
  std::vector<std::size_t> begins_;        // where entry i's values start in values_
  std::vector<std::size_t> lengths_;
  std::vector<float> values_;
  std::vector<std::uint32_t> by_name_;     // entry indices sorted by name, for find()
  std::vector<std::string> datasets_;
  std::uint32_t chunks_ = 0;
  std::uint32_t chunk_size_ = 0;
};

}  // namespace qlinear
