#include "core/cpu_features.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace qlinear::core {
namespace {

CpuFeatures detect() noexcept {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  // CPUID read directly (GCC and Clang both ship <cpuid.h>; Clang's __builtin_cpu_supports knows
  // no "f16c"). A feature counts only when the operating system also saves the ymm registers:
  // OSXSAVE and AVX set, and XCR0 enabling the SSE and AVX state (bits 1 and 2); the AVX-512 ones
  // also need the opmask, upper-zmm and zmm16–31 state (XCR0 bits 5, 6 and 7), which a kernel or a
  // hypervisor may leave off on a CPU that has the instructions.
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return f;
  const bool osxsave = (ecx & (1u << 27)) != 0, avx = (ecx & (1u << 28)) != 0;
  const bool fma = (ecx & (1u << 12)) != 0, f16c = (ecx & (1u << 29)) != 0;
  if (!osxsave || !avx) return f;
  unsigned xcr0_low = 0, xcr0_high = 0;
  __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  if ((xcr0_low & 0x6u) != 0x6u) return f;
  f.fma = fma;
  f.f16c = f16c;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return f;
  f.avx2 = (ebx & (1u << 5)) != 0;
  // Sub-leaf 1 exists when sub-leaf 0's EAX (the highest sub-leaf) says so.
  unsigned eax1 = 0, ebx1 = 0, ecx1 = 0, edx1 = 0;
  if (eax >= 1 && __get_cpuid_count(7, 1, &eax1, &ebx1, &ecx1, &edx1) != 0) f.avxvnni = (eax1 & (1u << 4)) != 0;
  if ((xcr0_low & 0xe0u) != 0xe0u) return f;
  f.avx512f = (ebx & (1u << 16)) != 0;
  f.avx512bw = (ebx & (1u << 30)) != 0;
  f.avx512vl = (ebx & (1u << 31)) != 0;
  f.avx512vnni = (ecx & (1u << 11)) != 0;
#endif
#if defined(__aarch64__) && defined(__linux__)
  // The Linux hwcap bits (arch/arm64/include/uapi/asm/hwcap.h), spelled out so that an older C
  // library's headers need not know them. The kernel sets a bit only when it also saves the state.
  constexpr unsigned long kHwcapAsimd = 1ul << 1, kHwcapAsimddp = 1ul << 20;
  constexpr unsigned long kHwcap2I8mm = 1ul << 13;
  const unsigned long hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
  f.asimd = (hwcap & kHwcapAsimd) != 0;
  f.asimddp = (hwcap & kHwcapAsimddp) != 0;
  f.i8mm = (hwcap2 & kHwcap2I8mm) != 0;
#endif
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() noexcept {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace qlinear::core
