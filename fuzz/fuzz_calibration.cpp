// libFuzzer target: calibration-file bytes (activations as safetensors or GGUF, or qlinear's
// statistics GGUF) → CalibrationFile (see fuzz_gguf.cpp for what counts as a bug). Files that open
// have every entry's statistics made, which reads and checks all of their values.

#include "model/calibration_parser.hpp"

#include <qlinear/error.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
  try {
    const auto file = qlinear::model::CalibrationParser::parse(
        qlinear::io::MappedFile::from_bytes("fuzz.calibration", std::move(bytes)));
    for (const auto& name : file.names()) {
      const qlinear::Calibration c = file.calibration(name);
      // The reader promises finite statistics of the declared width and rows.
      if (c.in_features() != file.in_features(name) || c.rows() != file.rows(name)) __builtin_trap();
      for (double v : c.xtx()) {
        if (!std::isfinite(v)) __builtin_trap();
      }
    }
  } catch (const qlinear::Error&) {
  }
  return 0;
}
