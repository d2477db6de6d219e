// fp16 and bf16 conversions: round to nearest even, checked against the compiler's half type
// (_Float16 on x86, correctly rounded in software; on ARM __fp16, the IEEE half of the hardware's
// conversions, as g++ 12 knows no _Float16 in C++ there) and against the definition of bf16 rounding.
// Then the kernel table's row conversions at every level (the ARM ones use the native fcvtn/fcvtl)
// against these reference conversions, bit for bit.

#include "core/half.hpp"
#include "formats/registry.hpp"
#include "kernels/kernel_table.hpp"
#include "levels.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

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


// ---------------------------------------------------------------------------------------------
// The row conversions of the kernel table, every level

bool is_x86_level(Isa isa) { return isa == Isa::avx2 || isa == Isa::avxvnni || isa == Isa::avx512; }

// Floats that reach every path of a conversion to f16: every half's value, the midpoints between
// adjacent halves and their neighbours (ties and near-ties, subnormal halves included), the
// boundaries of overflow and underflow, infinities, NaNs of both signs with and without payload
// (quiet and signalling), and random bit patterns.
std::vector<float> conversion_inputs() {
  std::vector<float> x;
  for (std::uint32_t h = 0; h < 0x10000; ++h) x.push_back(fp16_to_fp32(static_cast<std::uint16_t>(h)));
  for (std::uint32_t h = 0; h < 0x7c00; ++h) {
    const float lo = fp16_to_fp32(static_cast<std::uint16_t>(h)), hi = fp16_to_fp32(static_cast<std::uint16_t>(h + 1));
    const float mid = static_cast<float>((static_cast<double>(lo) + hi) / 2);
    for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY)}) {
      x.push_back(f);
      x.push_back(-f);
    }
  }
  for (float f : {65504.0f, 65519.99f, 65520.0f, 1e30f, INFINITY, 0x1p-24f, 0x1p-25f, 0x1.8p-25f, 0x1p-149f,
                  0x1p-126f, 0.0f}) {
    x.push_back(f);
    x.push_back(-f);
  }
  for (std::uint32_t bits : {0x7fc00000u, 0x7f800001u, 0x7fa00000u, 0x7fffffffu, 0x7fc02000u, 0x7f802001u}) {
    x.push_back(std::bit_cast<float>(bits));
    x.push_back(std::bit_cast<float>(bits | 0x80000000u));
  }
  std::mt19937 rng(13);
  for (int i = 0; i < 300'000; ++i) x.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(rng())));
  return x;
}

// Runs a row function on x in rows of several lengths from unaligned addresses, so that every
// tail length of a vector loop is seen.
template <typename Row>
void in_rows(std::size_t n, Row&& row) {
  static constexpr std::size_t kLengths[] = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 1000, 4093};
  for (std::size_t at = 0, i = 0; at < n; ++i) {
    const std::size_t len = std::min(kLengths[i % std::size(kLengths)], n - at);
    row(at, len);
    at += len;
  }
}

// Every level's f16 narrowing against fp32_to_fp16, NaNs included: the ARM levels patch the
// native fcvtn's NaNs to the reference's bits. The x86 levels' F16C keeps a NaN's payload where the
// reference drops it; quantize() refuses NaN, so there only the quiet bit and the sign are checked.
TEST(HalfRows, EveryLevelNarrowsToTheReferenceBits) {
  const std::vector<float> x = conversion_inputs();
  for (Isa isa : test::supported_levels()) {
    const formats::QuantizeRowFn fn = kernels::kernel_table(isa).quantize_row[static_cast<std::size_t>(Format::f16)];
    if (fn == nullptr) continue;  // the reference itself
    SCOPED_TRACE(std::string(isa_name(isa)));
    std::vector<std::uint16_t> got(x.size() + 1, 0x5a5a);
    in_rows(x.size(), [&](std::size_t at, std::size_t len) { fn(x.data() + at, got.data() + at, len); });
    ASSERT_EQ(got[x.size()], 0x5a5a) << "wrote past the row";
    for (std::size_t i = 0; i < x.size(); ++i) {
      const std::uint16_t want = fp32_to_fp16(x[i]);
      const std::uint32_t bits = std::bit_cast<std::uint32_t>(x[i]);
      if (std::isnan(x[i]) && is_x86_level(isa)) {
        ASSERT_EQ(got[i] & 0xfe00u, want & 0xfe00u) << std::hex << bits;
      } else {
        ASSERT_EQ(got[i], want) << std::hex << "float bits " << bits;
      }
    }
  }
}

// Every level's f16 widening of all 65536 halves, signalling NaNs included (fcvtl would quiet
// them; the reference keeps them). x86's F16C quiets them too: checked there as NaNs only (the
// fused-quantize tests check the other halves on every level).
TEST(HalfRows, EveryLevelWidensEveryHalfToTheReferenceBits) {
  std::vector<std::uint16_t> halves(0x10000);
  for (std::uint32_t h = 0; h < 0x10000; ++h) halves[h] = static_cast<std::uint16_t>(h);
  for (Isa isa : test::supported_levels()) {
    SCOPED_TRACE(std::string(isa_name(isa)));
    const formats::DequantizeRowFn fn = kernels::kernel_table(isa).dequantize_row[static_cast<std::size_t>(Format::f16)];
    std::vector<float> got(halves.size());
    in_rows(halves.size(), [&](std::size_t at, std::size_t len) { fn(halves.data() + at, got.data() + at, len); });
    for (std::uint32_t h = 0; h < 0x10000; ++h) {
      const float want = fp16_to_fp32(static_cast<std::uint16_t>(h));
      if (std::isnan(want) && is_x86_level(isa)) {
        ASSERT_TRUE(std::isnan(got[h])) << std::hex << h;
      } else {
        ASSERT_EQ(std::bit_cast<std::uint32_t>(got[h]), std::bit_cast<std::uint32_t>(want)) << std::hex << h;
      }
    }
  }
}

TEST(HalfRows, EveryLevelRoundsToBfloat16AsTheReference) {
  const std::vector<float> x = conversion_inputs();
  for (Isa isa : test::supported_levels()) {
    const formats::QuantizeRowFn fn = kernels::kernel_table(isa).quantize_row[static_cast<std::size_t>(Format::bf16)];
    if (fn == nullptr) continue;
    SCOPED_TRACE(std::string(isa_name(isa)));
    std::vector<std::uint16_t> got(x.size());
    in_rows(x.size(), [&](std::size_t at, std::size_t len) { fn(x.data() + at, got.data() + at, len); });
    for (std::size_t i = 0; i < x.size(); ++i) {
      ASSERT_EQ(got[i], fp32_to_bf16(x[i])) << std::hex << std::bit_cast<std::uint32_t>(x[i]);
    }
  }
}

// quantize()'s check on every weight: one value at or above the limit (in magnitude, NaN above
// all) anywhere in a row of any length is found, and none is found where there is none.
TEST(HalfRows, EveryLevelFindsOutOfRangeValuesAsTheReference) {
  std::mt19937 rng(17);
  std::vector<float> row(300);
  for (float& v : row) v = std::bit_cast<float>(static_cast<std::uint32_t>(rng()) & 0x477fefffu);  // below 65520
  const std::uint32_t limit = 0x477ff000u;  // f16's: 65520 and above round to inf
  const float bad_values[] = {65520.0f, -65520.0f, INFINITY, -INFINITY, NAN, std::bit_cast<float>(0xff800001u)};
  for (Isa isa : test::supported_levels()) {
    SCOPED_TRACE(std::string(isa_name(isa)));
    const formats::OutOfRangeFn fn = kernels::kernel_table(isa).any_out_of_range;
    for (std::size_t n = 0; n <= 40; ++n) {
      for (std::size_t offset : {0, 1, 3}) {
        std::vector<float> x(row.begin() + static_cast<std::ptrdiff_t>(offset),
                             row.begin() + static_cast<std::ptrdiff_t>(offset + n));
        ASSERT_FALSE(fn(x.data(), n, limit)) << n;
        for (std::size_t at = 0; at < n; ++at) {
          const float saved = x[at];
          x[at] = bad_values[(at + n) % std::size(bad_values)];
          ASSERT_TRUE(fn(x.data(), n, limit)) << "n " << n << " at " << at;
          ASSERT_EQ(fn(x.data(), n, limit), formats::any_out_of_range_ref(x.data(), n, limit));
          x[at] = std::nextafter(65520.0f, 0.0f);  // the largest value below the limit
          ASSERT_FALSE(fn(x.data(), n, limit)) << "n " << n << " at " << at;
          x[at] = saved;
        }
      }
    }
  }
}

}  // namespace
}  // namespace qlinear::core
