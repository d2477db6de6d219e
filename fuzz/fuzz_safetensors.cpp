// libFuzzer target: safetensors bytes → SafetensorsFile (see fuzz_gguf.cpp for what counts as a bug).

#include "io/safetensors_parser.hpp"

#include <qlinear/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
  try {
    const qlinear::SafetensorsFile file = qlinear::io::SafetensorsParser::parse(
        qlinear::io::MappedFile::from_bytes("fuzz.safetensors", std::move(bytes)));
    for (const auto& info : file.tensors()) {
      (void)file.tensor_data(info);
      if (info.dtype == "F32" || info.dtype == "F16" || info.dtype == "BF16") (void)file.read_f32(info.name);
    }
  } catch (const qlinear::Error&) {
  }
  return 0;
}
