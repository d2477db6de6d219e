#pragma once
// IEEE binary16 and bfloat16 conversions, round-to-nearest-even, written with integer operations so
// that every build and ISA gives the same bits (ggml's reference conversions round the same way).

#include <bit>
#include <cstdint>

namespace qlinear::core {

inline std::uint16_t fp32_to_fp16(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  const std::uint32_t sign = (bits >> 16) & 0x8000u;
  const std::uint32_t mag = bits & 0x7fffffffu;
  if (mag > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);  // NaN: quiet, no payload
  if (mag >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to Inf
  if (mag >= 0x38800000u) {  // a normal half: rebias the exponent, round 13 dropped mantissa bits
    std::uint32_t h = (mag >> 13) - (112u << 10);
    const std::uint32_t rest = mag & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is right
    return static_cast<std::uint16_t>(sign | h);
  }
  // Below 2^-14: a half subnormal k·2^-24. The float is m·2^(e−23) with the implicit bit in m, so
  // k = m·2^(e+1) = m >> shift, rounded to nearest even on the bits shifted out.
  const int exponent = static_cast<int>(mag >> 23) - 127;
  const int shift = -(exponent + 1);
  if (shift > 24) return static_cast<std::uint16_t>(sign);  // below half of 2^-24
  const std::uint32_t mant = (mag & 0x7fffffu) | 0x800000u;
  std::uint32_t k = mant >> shift;
  const std::uint32_t rest = mant & ((1u << shift) - 1u);
  const std::uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (k & 1u))) ++k;  // k = 0x400 is the smallest normal: still right
  return static_cast<std::uint16_t>(sign | k);
}

inline float fp16_to_fp32(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  const std::uint32_t mant = h & 0x3ffu;
  if (exponent == 0) {
    const float magnitude = static_cast<float>(mant) * 0x1p-24f;  // exact: mant < 2^10
    return std::bit_cast<float>(std::bit_cast<std::uint32_t>(magnitude) | sign);
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mant << 13));
}

inline std::uint16_t fp32_to_bf16(float value) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  return static_cast<std::uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

inline float bf16_to_fp32(std::uint16_t h) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16);
}

}  // namespace qlinear::core
