#pragma once
// Helpers shared by the AVX-512 kernel files, and included by them only: the code is compiled with
// the AVX-512 flags, so it has internal linkage (an unnamed namespace) and can never be merged with
// a copy compiled for another level.
//
// The integer kernels see the 8-row panels of packed.hpp through two register types with the same
// operations: Ymm, one panel (the GEMV, which streams the panels in memory order as the AVX2 GEMV
// does: two weight streams were measured slower there, bench/README.md), and Zmm, two neighbouring
// panels side by side, lanes 0–7 the first and 8–15 the second (the GEMM, two registers per tile).

#include "kernels/kernel_table.hpp"

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace qlinear::kernels::avx512 {
namespace {

inline std::int32_t read32(const std::byte* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m128i load128(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

// Keeps a running sum a chain (see avx2_gemm_int.cpp: GCC would otherwise build a tree and spill).
template <class T>
inline void chain(T& v) {
  __asm__("" : "+v"(v));
}

// One panel, 8 rows: the GEMV's registers.
struct Ymm {
  using I = __m256i;
  using F = __m256;
  static constexpr std::size_t kPanels = 1;  // per register
  static constexpr int kGroups = 1;          // registers per tile
  static constexpr int kChains = 4;          // sums per register and activation row
  static I zero() { return _mm256_setzero_si256(); }
  static I bytes(char b) { return _mm256_set1_epi8(b); }
  // From memory straight into the vector unit: set1 of a scalar read became a GPR load and a
  // GPR-to-vector vpbroadcastd, two slow operations per activation word in the inner loop.
  static I splat(const std::byte* p) { return _mm256_broadcastd_epi32(_mm_loadu_si32(p)); }
  static I load(const void* a, const void*) { return load256(a); }
  static F halves(const std::byte* a, const std::byte*) { return _mm256_cvtph_ps(load128(a)); }
  static F floats(const void* a, const void* b) { return _mm256_castsi256_ps(load(a, b)); }
  static I land(I a, I b) { return _mm256_and_si256(a, b); }
  static I shift4(I a) { return _mm256_srli_epi16(a, 4); }
  static I dot(I acc, I u, I q) { return _mm256_dpbusd_epi32(acc, u, q); }
  static I add(I a, I b) { return _mm256_add_epi32(a, b); }
  static I sub(I a, I b) { return _mm256_sub_epi32(a, b); }
  static I mul(I a, I b) { return _mm256_mullo_epi32(a, b); }
  template <int kShift>
  static I shl(I a) { return _mm256_slli_epi32(a, kShift); }
  // v + 0x10 in the bytes whose bit is set in the step's 32-bit mask (the fifth bits, packed.hpp).
  static I fifth(I v, const std::byte* a, const std::byte*) {
    return _mm256_mask_add_epi8(v, _cvtu32_mask32(static_cast<std::uint32_t>(read32(a))), v, bytes(0x10));
  }
  // The K-quants' operations (avx512_gemm_kquant.cpp).
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
  // Lanes [0, n) of v, plus bias where given, to y.
  static void store(float* y, const float* bias, F v, std::size_t n) {
    const __mmask8 m = static_cast<__mmask8>((1u << n) - 1);
    if (bias) v = _mm256_add_ps(v, _mm256_maskz_loadu_ps(m, bias));
    _mm256_mask_storeu_ps(y, m, v);
  }
};

// Two neighbouring panels, 16 rows: the GEMM's registers (the upper half from the second panel).
struct Zmm {
  using I = __m512i;
  using F = __m512;
  static constexpr std::size_t kPanels = 2;
  // Two registers (32 rows) share each activation broadcast: with one, the broadcasts bound the
  // loop, one load per vpdpbusd (measured: q4_0 GEMM 1.4× the AVX2 level, two: see bench/README.md).
  static constexpr int kGroups = 2;
  static constexpr int kChains = 1;
  static I zero() { return _mm512_setzero_si512(); }
  static I bytes(char b) { return _mm512_set1_epi8(b); }
  static I splat(const std::byte* p) { return _mm512_broadcastd_epi32(_mm_loadu_si32(p)); }
  static I load(const void* a, const void* b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(load256(a)), load256(b), 1);
  }
  static F halves(const std::byte* a, const std::byte* b) {
    return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(load128(a)), load128(b), 1));
  }
  static F floats(const void* a, const void* b) { return _mm512_castsi512_ps(load(a, b)); }
  static I land(I a, I b) { return _mm512_and_si512(a, b); }
  static I shift4(I a) { return _mm512_srli_epi16(a, 4); }
  static I dot(I acc, I u, I q) { return _mm512_dpbusd_epi32(acc, u, q); }
  static I add(I a, I b) { return _mm512_add_epi32(a, b); }
  static I sub(I a, I b) { return _mm512_sub_epi32(a, b); }
  static I mul(I a, I b) { return _mm512_mullo_epi32(a, b); }
  template <int kShift>
  static I shl(I a) { return _mm512_slli_epi32(a, kShift); }
  static I fifth(I v, const std::byte* a, const std::byte* b) {
    const std::uint64_t bits = static_cast<std::uint32_t>(read32(a)) |
                               (static_cast<std::uint64_t>(static_cast<std::uint32_t>(read32(b))) << 32);
    return _mm512_mask_add_epi8(v, _cvtu64_mask64(bits), v, bytes(0x10));
  }
  static I pairs(const std::byte* a, const std::byte* b) {
    return _mm512_cvtepi8_epi16(_mm256_inserti128_si256(_mm256_castsi128_si256(load128(a)), load128(b), 1));
  }
  static I lanes16(const void* t) { return _mm512_broadcast_i32x4(load128(t)); }
  static I lookup(I table, I index) { return _mm512_shuffle_epi8(table, index); }
  static I lor(I a, I b) { return _mm512_or_si512(a, b); }
  static I lxor(I a, I b) { return _mm512_xor_si512(a, b); }
  static I shl16(I a, int n) { return _mm512_slli_epi16(a, static_cast<unsigned>(n)); }
  static I shr16(I a, int n) { return _mm512_srli_epi16(a, static_cast<unsigned>(n)); }
  static I madd16(I a, I b) { return _mm512_madd_epi16(a, b); }
  static I low16(I a) { return _mm512_srai_epi32(_mm512_slli_epi32(a, 16), 16); }
  static I high16(I a) { return _mm512_srai_epi32(a, 16); }
  static F fzero() { return _mm512_setzero_ps(); }
  static F fsplat(const std::byte* p) { return _mm512_broadcastss_ps(_mm_load_ss(reinterpret_cast<const float*>(p))); }
  static F fmul(F a, F b) { return _mm512_mul_ps(a, b); }
  static F fma(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  static F to_float(I a) { return _mm512_cvtepi32_ps(a); }
  static void store(float* y, const float* bias, F v, std::size_t n) {
    const __mmask16 m = static_cast<__mmask16>((1u << n) - 1);
    if (bias) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, bias));
    _mm512_mask_storeu_ps(y, m, v);
  }
};

// The records one tile reads: kGroups registers of kPanels neighbouring panels each, advanced
// together record by record. Register g is loaded from first(g) (lanes 0–7) and last(g) (8–15).
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

// The outer loop of the integer kernels: every group of kGroups × kPanels panels in [row_begin,
// row_end) against every activation tile of C rows in [tile_begin, tile_end); panel_tile(panels,
// tile_records, out) computes out[c][g], the outputs of register g for activation row c, stored
// here with the bias. Panels past row_end (the matrix's last rows, or a call's) are replaced by the
// group's first and their outputs are not stored.
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

// The register plans the shared loops (vnni_gemm_int_body.hpp, vnni_gemm_kquant_body.hpp) take:
// one panel per ymm register for the GEMV, two per zmm register for the GEMM.
using Gemv = Ymm;
using Gemm = Zmm;

}  // namespace
}  // namespace qlinear::kernels::avx512
