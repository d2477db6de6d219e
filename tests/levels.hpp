#pragma once
// The instruction-set levels the kernel tests run: every level this CPU and this build support.
// The others are named once on stderr when the list is first made, and by the skipped test
// KernelLevels.LevelsThisMachineLacks, so that a run on a CPU without AVX-512 (or without any
// 256-bit VNNI) says what it left out.

#include <qlinear/runtime.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace qlinear::test {

// The levels of the architecture the tests were built for (another architecture's are never
// "lacking": they cannot be built here).
#if defined(__aarch64__)
inline constexpr Isa kAllLevels[] = {Isa::scalar, Isa::neon, Isa::dotprod, Isa::i8mm};
#else
inline constexpr Isa kAllLevels[] = {Isa::scalar, Isa::avx2, Isa::avxvnni, Isa::avx512};
#endif

// "avx512" or "avx2, avx512": the levels this machine lacks; empty when it has them all.
inline std::string lacking_levels() {
  std::string text;
  for (Isa isa : kAllLevels) {
    if (isa_supported(isa)) continue;
    if (!text.empty()) text += ", ";
    text += isa_name(isa);
  }
  return text;
}

inline const std::vector<Isa>& supported_levels() {
  static const std::vector<Isa> levels = [] {
    std::vector<Isa> l;
    for (Isa isa : kAllLevels) {
      if (isa_supported(isa)) l.push_back(isa);
    }
    const std::string lacking = lacking_levels();
    if (!lacking.empty()) {
      std::fprintf(stderr, "kernel tests: skipping level(s) %s: not supported by this CPU or build\n", lacking.c_str());
    }
    return l;
  }();
  return levels;
}

}  // namespace qlinear::test
