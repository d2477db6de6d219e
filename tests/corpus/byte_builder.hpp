#pragma once
// Builds files byte by byte, so that tests and the malformed corpus can make exactly the bytes the
// formats describe (and break them on purpose) without going through qlinear's own writers.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace qlinear::test {

class ByteBuilder {
 public:
  template <typename U>
  ByteBuilder& le(U value) {
    auto v = static_cast<std::uint64_t>(value);
    for (std::size_t i = 0; i < sizeof(U); ++i, v >>= 8) bytes_.push_back(static_cast<std::byte>(v & 0xff));
    return *this;
  }
  ByteBuilder& u8(std::uint8_t v) { return le(v); }
  ByteBuilder& u16(std::uint16_t v) { return le(v); }
  ByteBuilder& u32(std::uint32_t v) { return le(v); }
  ByteBuilder& u64(std::uint64_t v) { return le(v); }
  ByteBuilder& f32(float v) { return le(std::bit_cast<std::uint32_t>(v)); }
  ByteBuilder& f64(double v) { return le(std::bit_cast<std::uint64_t>(v)); }
  ByteBuilder& raw(std::string_view s) {
    for (char c : s) bytes_.push_back(static_cast<std::byte>(c));
    return *this;
  }
  ByteBuilder& raw(const std::vector<std::byte>& b) {
    bytes_.insert(bytes_.end(), b.begin(), b.end());
    return *this;
  }
  ByteBuilder& repeat(std::uint8_t value, std::size_t count) {
    bytes_.insert(bytes_.end(), count, static_cast<std::byte>(value));
    return *this;
  }
  ByteBuilder& pad_to(std::size_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(std::byte{0});
    return *this;
  }
  // A GGUF string: u64 length, then the bytes.
  ByteBuilder& gguf_string(std::string_view s) { return u64(s.size()).raw(s); }

  std::size_t size() const noexcept { return bytes_.size(); }
  std::vector<std::byte>& bytes() noexcept { return bytes_; }
  std::vector<std::byte> take() { return std::move(bytes_); }

 private:
  std::vector<std::byte> bytes_;
};

}  // namespace qlinear::test
