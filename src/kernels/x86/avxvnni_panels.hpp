#pragma once
// Helpers shared by the avxvnni kernel files, and included by them only. Those files are compiled
// twice (avxvnni.hpp): QLINEAR_VNNI_NS names the namespace of the build being compiled, and the
// code has internal linkage (an unnamed namespace), so the two builds never share a function.
//
// The registers are ymm only, 8 rows of one panel of packed.hpp per register, and every operation
// but the dot product is an AVX2 one: the VEX build must run on CPUs without AVX-512, and it has
// only 16 vector registers (the EVEX build may use 32, which is why the kernels' tiles are sized
// for 16: both builds run the same plan).

#include "kernels/kernel_table.hpp"

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#if !defined(QLINEAR_VNNI_NS)
#error "define QLINEAR_VNNI_NS (avxvnni or avxvnni_evex) before including avxvnni_panels.hpp"
#endif

namespace qlinear::kernels::QLINEAR_VNNI_NS {
namespace {

inline std::int32_t read32(const std::byte* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Keeps a running sum a chain (see avx2_gemm_int.cpp: GCC would otherwise build a tree and spill).
// "x" names xmm0–15 only, which both builds have.
inline void chain(__m256i& v) { __asm__("" : "+x"(v)); }

// Σ of 4 unsigned×signed byte products added to each int32 lane of acc. The AVX-VNNI instruction
// (VEX) and the AVX-512 VNNI one on 256 bits (EVEX, with AVX-512 VL) compute the same thing.
inline __m256i dpbusd(__m256i acc, __m256i u, __m256i q) {
#if defined(QLINEAR_AVXVNNI_EVEX)
  return _mm256_dpbusd_epi32(acc, u, q);
#else
  return _mm256_dpbusd_avx_epi32(acc, u, q);
#endif
}

// One panel (8 rows) per register. kChains: independent sums per activation row, enough to hide
// vpdpbusd's latency (the GEMV's one row needs 4; the GEMM's 4 activation rows are 4 chains).
template <int kChainCount>
struct Ymm {
  using I = __m256i;
  using F = __m256;
  static constexpr std::size_t kPanels = 1;
  static constexpr int kGroups = 1;
  static constexpr int kChains = kChainCount;
  static I zero() { return _mm256_setzero_si256(); }
  static I bytes(char b) { return _mm256_set1_epi8(b); }
  // From memory straight into the vector unit (avx512_panels.hpp: a GPR load and vpbroadcastd
  // from a GPR were two slow operations per activation word).
  static I splat(const std::byte* p) { return _mm256_broadcastd_epi32(_mm_loadu_si32(p)); }
  static I load(const void* a, const void*) { return load256(a); }
  static F halves(const std::byte* a, const std::byte*) { return _mm256_cvtph_ps(load128(a)); }
  static F floats(const void* a, const void* b) { return _mm256_castsi256_ps(load(a, b)); }
  static I land(I a, I b) { return _mm256_and_si256(a, b); }
  static I shift4(I a) { return _mm256_srli_epi16(a, 4); }
  static I dot(I acc, I u, I q) { return dpbusd(acc, u, q); }
  static I add(I a, I b) { return _mm256_add_epi32(a, b); }
  static I sub(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I mul(I a, I b) { return _mm256_mullo_epi32(a, b); }
  template <int kShift>
  static I shl(I a) { return _mm256_slli_epi32(a, kShift); }
  // v | 0x10 in the bytes whose bit is set in the step's 32-bit mask (the fifth bits, packed.hpp;
  // bit 4 of v is clear): the mask's byte k spread over bytes 8k..8k+7, each tested for its bit.
  static I fifth(I v, const std::byte* a, const std::byte*) {
    const __m256i spread = _mm256_shuffle_epi8(
        splat(a), _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3,
                                   3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    return _mm256_or_si256(v, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), bytes(0x10)));
  }
  // The K-quants' operations (avxvnni_gemm_kquant.cpp).
  static I pairs(const std::byte* a, const std::byte*) { return _mm256_cvtepi8_epi16(load128(a)); }
  static I lanes16(const void* t) { return _mm256_broadcastsi128_si256(load128(t)); }
  static I lookup(I table, I index) { return _mm256_shuffle_epi8(table, index); }
  static I lor(I a, I b) { return _mm256_or_si256(a, b); }
  static I lxor(I a, I b) { return _mm256_xor_si256(a, b); }
  static I shl16(I a, int n) { return _mm256_slli_epi16(a, n); }
  static I shr16(I a, int n) { return _mm256_srli_epi16(a, n); }
  static I madd16(I a, I b) { return _mm256_madd_epi16(a, b); }
  static I low16(I a) { return _mm256_srai_epi32(_mm256_slli_epi32(a, 16), 16); }  // sign-extended
  static I high16(I a) { return _mm256_srai_epi32(a, 16); }
  static F fzero() { return _mm256_setzero_ps(); }
  static F fsplat(const std::byte* p) { return _mm256_broadcastss_ps(_mm_load_ss(reinterpret_cast<const float*>(p))); }
  static F fmul(F a, F b) { return _mm256_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static F to_float(I a) { return _mm256_cvtepi32_ps(a); }
  // Lanes [0, n) of v, plus bias where given, to y (no masked store without AVX-512).
  static void store(float* y, const float* bias, F v, std::size_t n) {
    if (n == 8) {
      if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias));
      _mm256_storeu_ps(y, v);
      return;
    }
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, v);
    for (std::size_t i = 0; i < n; ++i) y[i] = lanes[i] + (bias ? bias[i] : 0.0f);
  }
};

// The GEMV's registers (one activation row, 4 chains) and the GEMM's (tiles of 4 rows, one chain
// each: 4 integer and 4 float accumulators, the codes and a broadcast stay within 16 registers).
using Gemv = Ymm<4>;
using Gemm = Ymm<1>;

// The records one tile reads, advanced together record by record (one panel per register here;
// the shape is avx512_panels.hpp's, so that the kernels read alike).
template <class V>
struct Records {
  static constexpr std::size_t kCount = V::kGroups * V::kPanels;
  const std::byte* at[kCount];
  Records(const PackedView& w, const std::size_t (&panels)[kCount]) {
    for (std::size_t i = 0; i < kCount; ++i) at[i] = w.data + panels[i] * w.panel_bytes;
  }
  const std::byte* first(int g) const { return at[g * V::kPanels]; }
  const std::byte* last(int g) const { return at[g * V::kPanels + V::kPanels - 1]; }
  void advance(std::size_t bytes) {
    for (const std::byte*& p : at) p += bytes;
  }
};

// The outer loop of the integer kernels: every panel group in [row_begin, row_end) against every
// activation tile of C rows in [tile_begin, tile_end); panel_tile(panels, tile_records, out)
// computes out[c][g], stored here with the bias. Panels past row_end are replaced by the group's
// first and their outputs are not stored.
template <class V, int C, typename PanelTile>
inline void for_each_panel_and_tile(const GemmArgs& a, std::size_t row_begin, std::size_t row_end,
                                    std::size_t tile_begin, std::size_t tile_end, PanelTile&& panel_tile) {
  constexpr std::size_t kRows = 8 * V::kPanels, kStep = V::kPanels * V::kGroups;
  const ActivationTiles& t = a.act;
  const std::size_t tile_bytes = t.blocks * t.record_bytes;
  for (std::size_t p = row_begin / 8; p * 8 < row_end; p += kStep) {
    std::size_t panels[kStep];
    for (std::size_t i = 0; i < kStep; ++i) panels[i] = (p + i) * 8 < row_end ? p + i : p;
    for (std::size_t tile = tile_begin; tile < tile_end; ++tile) {
      typename V::F out[C][V::kGroups];
      panel_tile(panels, t.data + tile * tile_bytes, out);
      #pragma GCC unroll 4
      for (int g = 0; g < V::kGroups; ++g) {
        const std::size_t r0 = p * 8 + g * kRows;
        if (r0 >= row_end) break;
        const std::size_t n = row_end - r0 < kRows ? row_end - r0 : kRows;
        #pragma GCC unroll 16
        for (int c = 0; c < C; ++c) {
          const std::size_t b = tile * C + c;
          if (b < a.batch) V::store(a.y + b * a.rows + r0, a.bias ? a.bias + r0 : nullptr, out[c][g], n);
        }
      }
    }
  }
}

}  // namespace
}  // namespace qlinear::kernels::QLINEAR_VNNI_NS
