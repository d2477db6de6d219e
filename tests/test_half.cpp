// fp16 and bf16 conversions: round to nearest even, checked against the compiler's half type
// (_Float16 on x86, correctly rounded in software; on ARM __fp16, the IEEE half of the hardware's
// conversions, as g++ 12 knows no _Float16 in C++ there) and against the definition of bf16 rounding.

#include "core/half.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>

namespace qlinear::core {
namespace {

#if defined(__aarch64__)
using CompilerHalf = __fp16;
#else
using CompilerHalf = _Float16;
#endif

std::uint16_t compiler_fp16(float f) {
  const CompilerHalf h = static_cast<CompilerHalf>(f);
  std::uint16_t bits;
  std::memcpy(&bits, &h, sizeof bits);
  return bits;
}

void expect_same_fp16(float f) {
  const std::uint16_t ours = fp32_to_fp16(f), theirs = compiler_fp16(f);
  if (std::isnan(f)) {
    EXPECT_EQ(ours & 0x7e00u, 0x7e00u) << "NaN must stay a quiet NaN";
  } else {
    ASSERT_EQ(ours, theirs) << "f = " << f << " bits " << std::hex << std::bit_cast<std::uint32_t>(f);
  }
}

TEST(Half, EveryHalfRoundTripsExactly) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const auto bits = static_cast<std::uint16_t>(h);
    const float f = fp16_to_fp32(bits);
    if (std::isnan(f)) continue;
    ASSERT_EQ(static_cast<float>(std::bit_cast<CompilerHalf>(bits)), f) << std::hex << h;
    ASSERT_EQ(fp32_to_fp16(f), bits) << std::hex << h;
  }
}

TEST(Half, MidpointsAndNeighboursRoundToNearestEven) {
  // For every pair of adjacent halves: their midpoint (a tie) and the floats just beside it.
  for (std::uint32_t h = 0; h < 0x7c00; ++h) {
    const float lo = fp16_to_fp32(static_cast<std::uint16_t>(h));
    const float hi = fp16_to_fp32(static_cast<std::uint16_t>(h + 1));
    const float mid = static_cast<float>((static_cast<double>(lo) + hi) / 2);  // exact in float
    for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY)}) {
      expect_same_fp16(f);
      expect_same_fp16(-f);
    }
  }
}

TEST(Half, RandomBitPatterns) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2'000'000; ++i) expect_same_fp16(std::bit_cast<float>(static_cast<std::uint32_t>(rng())));
}

TEST(Half, Specials) {
  EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bffu);
  EXPECT_EQ(fp32_to_fp16(65519.99f), 0x7bffu);
  EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00u);  // the tie rounds to even: Inf
  EXPECT_EQ(fp32_to_fp16(-INFINITY), 0xfc00u);
  EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000u);
  EXPECT_EQ(fp32_to_fp16(0x1p-24f), 0x0001u);   // smallest subnormal
  EXPECT_EQ(fp32_to_fp16(0x1p-25f), 0x0000u);   // half of it: tie to even (zero)
  EXPECT_EQ(fp32_to_fp16(0x1.8p-25f), 0x0001u);
  EXPECT_EQ(fp32_to_fp16(NAN) & 0x7e00u, 0x7e00u);
}

TEST(BFloat16, RoundsToNearestEvenOnTheDroppedBits) {
  std::mt19937 rng(11);
  for (int i = 0; i < 1'000'000; ++i) {
    const auto bits = static_cast<std::uint32_t>(rng());
    const float f = std::bit_cast<float>(bits);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(bf16_to_fp32(fp32_to_bf16(f))));
      continue;
    }
    // Round to nearest even by definition, in double: the two candidates and their distances.
    const std::uint32_t down = bits & 0xffff0000u;
    const float lo = std::bit_cast<float>(down);
    const float hi = std::bit_cast<float>(down + 0x10000u);  // may be Inf at the top: still right
    // Past the largest finite bf16 the upper candidate is Inf, which rounding treats as 2^128.
    const double upper = std::isinf(hi) ? std::copysign(std::ldexp(1.0, 128), f) : hi;
    const double dlo = std::fabs(static_cast<double>(f) - lo);
    const double dhi = std::fabs(upper - f);
    const bool round_up = dhi < dlo || (dhi == dlo && ((down >> 16) & 1u) == 1);
    const auto expected = static_cast<std::uint16_t>((round_up ? down + 0x10000u : down) >> 16);
    ASSERT_EQ(fp32_to_bf16(f), expected) << std::hex << bits;
  }
}

TEST(BFloat16, Specials) {
  EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80u);
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80u);  // tie, even stays
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82u);  // tie, odd rounds up
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x00000001u)), 0x0000u);  // subnormals round too
  EXPECT_EQ(fp32_to_bf16(std::bit_cast<float>(0x00018000u)), 0x0002u);
  EXPECT_EQ(bf16_to_fp32(0xc040u), -3.0f);
}

}  // namespace
}  // namespace qlinear::core
