// AVX2 GEMM/GEMV for f32, f16 and bf16 weights with float activations, on panels of 16 rows stored
// input-major (packed.hpp). The micro-kernel keeps 2 × C accumulators (16 rows × C activation
// rows): per input it loads (and widens) the 16 weights once and does 2·C FMAs.
//
// Tile shape: C = 6 uses 12 accumulators + 2 weight registers + 1 broadcast of the 16 ymm
// registers (the shape of OpenBLAS's Haswell sgemm kernel); per input it does 12 FMAs for 2 loads
// and 6 broadcasts. It reaches 96 GFLOP/s on one core of the benchmark machine (4096×14336, batch
// 120), about the two-FMA-per-cycle peak, so no other shape was tried.
// Each output is one FMA chain over the inputs in order, whatever C, so results do not depend on
// the batch or the thread count.
// Compiled with -mavx2 -mfma -mf16c; nothing here may call an inline function of a shared header.

#include "kernels/scalar_kernels.hpp"
#include "kernels/x86/avx2.hpp"
#include "kernels/x86/avx2_store.hpp"

#include <immintrin.h>

#include <cstdint>

namespace qlinear::kernels::avx2 {
namespace {

// The 16 weights of input k as two vectors of 8 floats.
template <Format kFormat>
inline void load_weights(const std::byte* panel, std::size_t k, __m256& w0, __m256& w1) {
  if constexpr (kFormat == Format::f32) {
    const auto* p = reinterpret_cast<const float*>(panel) + k * 16;
    w0 = _mm256_loadu_ps(p);
    w1 = _mm256_loadu_ps(p + 8);
  } else {
    const auto* p = reinterpret_cast<const __m128i*>(panel + k * 32);
    const __m128i h0 = _mm_loadu_si128(p), h1 = _mm_loadu_si128(p + 1);
    if constexpr (kFormat == Format::f16) {
      w0 = _mm256_cvtph_ps(h0);
      w1 = _mm256_cvtph_ps(h1);
    } else {  // bf16: the upper half of a float
      w0 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h0), 16));
      w1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h1), 16));
    }
  }
}

inline __m256 load_rows(const float* y, std::size_t n) {
  if (n == 8) return _mm256_loadu_ps(y);
  alignas(32) float lanes[8] = {};
  for (std::size_t i = 0; i < n; ++i) lanes[i] = y[i];
  return _mm256_load_ps(lanes);
}

inline std::size_t lanes(std::size_t n, std::size_t first) { return n <= first ? 0 : n - first < 8 ? n - first : 8; }

// Rows [r0, r0 + 16) ∩ [r0, row_end) of activation row b: y = v (+ bias when `final`).
inline void store16(const GemmArgs& a, std::size_t b, std::size_t r0, std::size_t row_end, __m256 v0, __m256 v1,
                    bool final) {
  float* y = a.y + b * a.rows + r0;
  const float* bias = final && a.bias ? a.bias + r0 : nullptr;
  const std::size_t n = row_end - r0;
  store_rows(y, bias, v0, lanes(n, 0));
  if (n > 8) store_rows(y + 8, bias ? bias + 8 : nullptr, v1, lanes(n, 8));
}

// Inputs are taken in blocks of kInputBlock, the partial sums waiting in y in between (a float
// stored and reloaded is the same float, so each output's chain of FMAs is unchanged). Measured on
// the benchmark machine, f32, batch 120, 1 thread, best of 3: 4096×4096: blocks of 128 / 256 /
// 512 / 1024 inputs / none: 55.7 / 44.6 / 42.7 / 42.0 / 40.4 ms; 4096×14336: 512 / 1024 / 2048 /
// none: 153 / 146 / 154 / 147 ms. With the accumulators in registers the blocking hardly matters
// here; 1024 keeps a panel's block at 64 KiB (L2) whatever the input count.
constexpr std::size_t kInputBlock = 1024;

// One panel × one tile of C activation rows (x: input-major, C values per input), inputs [k0, k1).
template <Format kFormat, int C>
void panel_tile(const GemmArgs& a, std::size_t p, std::size_t tile, std::size_t row_end, std::size_t k0,
                std::size_t k1) {
  const PackedView& w = *a.packed;
  const std::byte* panel = w.data + p * w.panel_bytes;
  const float* x = a.xf.data + (tile * a.cols + k0) * C;
  const std::size_t r0 = p * 16, n = row_end - r0;
  __m256 acc[C][2];
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    const std::size_t b = tile * C + c;
    if (k0 == 0 || b >= a.batch) {
      acc[c][0] = acc[c][1] = _mm256_setzero_ps();
    } else {  // the partial sums of the previous input block
      const float* y = a.y + b * a.rows + r0;
      acc[c][0] = load_rows(y, lanes(n, 0));
      acc[c][1] = n > 8 ? load_rows(y + 8, lanes(n, 8)) : _mm256_setzero_ps();
    }
  }
  for (std::size_t k = k0; k < k1; ++k, x += C) {
    __m256 w0, w1;
    load_weights<kFormat>(panel, k, w0, w1);
    #pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const __m256 xb = _mm256_broadcast_ss(x + c);
      acc[c][0] = _mm256_fmadd_ps(w0, xb, acc[c][0]);
      acc[c][1] = _mm256_fmadd_ps(w1, xb, acc[c][1]);
    }
  }
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    const std::size_t b = tile * C + c;
    if (b < a.batch) store16(a, b, r0, row_end, acc[c][0], acc[c][1], k1 == a.cols);
  }
}

// GEMV: two panels at a time, so that four FMA chains hide the FMA latency.
template <Format kFormat>
void gemv_panels(const GemmArgs& a, std::size_t p, std::size_t count, std::size_t row_end) {
  const PackedView& w = *a.packed;
  const std::byte* panel0 = w.data + p * w.panel_bytes;
  const std::byte* panel1 = count > 1 ? panel0 + w.panel_bytes : panel0;
  const float* x = a.xf.data;
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (std::size_t k = 0; k < a.cols; ++k) {
    const __m256 xb = _mm256_broadcast_ss(x + k);
    __m256 w0, w1, w2, w3;
    load_weights<kFormat>(panel0, k, w0, w1);
    load_weights<kFormat>(panel1, k, w2, w3);
    acc[0] = _mm256_fmadd_ps(w0, xb, acc[0]);
    acc[1] = _mm256_fmadd_ps(w1, xb, acc[1]);
    acc[2] = _mm256_fmadd_ps(w2, xb, acc[2]);
    acc[3] = _mm256_fmadd_ps(w3, xb, acc[3]);
  }
  store16(a, 0, p * 16, row_end, acc[0], acc[1], true);
  if (count > 1) store16(a, 0, p * 16 + 16, row_end, acc[2], acc[3], true);
}

template <Format kFormat>
void run(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
         std::size_t tile_end) {
  const std::size_t first = row_begin / 16, last = (row_end + 15) / 16;
  if (a.xf.tile_rows == 1) {
    for (std::size_t p = first; p < last; p += 2) gemv_panels<kFormat>(a, p, last - p < 2 ? 1 : 2, row_end);
    return;
  }
  for (std::size_t k0 = 0; k0 < a.cols; k0 += kInputBlock) {
    const std::size_t k1 = a.cols - k0 < kInputBlock ? a.cols : k0 + kInputBlock;
    for (std::size_t p = first; p < last; ++p) {
      for (std::size_t tile = tile_begin; tile < tile_end; ++tile) {
        panel_tile<kFormat, kFloatTileRows>(a, p, tile, row_end, k0, k1);
      }
    }
  }
}

}  // namespace

void gemm_float(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
                std::size_t tile_end) {
  if (a.packed == nullptr) {
    scalar::gemm_float(a, row_begin, row_end, tile_begin, tile_end);
    return;
  }
  switch (a.weight->format) {
    case Format::f32: run<Format::f32>(a, row_begin, row_end, tile_begin, tile_end); break;
    case Format::f16: run<Format::f16>(a, row_begin, row_end, tile_begin, tile_end); break;
    case Format::bf16: run<Format::bf16>(a, row_begin, row_end, tile_begin, tile_end); break;
    default: scalar::gemm_float(a, row_begin, row_end, tile_begin, tile_end); break;
  }
}

}  // namespace qlinear::kernels::avx2
