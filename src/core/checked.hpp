#pragma once
// Checked size arithmetic for sizes that come from callers or files.

#include <qlinear/error.hpp>

#include <cstddef>
#include <string>

namespace qlinear::core {

// a·b, or Error(invalid_argument) naming `what` when the product does not fit in size_t.
inline std::size_t checked_mul(std::size_t a, std::size_t b, const char* what) {
  std::size_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) {
    throw Error(ErrorCode::invalid_argument, std::string(what) + ": " + std::to_string(a) + " × " +
                                                 std::to_string(b) + " overflows");
  }
  return product;
}

inline std::size_t checked_add(std::size_t a, std::size_t b, const char* what) {
  std::size_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) {
    throw Error(ErrorCode::invalid_argument, std::string(what) + ": " + std::to_string(a) + " + " +
                                                 std::to_string(b) + " overflows");
  }
  return sum;
}

constexpr std::size_t round_up(std::size_t n, std::size_t multiple) noexcept {
  return (n + multiple - 1) / multiple * multiple;
}

}  // namespace qlinear::core
