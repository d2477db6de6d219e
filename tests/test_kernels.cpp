// The kernels at every instruction-set level this CPU supports: activation quantization and the
// block quantizers byte for byte against the reference quantizers; forward() against
// q8(x)·dequantize(W)ᵀ in double over a shape sweep; exact integer results where no float rounding
// can occur; misaligned buffers.

#include "formats/blocks.hpp"
#include "formats/registry.hpp"
#include "kernels/forward.hpp"
#include "kernels/gemm_ref.hpp"
#include "kernels/kernel_table.hpp"
#include "kernels/scalar_kernels.hpp"
#include "levels.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>

namespace qlinear {

void PrintTo(Isa isa, std::ostream* os) { *os << isa_name(isa); }

namespace {

using test::supported_levels;

std::string level_name(const ::testing::TestParamInfo<Isa>& p) { return std::string(isa_name(p.param)); }

// Restores the level in use when a test ends.
struct IsaScope {
  explicit IsaScope(Isa isa) : saved(active_isa()) { set_isa(isa); }
  ~IsaScope() { set_isa(saved); }
  Isa saved;
};

// Rows that stress the quantizers' rounding and tie rules: random scales from subnormal to huge,
// exact ties (x/d = k + 0.5), zeros of both signs, equal magnitudes of opposite sign.
std::vector<float> adversarial_rows(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> x = test::gaussian(rows * cols, seed);
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = x.data() + r * cols;
    switch (r % 8) {
      case 0: break;
      case 1:  // scales across the float range (d overflows fp16 at the top, is subnormal at the bottom)
        for (std::size_t c = 0; c < cols; ++c) row[c] *= std::ldexp(1.0f, static_cast<int>(r % 40) * 4 - 100);
        break;
      case 2:  // max 127 so d = 1: half-integers are exact ties, and their neighbours must not round up
        for (std::size_t c = 0; c < cols; ++c) {
          const float half = static_cast<float>(static_cast<int>(rng() % 253) - 126) + 0.5f;
          const int pick = static_cast<int>(rng() % 3);
          row[c] = pick == 0 ? half : std::nextafter(half, pick == 1 ? 0.0f : 1000.0f);
        }
        for (std::size_t c = 0; c < cols; c += 32) {  // in every block: d = 1 and the hardest neighbours
          row[c] = 127;
          if (c + 2 < cols) row[c + 1] = std::nextafter(0.5f, 0.0f), row[c + 2] = -std::nextafter(0.5f, 0.0f);
        }
        break;
      case 3:  // zeros of both signs, whole blocks of them
        for (std::size_t c = 0; c < cols; ++c) row[c] = (rng() % 2) ? -0.0f : 0.0f;
        break;
      case 4:  // a few zeros among positives (the minimum is a zero)
        for (std::size_t c = 0; c < cols; ++c) row[c] = (rng() % 3) ? std::fabs(row[c]) : ((rng() % 2) ? -0.0f : 0.0f);
        break;
      case 5:  // equal extremes of both signs: the first one decides q4_0's sign
        for (std::size_t c = 0; c < cols; ++c) row[c] = (rng() % 5 == 0) ? ((rng() % 2) ? 3.0f : -3.0f) : row[c];
        break;
      case 6:  // a few zeros among negatives (the maximum is a zero)
        for (std::size_t c = 0; c < cols; ++c) row[c] = (rng() % 3) ? -std::fabs(row[c]) : ((rng() % 2) ? -0.0f : 0.0f);
        break;
      case 7:  // small integers: many equal values and ties
        for (std::size_t c = 0; c < cols; ++c) row[c] = static_cast<float>(static_cast<int>(rng() % 9) - 4);
        break;
    }
  }
  return x;
}

class Kernels : public ::testing::TestWithParam<Isa> {};

TEST_P(Kernels, ActivationQuantizationReproducesTheQ8Reference) {
  const kernels::KernelTable& k = kernels::kernel_table(GetParam());
  for (std::size_t cols : {1, 5, 31, 32, 33, 64, 100, 257}) {
    const std::size_t rows = 16, blocks = (cols + 31) / 32;
    const auto x = adversarial_rows(rows, cols, cols);
    for (std::size_t r = 0; r < rows; ++r) {
      // One row into a tile record of 3 rows at slot 1: the strides and offsets must be honoured.
      const std::size_t tile_rows = 3, record = kernels::act_record_bytes(tile_rows);
      std::vector<std::byte> tile(blocks * record, std::byte{0x5a});
      const kernels::ActivationRowOut out{
          reinterpret_cast<std::int8_t*>(tile.data() + 32),
          reinterpret_cast<float*>(tile.data() + kernels::act_scale_offset(tile_rows) + 4),
          reinterpret_cast<std::int32_t*>(tile.data() + kernels::act_sum_offset(tile_rows) + 4),
          reinterpret_cast<float*>(tile.data() + kernels::act_scaled_sum_offset(tile_rows) + 4),
          reinterpret_cast<std::int16_t*>(tile.data() + kernels::act_half_sums_offset(tile_rows) + 4), record};
      k.quantize_activation_row(x.data() + r * cols, cols, blocks, out);

      std::vector<float> padded(blocks * 32, 0.0f);
      std::copy_n(x.begin() + static_cast<std::ptrdiff_t>(r * cols), cols, padded.begin());
      std::vector<formats::block_q8_0> ref(blocks);
      std::vector<formats::block_q8_1> ref1(blocks);
      formats::quantize_row_q8_0_ref(padded.data(), ref.data(), padded.size());
      formats::quantize_row_q8_1_ref(padded.data(), ref1.data(), padded.size());
      for (std::size_t b = 0; b < blocks; ++b) {
        const std::byte* rec = tile.data() + b * record;
        ASSERT_EQ(std::memcmp(rec + 32, ref[b].qs, 32), 0) << "cols " << cols << " row " << r << " block " << b;
        ASSERT_EQ(std::memcmp(ref[b].qs, ref1[b].qs, 32), 0);  // q8_1 has the same codes and d
        float d, scaled;
        std::int32_t sum;
        std::memcpy(&d, rec + kernels::act_scale_offset(tile_rows) + 4, 4);
        std::memcpy(&sum, rec + kernels::act_sum_offset(tile_rows) + 4, 4);
        std::memcpy(&scaled, rec + kernels::act_scaled_sum_offset(tile_rows) + 4, 4);
        ASSERT_EQ(core::fp32_to_fp16(d), ref[b].d) << "cols " << cols << " row " << r << " block " << b;
        ASSERT_EQ(core::fp16_to_fp32(ref[b].d), d);
        std::int32_t expected_sum = 0;
        for (std::int8_t q : ref[b].qs) expected_sum += q;
        ASSERT_EQ(sum, expected_sum);
        std::int16_t halves[2];
        std::memcpy(halves, rec + kernels::act_half_sums_offset(tile_rows) + 4, 4);
        std::int32_t first_half = 0;
        for (int i = 0; i < 16; ++i) first_half += ref[b].qs[i];
        ASSERT_EQ(halves[0], first_half) << "cols " << cols << " row " << r << " block " << b;
        ASSERT_EQ(halves[1], expected_sum - first_half);
        ASSERT_EQ(scaled, d * static_cast<float>(expected_sum));  // exact: 11 × 12 significant bits
        ASSERT_EQ(static_cast<double>(scaled), static_cast<double>(d) * expected_sum);
        // The other slots of the record are untouched.
        ASSERT_EQ(rec[0], std::byte{0x5a});
        ASSERT_EQ(rec[64], std::byte{0x5a});
      }
    }
  }
}

TEST_P(Kernels, BlockQuantizersReproduceTheReferenceBytes) {
  const kernels::KernelTable& k = kernels::kernel_table(GetParam());
  for (Format f : {Format::f16, Format::bf16, Format::q8_0, Format::q8_1, Format::q4_0, Format::q4_1,
                   Format::q5_0, Format::q5_1}) {
    const formats::FormatTraits& t = formats::traits(f);
    const formats::QuantizeRowFn fast = k.quantize_row[static_cast<std::size_t>(f)];
    if (fast == nullptr) continue;  // this level uses the reference itself
    const std::size_t cols = 32 * 7, rows = 64;
    auto x = adversarial_rows(rows, cols, 99);
    if (f == Format::f16) {
      for (float& v : x) v = std::fmin(std::fmax(v, -65504.0f), 65504.0f);  // quantize() refuses the rest
    }
    const std::size_t bytes = formats::padded_row_bytes(t.info, cols);
    for (std::size_t r = 0; r < rows; ++r) {
      std::vector<std::byte> got(bytes), want(bytes);
      fast(x.data() + r * cols, got.data(), cols);
      t.quantize_row_ref(x.data() + r * cols, want.data(), cols);
      for (std::size_t i = 0; i < bytes; ++i) ASSERT_EQ(got[i], want[i]) << t.info.name << " row " << r << " byte " << i;
    }
  }
}

// Rows for the K-quant searches (super-blocks of 256): typical weights, magnitudes across the
// whole float range (subnormal inputs, an fp16 super-scale that underflows or overflows, x² that
// overflows), sub-blocks far smaller than their block's largest (sub-scales that round to 0),
// negligible and all-zero sub-blocks, and values that tie: half-integers that round exactly
// halfway, small integers whose candidate scales often give equal error reductions, equal
// magnitudes of opposite sign.
std::vector<float> kquant_rows(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<float> x = test::gaussian(rows * cols, seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = x.data() + r * cols;
    const auto each = [&](auto&& f) { for (std::size_t c = 0; c < cols; ++c) row[c] = f(c, row[c]); };
    switch (r % 12) {
      case 0: break;
      case 1: each([&](std::size_t, float) { return uniform(rng); }); break;
      case 2: {  // 2^-150 … 2^118: subnormals and zeros at the bottom, x² = inf at the top
        const int e = static_cast<int>((r / 12) % 68) * 4 - 150;
        each([&](std::size_t, float v) { return std::ldexp(v, e); });
        break;
      }
      case 3:  // outliers of 10 … 10^6 at random places, and subnormals among ordinary values
        each([&](std::size_t, float v) {
          if (pick(31) == 0) return v * 1e-40f;
          return pick(97) == 0 ? v * std::pow(10.0f, static_cast<float>(1 + pick(6))) : v;
        });
        break;
      case 4: {  // one sub-block per block 50 … 1000 times larger: the others' sub-scales round low or to 0
        const float big = static_cast<float>(50 + pick(950));
        const std::size_t chosen = static_cast<std::size_t>(pick(16));
        each([&](std::size_t c, float v) { return (c / 16) % 16 == chosen ? v * big : v; });
        break;
      }
      case 5:  // half-integers with an extreme of ±32 in each sub-block: the first candidate's
               // inverse scale is ∓1, so every value rounds from exactly halfway
        each([&](std::size_t c, float) {
          if (c % 16 == static_cast<std::size_t>(r / 12) % 16) return pick(2) ? 32.0f : -32.0f;
          return static_cast<float>(pick(63) - 32) + 0.5f;
        });
        break;
      case 6: each([&](std::size_t, float) { return static_cast<float>(pick(9) - 4); }); break;
      case 7: each([&](std::size_t, float v) { return pick(3) == 0 ? (pick(2) ? 3.0f : -3.0f) : v; }); break;
      case 8:  // sparse: most sub-blocks all zero (of both signs)
        each([&](std::size_t c, float v) {
          const bool live = ((c / 16) * 2654435761u + r) % 5 == 0;
          return live ? v : (pick(2) ? -0.0f : 0.0f);
        });
        break;
      case 9:  // around the negligible-group threshold 1e-15
        each([&](std::size_t c, float v) { return v * ((c / 16) % 3 == 0 ? 1e-16f : (c / 16) % 3 == 1 ? 4e-16f : 1e-14f); });
        break;
      case 10:  // large enough that the fp16 super-scale overflows (inf·0 and x/inf on the way)
        each([&](std::size_t c, float v) { return v * ((c / 16) % 4 == 0 ? 1e9f : 1e6f); });
        break;
      case 11:  // constant sub-blocks and ramps
        each([&](std::size_t c, float) {
          return (c / 16) % 2 ? 0.25f * static_cast<float>((c / 16) % 7) - 0.5f : static_cast<float>(c % 16) - 7.5f;
        });
        break;
    }
  }
  return x;
}

// The K-quant row quantizers of this level against the reference, byte for byte: ggml's golden rows
// and the generated ones above, each row quantized alone and through quantize().
TEST_P(Kernels, KQuantRowQuantizersReproduceTheReferenceBytes) {
  const kernels::KernelTable& k = kernels::kernel_table(GetParam());
  for (Format f : {Format::q3_K, Format::q6_K}) {
    const formats::FormatTraits& t = formats::traits(f);
    const formats::QuantizeRowFn fast = k.quantize_row[static_cast<std::size_t>(f)];
    const formats::QuantizeRowFn row_fn = fast != nullptr ? fast : t.quantize_row_ref;
    const std::string name(t.info.name);
    if (GetParam() == Isa::avx2 || GetParam() == Isa::avxvnni || GetParam() == Isa::avx512) {
      EXPECT_NE(fast, nullptr) << name;  // the level has its own (the AVX2 one from avxvnni on)
    }

    // ggml's bytes (tests/data/golden/README.md: 16 rows of 256 after a 28-byte header, no importance).
    const auto golden = test::read_file(test::test_data("golden/" + name + ".bin"));
    const std::size_t golden_row_bytes = formats::padded_row_bytes(t.info, 256);
    ASSERT_EQ(golden.size(), 28 + 16 * 256 * 4 + 16 * golden_row_bytes + 16 * 256 * 4) << name;
    std::vector<float> golden_input(16 * 256);
    std::memcpy(golden_input.data(), golden.data() + 28, golden_input.size() * 4);
    for (std::size_t r = 0; r < 16; ++r) {
      std::vector<std::byte> got(golden_row_bytes);
      row_fn(golden_input.data() + 256 * r, got.data(), 256);
      const std::byte* want = golden.data() + 28 + golden_input.size() * 4 + r * golden_row_bytes;
      for (std::size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], want[i]) << name << " golden row " << r << " byte " << i;
    }

    const std::size_t rows = 3000, cols = 512;
    const auto x = kquant_rows(rows, cols, 1234);
    const std::size_t bytes = formats::padded_row_bytes(t.info, cols);
    std::vector<std::byte> want(rows * bytes);
    for (std::size_t r = 0; r < rows; ++r) {
      std::vector<std::byte> got(bytes);
      row_fn(x.data() + r * cols, got.data(), cols);
      t.quantize_row_ref(x.data() + r * cols, want.data() + r * bytes, cols);
      for (std::size_t i = 0; i < bytes; ++i) ASSERT_EQ(got[i], want[r * bytes + i]) << name << " row " << r << " byte " << i;
    }
    if (f == Format::q6_K) {  // the rows reach the rare paths: sub-scales of 0, d = ±inf, zero blocks
      std::size_t zero_sub_scale = 0, infinite_d = 0, zero_block = 0;
      for (std::size_t b = 0; b < want.size() / sizeof(formats::block_q6_K); ++b) {
        formats::block_q6_K blk;
        std::memcpy(&blk, want.data() + b * sizeof blk, sizeof blk);
        if ((blk.d & 0x7fff) == 0x7c00) ++infinite_d;
        if (blk.d == 0 && std::all_of(blk.scales, blk.scales + 16, [](std::int8_t v) { return v == 0; })) {
          ++zero_block;
        } else if (std::find(blk.scales, blk.scales + 16, std::int8_t{0}) != blk.scales + 16) {
          ++zero_sub_scale;
        }
      }
      EXPECT_GT(zero_sub_scale, 50u);
      EXPECT_GT(infinite_d, 50u);
      EXPECT_GT(zero_block, 50u);
    }
    const IsaScope scope(GetParam());
    const QuantizedTensor q = quantize(x, rows, cols, f, QuantizeOptions{});
    ASSERT_EQ(q.nbytes(), want.size());
    EXPECT_TRUE(std::equal(q.data().begin(), q.data().end(), want.begin())) << name;
  }
}

struct Variant {
  Format format;
  AffineOptions affine;
  std::string label;
};

AffineOptions affine(bool symmetric, AffineOptions::Granularity g, std::size_t group = 0) {
  AffineOptions o;
  o.symmetric = symmetric;
  o.granularity = g;
  o.group_size = group;
  return o;
}

// Every format, and the affine ones in every packed variant plus groups smaller than a block.
std::vector<Variant> kernel_variants() {
  using G = AffineOptions::Granularity;
  std::vector<Variant> v;
  for (const FormatInfo& f : all_formats()) {
    if (!f.affine) v.push_back({f.format, {}, std::string(f.name)});
  }
  for (Format f : {Format::i8, Format::i4}) {
    const std::string n(format_name(f));
    v.push_back({f, affine(true, G::channel), n + "_channel_sym"});
    v.push_back({f, affine(false, G::channel), n + "_channel_asym"});
    v.push_back({f, affine(true, G::tensor), n + "_tensor_sym"});
    v.push_back({f, affine(false, G::group, 64), n + "_group64_asym"});
    v.push_back({f, affine(true, G::group, 32), n + "_group32_sym"});
    v.push_back({f, affine(false, G::group, 24), n + "_group24_asym"});
  }
  return v;
}

void expect_forward_matches(const QuantizedLinear& layer, const std::vector<float>& x, std::size_t batch,
                            const std::string& what) {
  const auto y = layer.forward(x, batch);
  const auto check = test::check_forward(layer, x, batch);
  for (std::size_t i = 0; i < y.size(); ++i) {
    ASSERT_NEAR(y[i], check.expected[i], check.tolerance[i]) << what << " output " << i;
  }
}

TEST_P(Kernels, ForwardMatchesTheQuantizedProductOverAShapeSweep) {
  const IsaScope scope(GetParam());
  for (const Variant& v : kernel_variants()) {
    for (std::size_t in : {1, 33, 100, 256, 520}) {
      for (std::size_t out : {1, 8, 9, 17, 40}) {
        const auto w = test::gaussian(out * in, in * 7 + out);
        const auto bias = test::gaussian(out, out);
        const auto layer = QuantizedLinear::from_weights(w, out % 2 ? bias : std::vector<float>{}, out, in,
                                                         v.format, v.affine);
        for (std::size_t batch = 1; batch <= 17; ++batch) {
          if (in * out * batch > 60000 && batch % 4 != 1) continue;  // keep the sweep quick
          const auto x = test::gaussian(batch * in, batch * 31 + in);
          expect_forward_matches(layer, x, batch,
                                 v.label + " in=" + std::to_string(in) + " out=" + std::to_string(out) +
                                     " batch=" + std::to_string(batch));
        }
      }
    }
  }
}

// Every layer with a packed copy runs its level's own kernel, GEMV and GEMM: none reaches the
// scalar kernel, or a lower level's, through a fallback (the results would still be right, so only
// the count of fallbacks can tell).
TEST_P(Kernels, EveryPackedLayerRunsTheLevelsOwnKernel) {
  if (GetParam() == Isa::scalar) GTEST_SKIP() << "the scalar level is the fallback";
  const IsaScope scope(GetParam());
  const std::size_t in = 512, out = 40;
  for (const Variant& v : kernel_variants()) {
    const auto layer = QuantizedLinear::from_weights(test::gaussian(out * in, 3), {}, out, in, v.format, v.affine);
    for (std::size_t batch : {1, 4, 9}) {
      const std::uint64_t before = kernels::scalar::packed_fallbacks();
      (void)layer.forward(test::gaussian(batch * in, batch), batch);
      EXPECT_EQ(kernels::scalar::packed_fallbacks(), before) << v.label << " batch " << batch;
    }
  }
}

// Rows longer than the float kernels' blocks of inputs (1024 at a time on every level), with a
// partial last block: the sums carried from block to block.
TEST_P(Kernels, FloatFormatsMatchOverRowsLongerThanAnInputBlock) {
  const IsaScope scope(GetParam());
  for (Format f : {Format::f32, Format::f16, Format::bf16}) {
    for (std::size_t in : {1025, 2100}) {
      const std::size_t out = 40;
      const auto layer = QuantizedLinear::from_weights(test::gaussian(out * in, in + 5), test::gaussian(out, 6), out,
                                                       in, f);
      for (std::size_t batch : {1, 7, 13}) {
        expect_forward_matches(layer, test::gaussian(batch * in, batch + in), batch,
                               std::string(format_name(f)) + " in=" + std::to_string(in) +
                                   " batch=" + std::to_string(batch));
      }
    }
  }
}

// A shape that the driver cuts into several row chunks and activation tile groups.
TEST_P(Kernels, ForwardMatchesTheQuantizedProductOnAGridOfTasks) {
  const IsaScope scope(GetParam());
  for (const Variant& v : kernel_variants()) {
    const std::size_t in = 300, out = 203, batch = 70;
    const auto layer = QuantizedLinear::from_weights(test::gaussian(out * in, 11), test::gaussian(out, 12), out, in,
                                                     v.format, v.affine);
    expect_forward_matches(layer, test::gaussian(batch * in, 13), batch, v.label + " 203×300 batch 70");
  }
}

// Integer-valued weights and inputs whose scales come out as exactly 1: every product and sum is
// an integer below 2^24, so every level must return the exact integer result, bit for bit.
TEST_P(Kernels, IntegerSumsAreExact) {
  const IsaScope scope(GetParam());
  struct Case {
    Format format;
    AffineOptions affine;
    int lo, hi;  // weight range, chosen so that the format's scale is 1
  };
  using G = AffineOptions::Granularity;
  const std::vector<Case> cases = {
      {Format::q8_0, {}, -127, 127}, {Format::q8_1, {}, -127, 127}, {Format::q4_0, {}, -8, 7},
      {Format::q5_0, {}, -16, 15},   {Format::q4_1, {}, -5, 10},    {Format::q5_1, {}, -20, 11},
      {Format::i8, affine(true, G::channel), -127, 127},           {Format::i4, affine(true, G::group, 64), -7, 7},
      {Format::i8, affine(false, G::group, 32), -100, 155},         {Format::i4, affine(false, G::channel), -3, 12},
  };
  std::mt19937_64 rng(5);
  for (const Case& c : cases) {
    const std::size_t in = 96, out = 19, batch = 6;
    std::vector<float> w(out * in), x(batch * in);
    for (std::size_t r = 0; r < out; ++r) {
      for (std::size_t i = 0; i < in; ++i) {
        // Each block (and group) holds both ends of the range, so the scale is exactly 1.
        const std::size_t j = i % 32;
        w[r * in + i] = static_cast<float>(j == 0 ? c.lo : j == 1 ? c.hi : c.lo + static_cast<int>(rng() % (c.hi - c.lo + 1)));
      }
    }
    for (std::size_t i = 0; i < x.size(); ++i) {
      x[i] = static_cast<float>(i % 32 == 0 ? 127 : static_cast<int>(rng() % 255) - 127);
    }
    const auto layer = QuantizedLinear::from_weights(w, {}, out, in, c.format, c.affine);
    ASSERT_EQ(layer.dequantize_weights(), w) << format_name(c.format) << ": the scale must come out as 1";
    const auto y = layer.forward(x, batch);
    for (std::size_t b = 0; b < batch; ++b) {
      for (std::size_t r = 0; r < out; ++r) {
        std::int64_t exact = 0;
        for (std::size_t i = 0; i < in; ++i) exact += static_cast<std::int64_t>(w[r * in + i]) * static_cast<std::int64_t>(x[b * in + i]);
        ASSERT_EQ(y[b * out + r], static_cast<float>(exact)) << format_name(c.format) << " b=" << b << " r=" << r;
      }
    }
  }
}

// 8-bit codes at their extremes (−128, which ggml's quantizer never writes but a file may hold, and
// ±127) against activations of ±127 with scales of 1: the packed codes u = q + 128 reach 255, so a
// pair u₀q₀ + u₁q₁ reaches 2·255·127 (and the signed pair 2·128·127), past int16; every level must
// still return the exact integer sum. 19 rows: a pair of panels and a panel alone; batches 1 and 6.
TEST_P(Kernels, EightBitCodesAtTheirExtremesAreExact) {
  const IsaScope scope(GetParam());
  const std::size_t in = 256, out = 19;
  std::mt19937_64 rng(17);
  std::vector<std::int8_t> codes(out * in);
  for (std::size_t r = 0; r < out; ++r) {
    for (std::size_t i = 0; i < in; ++i) {
      const std::int8_t extremes[] = {-128, -127, 127, 0};
      std::int8_t q;
      switch (r % 5) {
        case 0: q = 127; break;
        case 1: q = -128; break;
        case 2: q = i % 2 ? 127 : -128; break;
        case 3: q = extremes[rng() % 4]; break;
        default: q = static_cast<std::int8_t>(rng() & 0xff); break;
      }
      codes[r * in + i] = q;
    }
  }
  for (Format f : {Format::q8_0, Format::q8_1}) {
    const FormatInfo& info = format_info(f);
    std::vector<std::byte> bytes(out * in / 32 * info.block_bytes);
    for (std::size_t b = 0; b < out * in / 32; ++b) {
      std::byte* blk = bytes.data() + b * info.block_bytes;
      const std::uint16_t one = core::fp32_to_fp16(1.0f);
      std::memcpy(blk, &one, 2);
      if (f == Format::q8_1) std::memset(blk + 2, 0, 2);  // s, which the product does not read
      std::memcpy(blk + (f == Format::q8_1 ? 4 : 2), codes.data() + 32 * b, 32);
    }
    const auto layer = QuantizedLinear::from_quantized(QuantizedTensor::from_blocks(f, out, in, bytes), {});
    for (std::size_t batch : {1, 6}) {
      std::vector<float> x(batch * in);
      for (std::size_t b = 0; b < batch; ++b) {
        for (std::size_t i = 0; i < in; ++i) {
          const bool negative = b % 3 == 1 || (b % 3 == 2 && (i / 2) % 2 == 1) || (b >= 3 && rng() % 2);
          x[b * in + i] = negative ? -127.0f : 127.0f;
        }
      }
      const auto y = layer.forward(x, batch);
      for (std::size_t b = 0; b < batch; ++b) {
        for (std::size_t r = 0; r < out; ++r) {
          std::int64_t exact = 0;
          for (std::size_t i = 0; i < in; ++i) {
            exact += std::int64_t{codes[r * in + i]} * static_cast<std::int64_t>(x[b * in + i]);
          }
          ASSERT_EQ(y[b * out + r], static_cast<float>(exact))
              << format_name(f) << " batch " << batch << " b=" << b << " r=" << r;
        }
      }
    }
  }
}

// Inputs and outputs at addresses that are not 32-byte (nor 8-byte) aligned: the same bits.
TEST_P(Kernels, MisalignedBuffersGiveTheSameResults) {
  const IsaScope scope(GetParam());
  for (Format f : {Format::q4_0, Format::q8_0, Format::q5_1, Format::f32, Format::f16, Format::bf16}) {
    const std::size_t in = 77, out = 35;
    const auto layer = QuantizedLinear::from_weights(test::gaussian(out * in, 3), test::gaussian(out, 4), out, in, f);
    for (std::size_t batch : {1, 6}) {
      const auto x = test::gaussian(batch * in, 5);
      const auto aligned = layer.forward(x, batch);
      for (std::size_t shift : {1, 3}) {
        std::vector<float> xs(batch * in + shift), ys(batch * out + shift);
        std::copy(x.begin(), x.end(), xs.begin() + static_cast<std::ptrdiff_t>(shift));
        layer.forward(std::span<const float>(xs).subspan(shift), batch, std::span<float>(ys).subspan(shift));
        ASSERT_TRUE(std::equal(aligned.begin(), aligned.end(), ys.begin() + static_cast<std::ptrdiff_t>(shift)))
            << format_name(f) << " batch " << batch << " shift " << shift;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, Kernels, ::testing::ValuesIn(supported_levels()), level_name);

// The reference product (dequantize, then dot in double) agrees with the kernels of every level.
TEST(KernelLevels, EveryLevelAgreesWithTheDequantizingReference) {
  for (const Variant& v : kernel_variants()) {
    const std::size_t in = 130, out = 21, batch = 5;
    const auto layer = QuantizedLinear::from_weights(test::gaussian(out * in, 8), test::gaussian(out, 9), out, in,
                                                     v.format, v.affine);
    const auto x = test::gaussian(batch * in, 10);
    const auto xe = test::effective_input(v.format, x, batch, in);
    const auto check = test::check_forward(layer, x, batch);
    std::vector<float> ref(batch * out);
    kernels::gemm_dequant_ref(formats::view_of(layer.weight()), xe.data(), batch, layer.bias().data(), ref.data());
    const auto packed = kernels::pack_weights(layer.weight());
    for (Isa isa : supported_levels()) {
      std::vector<float> y(batch * out);
      const formats::WeightView w = formats::view_of(layer.weight());
      kernels::forward(isa, w, packed.get(), x.data(), batch, layer.bias().data(), y.data());
      for (std::size_t i = 0; i < y.size(); ++i) {
        ASSERT_NEAR(y[i], ref[i], 2 * check.tolerance[i]) << v.label << " " << isa_name(isa) << " output " << i;
      }
    }
  }
}

// The levels this machine lacks are reported as a skipped test, so a run says what it did not cover.
TEST(KernelLevels, LevelsThisMachineLacks) {
  const std::string lacking = test::lacking_levels();
  if (!lacking.empty()) GTEST_SKIP() << "not run on this CPU or build: " << lacking;
}

// Every supported level can be forced, the highest included; a level's row keeps the next lower
// level's kernel for the formats it has none of its own for.
TEST(KernelLevels, EverySupportedLevelCanBeForcedAndFallsBackPerFormat) {
  const Isa saved = active_isa();
  for (Isa isa : supported_levels()) {
    set_isa(isa);
    EXPECT_EQ(active_isa(), isa);
    EXPECT_EQ(kernels::active_kernels().isa, isa);
  }
  set_isa(saved);
  if (isa_supported(Isa::avx512)) {
    const auto& top = kernels::kernel_table(Isa::avx512);
    const auto& avx2 = kernels::kernel_table(Isa::avx2);
    const auto at = [](Format f) { return static_cast<std::size_t>(f); };
    EXPECT_NE(top.gemm[at(Format::q4_0)], avx2.gemm[at(Format::q4_0)]);
    EXPECT_NE(top.gemm[at(Format::f32)], avx2.gemm[at(Format::f32)]);
    EXPECT_NE(top.gemm[at(Format::q4_K)], avx2.gemm[at(Format::q4_K)]);
    // No AVX-512 quantizers or dequantizers: the AVX2 ones serve.
    EXPECT_EQ(top.quantize_row[at(Format::q4_0)], avx2.quantize_row[at(Format::q4_0)]);
    EXPECT_EQ(top.dequantize_row[at(Format::q8_0)], avx2.dequantize_row[at(Format::q8_0)]);
    EXPECT_EQ(top.int_tile_rows, avx2.int_tile_rows);  // the AVX2 kernels left in the row read the tiles
  }
}

// The ARM rows: every legacy and affine integer format, the K-quants and the i-quants have a kernel
// of their own at neon and again at dotprod; i8mm replaces the integer formats' with its smmla GEMM
// and keeps dotprod's for the K-quants and i-quants.
TEST(KernelLevels, ArmLevelsReplaceTheirFormatsOnly) {
  if (!isa_supported(Isa::neon)) GTEST_SKIP() << "not an ARM CPU with Advanced SIMD";
  const auto at = [](Format f) { return static_cast<std::size_t>(f); };
  const Format integer[] = {Format::q4_0, Format::q4_1, Format::q5_0, Format::q5_1,
                            Format::q8_0, Format::q8_1, Format::i8,   Format::i4};
  const auto& scalar = kernels::kernel_table(Isa::scalar);
  const auto& neon = kernels::kernel_table(Isa::neon);
  const Format kquants[] = {Format::q2_K, Format::q3_K, Format::q4_K, Format::q5_K,
                            Format::q6_K, Format::iq4_nl, Format::iq4_xs};
  for (Format f : integer) EXPECT_NE(neon.gemm[at(f)], scalar.gemm[at(f)]) << format_name(f);
  for (Format f : kquants) EXPECT_NE(neon.gemm[at(f)], scalar.gemm[at(f)]) << format_name(f);
  if (isa_supported(Isa::dotprod)) {
    const auto& dotprod = kernels::kernel_table(Isa::dotprod);
    for (Format f : integer) EXPECT_NE(dotprod.gemm[at(f)], neon.gemm[at(f)]) << format_name(f);
    for (Format f : kquants) EXPECT_NE(dotprod.gemm[at(f)], neon.gemm[at(f)]) << format_name(f);
    if (isa_supported(Isa::i8mm)) {
      const auto& i8mm = kernels::kernel_table(Isa::i8mm);
      for (Format f : integer) EXPECT_NE(i8mm.gemm[at(f)], dotprod.gemm[at(f)]) << format_name(f);
      for (Format f : kquants) EXPECT_EQ(i8mm.gemm[at(f)], dotprod.gemm[at(f)]) << format_name(f);
      EXPECT_EQ(i8mm.int_tile_rows, dotprod.int_tile_rows);  // the dotprod GEMV it keeps reads the same tiles
    }
  }
  // No level of another architecture is ever supported.
  EXPECT_FALSE(isa_supported(Isa::avx2));
  EXPECT_FALSE(isa_supported(Isa::avxvnni));
  EXPECT_FALSE(isa_supported(Isa::avx512));
}

TEST(KernelLevels, UnsupportedOrUnknownLevelsAreErrors) {
  EXPECT_EQ(parse_isa("scalar"), Isa::scalar);
  EXPECT_EQ(parse_isa("avx2"), Isa::avx2);
  EXPECT_EQ(parse_isa("avxvnni"), Isa::avxvnni);
  EXPECT_EQ(parse_isa("avx512"), Isa::avx512);
  EXPECT_EQ(parse_isa("neon"), Isa::neon);
  EXPECT_EQ(parse_isa("dotprod"), Isa::dotprod);
  EXPECT_EQ(parse_isa("i8mm"), Isa::i8mm);
  const std::string message = test::error_message([] { parse_isa("avx3"); }, ErrorCode::invalid_argument);
  EXPECT_NE(message.find("valid: scalar, avx2, avxvnni, avx512"), std::string::npos) << message;
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avxvnni, Isa::avx512, Isa::neon, Isa::dotprod, Isa::i8mm}) {
    EXPECT_EQ(parse_isa(isa_name(isa)), isa);
  }
  for (Isa isa : test::kAllLevels) {
    if (!isa_supported(isa)) {
      const std::string m = test::error_message([&] { set_isa(isa); }, ErrorCode::unsupported);
      EXPECT_NE(m.find(isa_name(isa)), std::string::npos) << m;
    }
  }
  const Isa saved = active_isa();
  set_isa(Isa::scalar);
  EXPECT_EQ(active_isa(), Isa::scalar);
  set_isa(saved);
}

// Run by ctest with QLINEAR_ISA=scalar (tests/CMakeLists.txt): the variable lowers the level.
TEST(KernelLevels, TheEnvironmentVariableLowersTheLevel) {
  const char* env = std::getenv("QLINEAR_ISA");
  if (env == nullptr) GTEST_SKIP() << "QLINEAR_ISA is not set in this run";
  // A supported level is taken; one above best_isa() or of another architecture leaves best_isa()
  // (the enum's values do not order the levels: runtime.hpp).
  const Isa asked = parse_isa(env);
  EXPECT_EQ(active_isa(), isa_supported(asked) ? asked : best_isa());
}

}  // namespace
}  // namespace qlinear
