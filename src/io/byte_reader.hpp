#pragma once
// A cursor over a file's bytes for parsers of hostile input: every read is checked against the end of
// the file first, and every failure is Error(malformed_file) naming the file, the byte offset and what
// was being read.

#include <qlinear/error.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace qlinear::io {

// "<file>: byte offset <offset>: <message>"
[[noreturn]] inline void throw_malformed(const std::filesystem::path& path, std::uint64_t offset,
                                         const std::string& message) {
  throw Error(ErrorCode::malformed_file,
              path.string() + ": byte offset " + std::to_string(offset) + ": " + message);
}

class ByteReader {
 public:
  ByteReader(std::span<const std::byte> bytes, const std::filesystem::path& path)
      : bytes_(bytes), path_(path) {}

  std::size_t offset() const noexcept { return offset_; }
  std::size_t remaining() const noexcept { return bytes_.size() - offset_; }
  std::size_t size() const noexcept { return bytes_.size(); }
  const std::filesystem::path& path() const noexcept { return path_; }

  [[noreturn]] void fail(const std::string& message) const { throw_malformed(path_, offset_, message); }
  [[noreturn]] void fail_at(std::uint64_t offset, const std::string& message) const {
    throw_malformed(path_, offset, message);
  }

  // The next n bytes; `what` names them in the error when the file ends first.
  std::span<const std::byte> take(std::uint64_t n, std::string_view what) {
    if (n > remaining()) {
      fail("truncated: " + std::string(what) + " needs " + std::to_string(n) + " bytes, but the file ends after " +
           std::to_string(remaining()));
    }
    const auto span = bytes_.subspan(offset_, static_cast<std::size_t>(n));
    offset_ += static_cast<std::size_t>(n);
    return span;
  }

  template <typename T>
  T read_le(std::string_view what) {
    static_assert(sizeof(T) <= 8);
    const auto span = take(sizeof(T), what);
    std::uint64_t v = 0;
    for (std::size_t i = sizeof(T); i-- > 0;) v = (v << 8) | static_cast<std::uint8_t>(span[i]);
    return static_cast<T>(v);
  }

  std::uint8_t u8(std::string_view what) { return read_le<std::uint8_t>(what); }
  std::uint16_t u16(std::string_view what) { return read_le<std::uint16_t>(what); }
  std::uint32_t u32(std::string_view what) { return read_le<std::uint32_t>(what); }
  std::uint64_t u64(std::string_view what) { return read_le<std::uint64_t>(what); }

 private:
  std::span<const std::byte> bytes_;
  const std::filesystem::path& path_;
  std::size_t offset_ = 0;
};

// Little-endian loads from bytes already bounds-checked by the caller (no alignment assumed).
inline std::uint16_t load_u16_le(const std::byte* p) noexcept {
  return static_cast<std::uint16_t>(static_cast<unsigned>(p[0]) | (static_cast<unsigned>(p[1]) << 8));
}
inline std::uint32_t load_u32_le(const std::byte* p) noexcept {
  return static_cast<std::uint32_t>(load_u16_le(p)) | (static_cast<std::uint32_t>(load_u16_le(p + 2)) << 16);
}

}  // namespace qlinear::io
