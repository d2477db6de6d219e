// AVX-512 GEMM/GEMV for f32, f16 and bf16 weights with float activations, on the 16-row panels of
// packed.hpp: one zmm register holds the 16 weights of one input, so the micro-kernel is one
// weight load (and widening) and kFloatTileRows FMAs, each with its activation broadcast from
// memory, per input. Sixteen accumulators keep the two FMA pipes busy through the FMA latency and
// leave registers for the weights; tiles of 16 rows waste nothing on batches of 16, 32, 128 or 512.
// As at the AVX2 level, each output is one FMA chain over the inputs in order, whatever the thread
// count. The GEMV is the AVX2 level's (gemm_float below says why).
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c; nothing here may
// call an inline function of a shared header.

// GCC 12 reports the intrinsics' own "undefined" pass-through operands (_mm512_undefined_*, inside
// its avx512fintrin.h) as maybe-uninitialized once they are inlined here (GCC bug 105593, fixed
// in 13); set before any header so that it covers theirs.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/x86/avx2.hpp"
#include "kernels/x86/avx512.hpp"

#include <immintrin.h>

#include <cstdint>

namespace qlinear::kernels::avx512 {
namespace {

// The 16 weights of input k.
template <Format kFormat>
inline __m512 load_weights(const std::byte* panel, std::size_t k) {
  if constexpr (kFormat == Format::f32) {
    return _mm512_loadu_ps(reinterpret_cast<const float*>(panel) + k * 16);
  } else {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + k * 32));
    if constexpr (kFormat == Format::f16) {
      return _mm512_cvtph_ps(h);
    } else {  // bf16: the upper half of a float
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
  }
}

inline __mmask16 first_lanes(std::size_t n) { return static_cast<__mmask16>((1u << n) - 1); }

// Rows [r0, r0 + 16) ∩ [r0, row_end) of activation row b: y = v (+ bias when `final`).
inline void store16(const GemmArgs& a, std::size_t b, std::size_t r0, std::size_t row_end, __m512 v, bool final) {
  const __mmask16 m = first_lanes(row_end - r0 < 16 ? row_end - r0 : 16);
  if (final && a.bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, a.bias + r0));
  _mm512_mask_storeu_ps(a.y + b * a.rows + r0, m, v);
}

// Inputs in blocks of kInputBlock, the partial sums waiting in y in between, as at the AVX2 level
// (a float stored and reloaded is the same float: the FMA chain is unchanged).
constexpr std::size_t kInputBlock = 1024;

// One panel × one tile of C activation rows (x: input-major, C values per input), inputs [k0, k1).
template <Format kFormat, int C>
void panel_tile(const GemmArgs& a, std::size_t p, std::size_t tile, std::size_t row_end, std::size_t k0,
                std::size_t k1) {
  const PackedView& w = *a.packed;
  const std::byte* panel = w.data + p * w.panel_bytes;
  const float* x = a.xf.data + (tile * a.cols + k0) * C;
  const std::size_t r0 = p * 16;
  const __mmask16 m = first_lanes(row_end - r0 < 16 ? row_end - r0 : 16);
  __m512 acc[C];
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    const std::size_t b = tile * C + c;
    acc[c] = k0 == 0 || b >= a.batch ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, a.y + b * a.rows + r0);
  }
  for (std::size_t k = k0; k < k1; ++k, x += C) {
    const __m512 wk = load_weights<kFormat>(panel, k);
    #pragma GCC unroll 16
    for (int c = 0; c < C; ++c) acc[c] = _mm512_fmadd_ps(wk, _mm512_set1_ps(x[c]), acc[c]);
  }
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) {
    const std::size_t b = tile * C + c;
    if (b < a.batch) store16(a, b, r0, row_end, acc[c], k1 == a.cols);
  }
}

template <Format kFormat>
void run(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
         std::size_t tile_end) {
  const std::size_t first = row_begin / 16, last = (row_end + 15) / 16;
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
  // The GEMV stays the AVX2 level's: it reads each weight once, so memory bounds it, and the
  // 512-bit version (two panels, two chains each) measured 0.87–1.0× its speed in 8 of 9 runs
  // (f32 4096×4096, bench/README.md). Without a packed copy, the AVX2 entry runs the scalar kernel.
  if (a.packed == nullptr || a.xf.tile_rows == 1) {
    avx2::gemm_float(a, row_begin, row_end, tile_begin, tile_end);
    return;
  }
  switch (a.weight->format) {
    case Format::f32: run<Format::f32>(a, row_begin, row_end, tile_begin, tile_end); break;
    case Format::f16: run<Format::f16>(a, row_begin, row_end, tile_begin, tile_end); break;
    case Format::bf16: run<Format::bf16>(a, row_begin, row_end, tile_begin, tile_end); break;
    default: avx2::gemm_float(a, row_begin, row_end, tile_begin, tile_end); break;
  }
}

}  // namespace qlinear::kernels::avx512
