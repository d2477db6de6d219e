// The avxvnni level's K-quant kernels once more, compiled with -mavx2 -mfma -mf16c -mavx512vl
// -mavx512vnni into namespace avxvnni_evex: the EVEX-encoded 256-bit `vpdpbusd` of AVX-512 VNNI,
// for CPUs that have it but not AVX-VNNI (avxvnni.hpp).

#define QLINEAR_VNNI_NS avxvnni_evex
#define QLINEAR_AVXVNNI_EVEX 1
#include "kernels/x86/avxvnni_gemm_kquant.cpp"
