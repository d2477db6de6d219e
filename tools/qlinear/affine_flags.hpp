#pragma once
// The affine-quantization flags shared by the commands that quantize.

#include <qlinear/tensor.hpp>

#include <CLI/CLI.hpp>

#include <string>

namespace qlinear::cli {

struct AffineFlags {
  bool asymmetric = false;
  std::string granularity = "channel";
  std::size_t group_size = 0;
  std::string calibration = "minmax";
  double percentile = 99.99;

  // With calibration_file, --calibration takes a calibration data file into it (and still the
  // deprecated clipping rule names); without, only the deprecated clipping rule names.
  void add_to(CLI::App& cmd, std::string* calibration_file = nullptr);
  void set_deprecated_clip(const std::string& rule);
  AffineOptions options() const;  // Error(invalid_argument) on a bad combination
  std::string describe() const;   // e.g. "sym, channel, minmax"
};

}  // namespace qlinear::cli
