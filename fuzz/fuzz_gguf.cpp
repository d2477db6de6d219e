// libFuzzer target: GGUF bytes → GgufFile. Any input must give a GgufFile or a qlinear::Error; a
// crash, a sanitizer report, another exception, a hang or an allocation over the fuzzer's limit is a
// bug. Files that open are also read back (metadata shown, arrays taken apart and made again, every
// tensor viewed and dequantized).

#include "io/gguf_parser.hpp"

#include <qlinear/gguf.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

// An array's elements make the same array again (the reader's compact layout and the factory's agree),
// and so do its arrays' elements. Arrays of more than 4096 elements are left to the tests.
void check_array(const qlinear::GgufValue& value) {
  if (value.type() != qlinear::GgufValueType::array || value.array_size() > 4096) return;
  const std::vector<qlinear::GgufValue> elements = value.as_array();
  if (!(qlinear::GgufValue::array(value.element_type(), elements) == value)) __builtin_trap();
  for (const qlinear::GgufValue& e : elements) check_array(e);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
  try {
    const qlinear::GgufFile file =
        qlinear::io::GgufParser::parse(qlinear::io::MappedFile::from_bytes("fuzz.gguf", std::move(bytes)));
    for (const auto& [key, value] : file.metadata()) {
      (void)value.to_display_string(4, 64);
      check_array(value);
    }
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
