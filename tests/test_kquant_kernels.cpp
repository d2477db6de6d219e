// forward() on the K-quants and i-quants at every instruction-set level, on weights built from
// random but valid blocks: random codes and sub-scales (every 6-bit scale and min value, every
// q6_K scale from −128 to 127, codes the quantizers rarely or never choose) and small finite fp16
// d/dmin of both signs. Checked against q8(x)·dequantize(W)ᵀ + b in double with the tolerance the
// other forward tests derive (test::check_forward), on shapes whose width is not a multiple of 256
// (padding inside a super-block), and bit for bit across thread counts.

#include "kernels/forward.hpp"
#include "kernels/packed.hpp"
#include "levels.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <random>

namespace qlinear {
namespace {

constexpr Format kNewFormats[] = {Format::q2_K, Format::q3_K, Format::q4_K, Format::q5_K,
                                  Format::q6_K, Format::iq4_nl, Format::iq4_xs};

using test::supported_levels;

// Byte offsets of the fp16 fields (d, and dmin where the format has one) in one block.
std::vector<std::size_t> half_fields(Format f) {
  switch (f) {
    case Format::q2_K: return {offsetof(formats::block_q2_K, d), offsetof(formats::block_q2_K, dmin)};
    case Format::q3_K: return {offsetof(formats::block_q3_K, d)};
    case Format::q4_K: return {offsetof(formats::block_q4_K, d), offsetof(formats::block_q4_K, dmin)};
    case Format::q5_K: return {offsetof(formats::block_q5_K, d), offsetof(formats::block_q5_K, dmin)};
    case Format::q6_K: return {offsetof(formats::block_q6_K, d)};
    case Format::iq4_nl: return {offsetof(formats::block_iq4_nl, d)};
    case Format::iq4_xs: return {offsetof(formats::block_iq4_xs, d)};
    default: return {};
  }
}

// Every byte random, then each d/dmin replaced by an fp16 of magnitude 2^-12 .. 2^-4 (either sign,
// some subnormal-free exact powers of two among them), so that the outputs stay small.
QuantizedTensor random_blocks(Format f, std::size_t rows, std::size_t cols, std::uint64_t seed) {
  const FormatInfo& info = format_info(f);
  const std::size_t padded = (cols + info.row_alignment - 1) / info.row_alignment * info.row_alignment;
  const std::size_t blocks = rows * padded / info.block_size;
  std::vector<std::byte> bytes(blocks * info.block_bytes);
  std::mt19937_64 rng(seed);
  for (std::byte& b : bytes) b = static_cast<std::byte>(rng() & 0xff);
  std::uniform_real_distribution<float> magnitude(-12.0f, -4.0f);
  for (std::size_t b = 0; b < blocks; ++b) {
    for (std::size_t at : half_fields(f)) {
      float v = std::exp2(magnitude(rng));
      if (rng() % 8 == 0) v = std::exp2(std::round(magnitude(rng)));
      if (rng() % 2) v = -v;
      const std::uint16_t h = core::fp32_to_fp16(v);
      std::memcpy(bytes.data() + b * info.block_bytes + at, &h, 2);
    }
  }
  return QuantizedTensor::from_blocks(f, rows, cols, bytes);
}

struct IsaScope {
  explicit IsaScope(Isa isa) : saved(active_isa()) { set_isa(isa); }
  ~IsaScope() { set_isa(saved); }
  Isa saved;
};

struct ThreadsScope {
  explicit ThreadsScope(std::size_t n) { set_num_threads(n); }
  ~ThreadsScope() { set_num_threads(0); }
};

TEST(KQuantKernels, RandomBlocksMatchTheQuantizedProductAtEveryLevel) {
  for (Format f : kNewFormats) {
    for (std::size_t in : {32, 100, 256, 301, 520}) {
      for (std::size_t out : {1, 9, 17, 40}) {
        const QuantizedTensor q = random_blocks(f, out, in, in * 131 + out);
        const auto bias = test::gaussian(out, out + 1);
        const std::span<const float> b = out % 2 ? std::span<const float>(bias) : std::span<const float>();
        const auto layer = QuantizedLinear::from_quantized(q, b);
        for (std::size_t batch = 1; batch <= 17; ++batch) {
          if (in * out * batch > 40000 && batch % 4 != 1) continue;  // keep the sweep quick
          const auto x = test::gaussian(batch * in, batch * 7 + in);
          const auto check = test::check_forward(layer, x, batch);
          for (Isa isa : supported_levels()) {
            const IsaScope scope(isa);
            for (std::size_t threads : {1, 3}) {
              const ThreadsScope t(threads);
              const auto y = layer.forward(x, batch);
              for (std::size_t i = 0; i < y.size(); ++i) {
                ASSERT_NEAR(y[i], check.expected[i], check.tolerance[i])
                    << format_name(f) << " " << isa_name(isa) << " threads=" << threads << " in=" << in
                    << " out=" << out << " batch=" << batch << " output " << i;
              }
            }
          }
        }
      }
    }
  }
}

// Extreme codes and scales against extreme activations (every x of a block at the same ±127): the integer
// sums reach their bounds (q6_K: 32 · 4096 · 127 < 2^24), and must still be exact.
TEST(KQuantKernels, ExtremeBlocksStayWithinTheBound) {
  for (Format f : kNewFormats) {
    const FormatInfo& info = format_info(f);
    const std::size_t rows = 16, cols = 512, blocks = rows * cols / info.block_size;
    std::vector<std::byte> bytes(blocks * info.block_bytes);
    for (std::size_t b = 0; b < blocks; ++b) {
      std::byte* blk = bytes.data() + b * info.block_bytes;
      // All code bits set (largest codes), or all clear with q6_K's −128 scales (0x80 bytes).
      std::memset(blk, b % 2 ? 0xff : 0x80, info.block_bytes);
      for (std::size_t at : half_fields(f)) {
        const std::uint16_t h = core::fp32_to_fp16(b % 3 ? 0.0625f : -0.03125f);
        std::memcpy(blk + at, &h, 2);
      }
    }
    const auto layer = QuantizedLinear::from_quantized(QuantizedTensor::from_blocks(f, rows, cols, bytes), {});
    std::vector<float> x(3 * cols);
    // Not symmetric across a super-block, so that an error in an offset or a min cannot cancel.
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = (i / 32) % 3 == 1 ? -127.0f : 127.0f;
    const auto check = test::check_forward(layer, x, 3);
    for (Isa isa : supported_levels()) {
      const IsaScope scope(isa);
      const auto y = layer.forward(x, 3);
      for (std::size_t i = 0; i < y.size(); ++i) {
        ASSERT_NEAR(y[i], check.expected[i], check.tolerance[i])
            << format_name(f) << " " << isa_name(isa) << " output " << i;
      }
    }
  }
}

// Every output is computed by one thread in one order: 1, 2, 3 and 5 threads give the same bits,
// for the GEMV and for batches cut into several activation tile groups.
TEST(KQuantKernels, BitIdenticalAcrossThreadCounts) {
  for (Format f : kNewFormats) {
    const std::size_t in = 777, out = 203;
    const QuantizedTensor q = random_blocks(f, out, in, 42);
    const auto layer = QuantizedLinear::from_quantized(q, test::gaussian(out, 43));
    for (std::size_t batch : {1, 70}) {
      const auto x = test::gaussian(batch * in, batch);
      for (Isa isa : supported_levels()) {
        const IsaScope scope(isa);
        std::vector<float> first;
        for (std::size_t threads : {1, 2, 3, 5}) {
          const ThreadsScope t(threads);
          const auto y = layer.forward(x, batch);
          if (first.empty()) {
            first = y;
            continue;
          }
          ASSERT_EQ(y, first) << format_name(f) << " " << isa_name(isa) << " batch " << batch << ", " << threads
                              << " threads";
        }
      }
    }
  }
}

}  // namespace
}  // namespace qlinear
