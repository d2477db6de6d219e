// libFuzzer target: GGUF bytes → GgufFile. Any input must give a GgufFile or a qlinear::Error; a
// crash, a sanitizer report, another exception, a hang or an allocation over the fuzzer's limit is a
// bug. Files that open are also read back (metadata shown, every tensor viewed and dequantized).

#include "io/gguf_parser.hpp"

#include <qlinear/gguf.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
  try {
    const qlinear::GgufFile file =
        qlinear::io::GgufParser::parse(qlinear::io::MappedFile::from_bytes("fuzz.gguf", std::move(bytes)));
    for (const auto& [key, value] : file.metadata()) (void)value.to_display_string(4, 64);
    for (const auto& info : file.tensors()) {
      (void)file.tensor_data(info);
      if (info.format()) {
        (void)file.tensor_f32(info.name);
        (void)file.tensor(info.name);
      }
    }
  } catch (const qlinear::Error&) {
  }
  return 0;
}
