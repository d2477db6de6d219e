#pragma once
// The rounding the K-quant and i-quant searches use, as ggml defines it: add 1.5·2^23 so that the
// float's mantissa holds the integer, rounded to nearest with ties to even by the addition itself.
// Valid for |x| <= 2^22; callers only pass scaled weights far inside that range.

#include <cstdint>
#include <cstring>

namespace qlinear::formats {

inline int nearest_int(float x) noexcept {
  const float shifted = x + 12582912.0f;
  std::int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  return (bits & 0x007fffff) - 0x00400000;
}

}  // namespace qlinear::formats
