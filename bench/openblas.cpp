#include "openblas.hpp"

#include <dlfcn.h>

namespace qlinear::bench {
namespace {

// The CBLAS enumerations (cblas.h), fixed by the standard interface.
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

template <typename Fn>
Fn symbol(void* library, const char* name) {
  return reinterpret_cast<Fn>(dlsym(library, name));
}

}  // namespace

OpenBlas::OpenBlas() {
  void* library = nullptr;
  for (const char* name : {"libopenblas.so.0", "libopenblas.so"}) {
    library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (library != nullptr) break;
  }
  if (library == nullptr) {
    error_ = "OpenBLAS not found (libopenblas.so.0)";
    return;
  }
  sgemm_ = symbol<Sgemm>(library, "cblas_sgemm");
  sgemv_ = symbol<Sgemv>(library, "cblas_sgemv");
  set_threads_ = symbol<void (*)(int)>(library, "openblas_set_num_threads");
  config_ = symbol<char* (*)()>(library, "openblas_get_config");
  corename_ = symbol<char* (*)()>(library, "openblas_get_corename");
  if (sgemm_ == nullptr || sgemv_ == nullptr || set_threads_ == nullptr) {
    sgemm_ = nullptr;
    error_ = "libopenblas lacks cblas_sgemm/cblas_sgemv/openblas_set_num_threads";
  }
}

const OpenBlas& OpenBlas::get() {
  static const OpenBlas blas;
  return blas;
}

std::string OpenBlas::description() const {
  if (!available()) return error_;
  std::string d = config_ ? config_() : "OpenBLAS";
  if (corename_) d += " (kernels: " + std::string(corename_()) + ")";
  return d;
}

void OpenBlas::set_threads(int n) const {
  if (set_threads_) set_threads_(n);
}

void OpenBlas::linear(const float* w, const float* x, float* y, int batch, int out, int in) const {
  if (batch == 1) {
    sgemv_(kRowMajor, kNoTrans, out, in, 1.0f, w, in, x, 1, 0.0f, y, 1);
  } else {
    sgemm_(kRowMajor, kNoTrans, kTrans, batch, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
  }
}

}  // namespace qlinear::bench
