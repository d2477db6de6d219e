#pragma once
// What the CPU can execute, detected once.

namespace qlinear::core {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  // AVX-512 Foundation, Byte/Word, Vector Length and VNNI, each counted only when the operating
  // system also saves the opmask and the full zmm registers.
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  // AVX-VNNI: the VEX-encoded 256-bit vpdpbusd of AVX2-only CPUs (Alder Lake, Zen 5), CPUID
  // leaf 7 sub-leaf 1, EAX bit 4; needs only the ymm state.
  bool avxvnni = false;
  // 64-bit ARM, as the kernel reports them (getauxval): Advanced SIMD, the ARMv8.2 dot product
  // (sdot/udot) and the int8 matrix multiply (smmla).
  bool asimd = false;
  bool asimddp = false;
  bool i8mm = false;
};

// The features of the running CPU (and enabled by the operating system), detected on the first call.
const CpuFeatures& cpu_features() noexcept;

}  // namespace qlinear::core
