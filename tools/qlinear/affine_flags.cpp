#include "affine_flags.hpp"

#include <qlinear/error.hpp>

#include <filesystem>
#include <iostream>

namespace qlinear::cli {

namespace {
bool is_clip_rule(const std::string& value) { return value == "minmax" || value == "percentile" || value == "mse"; }
}  // namespace

void AffineFlags::set_deprecated_clip(const std::string& rule) {
  std::cerr << "qlinear: --calibration " << rule << " is deprecated; use --clip " << rule << "\n";
  calibration = rule;
}

void AffineFlags::add_to(CLI::App& cmd, std::string* calibration_file) {
  cmd.add_flag("--asymmetric", asymmetric, "i8/i4: asymmetric codes with a zero point (default symmetric)");
  cmd.add_option("--granularity", granularity, "i8/i4: one scale per tensor, channel (row) or group")
      ->check(CLI::IsMember({"tensor", "channel", "group"}))
      ->capture_default_str();
  cmd.add_option("--group-size", group_size,
                 "i8/i4: inputs per scale with --granularity group (multiple of 8; default 32)");
  cmd.add_option("--clip", calibration, "i8/i4: clipping range by minmax, percentile or mse search")
      ->check(CLI::IsMember({"minmax", "percentile", "mse"}))
      ->capture_default_str();
  // The clipping rule's former name, still accepted for existing scripts. Where the command takes a
  // calibration data file under that name (calibration_file), a clipping rule's name that is not an
  // existing file is still read as the rule, with the same notice.
  if (calibration_file == nullptr) {
    cmd.add_option_function<std::string>(
           "--calibration", [this](const std::string& rule) { set_deprecated_clip(rule); },
           "deprecated name of --clip")
        ->check(CLI::IsMember({"minmax", "percentile", "mse"}))
        ->group("");
  } else {
    cmd.add_option_function<std::string>(
           "--calibration",
           [this, calibration_file](const std::string& value) {
             if (is_clip_rule(value)) {
               set_deprecated_clip(value);
             } else {
               *calibration_file = value;
             }
           },
           "calibration data: activations (safetensors/GGUF, each weight's inputs [rows, in] under its name) "
           "or statistics from `qlinear calibrate` (the old --clip spelling --calibration mse still works)")
        ->check(CLI::Validator(
            [](std::string& value) -> std::string {
              std::error_code ec;
              const bool exists = std::filesystem::exists(value, ec);
              if (is_clip_rule(value) && exists) {
                return "'" + value + "' is both a file and a clipping rule: write --clip " + value +
                       " or --calibration ./" + value;
              }
              if (!is_clip_rule(value) && !exists) return "calibration file not found: " + value;
              return {};
            },
            "FILE"));
  }
  cmd.add_option("--percentile", percentile, "i8/i4: p for --clip percentile, in (50, 100]")
      ->capture_default_str();
}

AffineOptions AffineFlags::options() const {
  AffineOptions o;
  o.symmetric = !asymmetric;
  if (granularity == "tensor") {
    o.granularity = AffineOptions::Granularity::tensor;
  } else if (granularity == "group") {
    o.granularity = AffineOptions::Granularity::group;
    o.group_size = group_size == 0 ? 32 : group_size;
  } else {
    o.granularity = AffineOptions::Granularity::channel;
  }
  if (group_size != 0 && o.granularity != AffineOptions::Granularity::group) {
    throw Error(ErrorCode::invalid_argument, "--group-size needs --granularity group");
  }
  if (calibration == "percentile") {
    o.calibration = AffineOptions::Calibration::percentile;
  } else if (calibration == "mse") {
    o.calibration = AffineOptions::Calibration::mse;
  } else {
    o.calibration = AffineOptions::Calibration::minmax;
  }
  o.percentile = percentile;
  return o;
}

std::string AffineFlags::describe() const {
  const AffineOptions o = options();
  std::string s = o.symmetric ? "sym" : "asym";
  s += o.granularity == AffineOptions::Granularity::group ? ", group " + std::to_string(o.group_size)
                                                          : ", " + granularity;
  s += ", " + calibration;
  return s;
}

}  // namespace qlinear::cli
