// libFuzzer target: importance-matrix bytes (GGUF or legacy .dat) → ImportanceMatrix (see
// fuzz_gguf.cpp for what counts as a bug). Files that open have every entry looked up and checked.

#include "io/imatrix_parser.hpp"

#include <qlinear/imatrix.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
  try {
    const auto m = qlinear::io::ImatrixParser::parse(qlinear::io::MappedFile::from_bytes("fuzz.imatrix", std::move(bytes)));
    for (const auto& name : m.names()) {
      // The reader promises finite values >= 0 (QuantizeOptions::importance requires them).
      const auto values = m.find(name);  // kept: a range-for over *m.find(name) would outlive it
      for (float v : *values) {
        if (!std::isfinite(v) || v < 0.0f) __builtin_trap();
      }
    }
  } catch (const qlinear::Error&) {
  }
  return 0;
}
