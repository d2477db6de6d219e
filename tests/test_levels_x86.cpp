// The avxvnni level's row and its place among the x86 levels. Its kernels' results are checked
// with every other level's by the level-parameterized tests (tests/levels.hpp lists it).

#include "core/cpu_features.hpp"
#include "formats/registry.hpp"
#include "kernels/kernel_table.hpp"
#if defined(QLINEAR_HAVE_AVXVNNI_KERNELS) || defined(QLINEAR_HAVE_AVXVNNI_EVEX_KERNELS)
#include "kernels/x86/avxvnni.hpp"
#endif

#include <qlinear/runtime.hpp>

#include <gtest/gtest.h>

namespace qlinear {
namespace {

// Every integer format has a vpdpbusd kernel of its own at avxvnni; the float kernels, the
// quantizers, the dequantizers and the activation tiles stay the AVX2 level's.
TEST(KernelLevels, AvxVnniReplacesTheIntegerKernelsOnly) {
  if (!isa_supported(Isa::avxvnni)) GTEST_SKIP() << "no AVX-VNNI nor AVX-512 VNNI + VL here";
  const auto& vnni = kernels::kernel_table(Isa::avxvnni);
  const auto& avx2 = kernels::kernel_table(Isa::avx2);
  const auto at = [](Format f) { return static_cast<std::size_t>(f); };
  EXPECT_EQ(vnni.isa, Isa::avxvnni);
  for (Format f : {Format::q4_0, Format::q4_1, Format::q5_0, Format::q5_1, Format::q8_0, Format::q8_1, Format::i8,
                   Format::i4, Format::q2_K, Format::q3_K, Format::q4_K, Format::q5_K, Format::q6_K,
                   Format::iq4_nl, Format::iq4_xs}) {
    EXPECT_NE(vnni.gemm[at(f)], avx2.gemm[at(f)]) << formats::traits(f).info.name;
    if (isa_supported(Isa::avx512)) {
      EXPECT_NE(vnni.gemm[at(f)], kernels::kernel_table(Isa::avx512).gemm[at(f)]) << formats::traits(f).info.name;
    }
  }
  EXPECT_NE(vnni.gemm[at(Format::q4_0)], vnni.gemm[at(Format::q4_K)]);
  for (Format f : {Format::f32, Format::f16, Format::bf16}) EXPECT_EQ(vnni.gemm[at(f)], avx2.gemm[at(f)]);
  for (std::size_t i = 0; i < kernels::kFormatCount; ++i) {
    EXPECT_EQ(vnni.quantize_row[i], avx2.quantize_row[i]);
    EXPECT_EQ(vnni.dequantize_row[i], avx2.dequantize_row[i]);
  }
  EXPECT_EQ(vnni.quantize_activation_row, avx2.quantize_activation_row);
  EXPECT_EQ(vnni.accumulate_error, avx2.accumulate_error);
  EXPECT_EQ(vnni.int_tile_rows, avx2.int_tile_rows);
  EXPECT_EQ(vnni.float_tile_rows, avx2.float_tile_rows);
}

// The row runs the VEX build where the CPU has AVX-VNNI, else the EVEX build where it has AVX-512
// VNNI + VL (src/kernels/x86/avxvnni.hpp); the level is supported exactly when one of them can run.
TEST(KernelLevels, AvxVnniRunsTheBuildThisCpuHas) {
  const core::CpuFeatures& cpu = core::cpu_features();
  const bool avx2 = cpu.avx2 && cpu.fma && cpu.f16c;
  bool vex = false, evex = false;
#if defined(QLINEAR_HAVE_AVXVNNI_KERNELS)
  vex = avx2 && cpu.avxvnni;
#endif
#if defined(QLINEAR_HAVE_AVXVNNI_EVEX_KERNELS)
  evex = avx2 && cpu.avx512f && cpu.avx512vl && cpu.avx512vnni;
#endif
  EXPECT_EQ(isa_supported(Isa::avxvnni), vex || evex);
  if (!vex && !evex) GTEST_SKIP() << "no AVX-VNNI nor AVX-512 VNNI + VL here (or not built)";
  const auto& vnni = kernels::kernel_table(Isa::avxvnni);
  const auto at = [](Format f) { return static_cast<std::size_t>(f); };
#if defined(QLINEAR_HAVE_AVXVNNI_KERNELS)
  if (vex) {
    EXPECT_EQ(vnni.gemm[at(Format::q8_0)], &kernels::avxvnni::gemm_quantized);
    EXPECT_EQ(vnni.gemm[at(Format::q6_K)], &kernels::avxvnni::gemm_kquant);
    return;
  }
#endif
#if defined(QLINEAR_HAVE_AVXVNNI_EVEX_KERNELS)
  EXPECT_EQ(vnni.gemm[at(Format::q8_0)], &kernels::avxvnni_evex::gemm_quantized);
  EXPECT_EQ(vnni.gemm[at(Format::q6_K)], &kernels::avxvnni_evex::gemm_kquant);
#endif
}

// scalar < avx2 < avxvnni < avx512: avxvnni wherever avx512 is (its EVEX build needs less than
// avx512 does), and where avxvnni is supported the best level is avxvnni or avx512.
TEST(KernelLevels, AvxVnniSitsBetweenAvx2AndAvx512) {
  if (isa_supported(Isa::avx512)) {
    EXPECT_TRUE(isa_supported(Isa::avxvnni));
  }
  if (isa_supported(Isa::avxvnni)) {
    EXPECT_TRUE(isa_supported(Isa::avx2));
    EXPECT_TRUE(best_isa() == Isa::avxvnni || best_isa() == Isa::avx512) << isa_name(best_isa());
  }
  if (best_isa() == Isa::avxvnni) {
    EXPECT_FALSE(isa_supported(Isa::avx512));
  }
  EXPECT_EQ(isa_name(Isa::avxvnni), "avxvnni");
  // The enum keeps its earlier values (runtime.hpp): a level added later is appended.
  EXPECT_EQ(static_cast<int>(Isa::avx512), 2);
  EXPECT_EQ(static_cast<int>(Isa::i8mm), 5);
}

}  // namespace
}  // namespace qlinear
