#pragma once
// OpenBLAS, the f32 peer of the benchmark, loaded at run time when it is installed (Debian:
// libopenblas0-pthread). Neither the library nor the tool depends on it; without it the ratio
// columns read "n/a".

#include <string>

namespace qlinear::bench {

class OpenBlas {
 public:
  static const OpenBlas& get();  // loaded once

  bool available() const noexcept { return sgemm_ != nullptr; }
  std::string description() const;  // "OpenBLAS 0.3.21 ... (Haswell)" or why it is missing
  void set_threads(int n) const;

  // Y[batch, out] = X[batch, in] · W[out, in]ᵀ (sgemm; sgemv for batch 1).
  void linear(const float* w, const float* x, float* y, int batch, int out, int in) const;

 private:
  OpenBlas();
  using Sgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float,
                         float*, int);
  using Sgemv = void (*)(int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
  Sgemm sgemm_ = nullptr;
  Sgemv sgemv_ = nullptr;
  void (*set_threads_)(int) = nullptr;
  char* (*config_)() = nullptr;
  char* (*corename_)() = nullptr;
  std::string error_;
};

}  // namespace qlinear::bench
