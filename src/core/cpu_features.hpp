#pragma once
// What the CPU can execute, detected once.

namespace qlinear::core {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
};

// The features of the running CPU (and enabled by the operating system), detected on the first call.
const CpuFeatures& cpu_features() noexcept;

}  // namespace qlinear::core
