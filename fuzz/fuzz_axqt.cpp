// libFuzzer target: AXQT bytes → AxqtFile (see fuzz_gguf.cpp for what counts as a bug).

#include "io/axqt_parser.hpp"

#include <qlinear/axqt.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
  try {
    (void)qlinear::io::AxqtParser::parse(qlinear::io::MappedFile::from_bytes("fuzz.axonml", std::move(bytes)));
  } catch (const qlinear::Error&) {
  }
  return 0;
}
