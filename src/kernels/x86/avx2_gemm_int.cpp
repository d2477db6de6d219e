// AVX2 integer GEMM/GEMV on the packed panels of packed.hpp. Each 32-bit lane of a register holds
// one weight row of the panel, so a block's integer dot for 8 rows is 8 vpmaddubsw against 4
// broadcast activation bytes each, and the float work (convert, scale, accumulate) is one
// instruction per 8 rows instead of per row.
//
// Measured on the benchmark machine (AMD EPYC, 2 cores, see bench/README.md): vpmaddubsw,
// vpmaddwd and vfmadd share two pipes (2 per cycle together); vpaddw/vpaddd/vpand/vcvtdq2ps run
// beside them. So the kernels spend as few multiplies as they can: the 4-bit formats add 8
// vpmaddubsw results in 16 bits (|sum| <= 8·2·15·127 = 30480 fits) before one vpmaddwd per block,
// the 5-bit ones add 4 (4·2·31·127 = 31496), the 8-bit ones need a vpmaddwd per step.
// Compiled with -mavx2 -mfma -mf16c; nothing here may call an inline function of a shared header.

#include "kernels/scalar_kernels.hpp"
#include "kernels/x86/avx2.hpp"
#include "kernels/x86/avx2_store.hpp"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace qlinear::kernels::avx2 {
namespace {

template <CodeBits kBits, ScaleKind kScale, bool kMins, OffsetKind kOffset, int kConstant>
struct Packing {
  static constexpr CodeBits bits = kBits;
  static constexpr ScaleKind scale = kScale;
  static constexpr bool mins = kMins;
  static constexpr OffsetKind offset = kOffset;
  static constexpr int constant = kConstant;  // 8 or 16 for OffsetKind::constant
  static constexpr RecordLayout layout = record_layout(kBits, kScale, kMins, kOffset);
};

inline __m256i broadcast32(const std::byte* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

inline __m256 broadcast_float(const std::byte* p) {
  float v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_ps(v);
}

// An empty asm statement the compiler cannot look through: it keeps a running sum a chain. Left
// alone, GCC reassociates the integer additions into a tree that computes every product first and
// spills them to the stack (measured: q4_0 GEMM 4096×4096, batch 128, 1 thread: 145 → 214 GOP/s).
inline void chain(__m256i& v) { __asm__("" : "+x"(v)); }

inline __m256i load256(const std::byte* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline __m128i load128(const std::byte* p) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }

// The fifth bits of one step (a 32-bit mask, bit 4·r + i) as 0x10 in the step's bytes.
inline __m256i expand_fifth_bits(const std::byte* mask) {
  const __m256i spread = _mm256_shuffle_epi8(
      broadcast32(mask), _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2,
                                          2, 3, 3, 3, 3, 3, 3, 3, 3));
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
  return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

// The integer dots of one block, 8 rows × C activation rows: sum[c] lane r = Σ code·q over the
// block, before the offset. `codes` is the record's code area, `x` the activation record.
template <class P, int C>
inline void block_dots(const std::byte* rec, const std::byte* x, __m256i (&sum)[C]) {
  const std::byte* codes = rec + P::layout.codes;
  const __m256i ones = _mm256_set1_epi16(1);
  if constexpr (P::bits == CodeBits::eight) {
    // The stored u = w + 128 cannot go into vpmaddubsw as they are: a pair u₀q₀ + u₁q₁ reaches
    // 2·255·127 = 64770 and would saturate. Flipped back to the signed w, |w|·(q·sign w) pairs
    // stay within 2·128·127 = 32512; the sum is then Σ(u − 128)·q, and the kernel subtracts
    // o − 128 instead of o below.
    const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
    #pragma GCC unroll 16
    for (int s = 0; s < 8; ++s) {
      const __m256i w = _mm256_xor_si256(load256(codes + 32 * s), flip);
      const __m256i aw = _mm256_abs_epi8(w);  // |−128| = 128 is right as an unsigned byte
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const __m256i q = _mm256_sign_epi8(broadcast32(x + 32 * c + 4 * s), w);
        const __m256i d = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, q), ones);
        sum[c] = s == 0 ? d : _mm256_add_epi32(sum[c], d);
        chain(sum[c]);
      }
    }
  } else {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    __m256i acc[C];
    #pragma GCC unroll 16
    for (int j = 0; j < 4; ++j) {
      const __m256i v = load256(codes + 32 * j);
      __m256i lo = _mm256_and_si256(v, low4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
      if constexpr (P::bits == CodeBits::five) {
        lo = _mm256_or_si256(lo, expand_fifth_bits(rec + P::layout.high + 4 * j));
        hi = _mm256_or_si256(hi, expand_fifth_bits(rec + P::layout.high + 16 + 4 * j));
      }
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) {
        const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, broadcast32(x + 32 * c + 4 * j)),
                                           _mm256_maddubs_epi16(hi, broadcast32(x + 32 * c + 16 + 4 * j)));
        acc[c] = (j == 0 || (P::bits == CodeBits::five && j == 2)) ? p : _mm256_add_epi16(acc[c], p);
        chain(acc[c]);
      }
      if constexpr (P::bits == CodeBits::five) {
        if (j == 1) {
          #pragma GCC unroll 16
          for (int c = 0; c < C; ++c) sum[c] = _mm256_madd_epi16(acc[c], ones);
        }
      }
    }
    #pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      const __m256i d = _mm256_madd_epi16(acc[c], ones);
      sum[c] = P::bits == CodeBits::five ? _mm256_add_epi32(sum[c], d) : d;
    }
  }
}

// One panel against one tile of C activation rows: out[c] lane r = the product of row r of the
// panel with activation row c, bias not added. C = 1 is the GEMV: it streams the panels, which lie
// one after the other in memory, and leaves the fetching ahead to the hardware prefetchers
// (software prefetch 1–16 KiB ahead was measured and made no difference; bench/README.md).
template <class P, int C>
inline void panel_tile(const PackedView& w, std::size_t panel, const std::byte* act,
                       std::size_t act_record, __m256 (&out)[C]) {
  constexpr RecordLayout L = P::layout;
  const std::byte* rec = w.data + panel * w.panel_bytes;
  __m256 acc[C];
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) acc[c] = _mm256_setzero_ps();
  __m256i row_offset = _mm256_setzero_si256();
  if constexpr (P::offset == OffsetKind::per_row) {
    row_offset = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w.row_offsets + panel * 8));
  }
  for (std::size_t b = 0; b < w.blocks; ++b, rec += L.bytes, act += act_record) {
    __m256i sum[C];
    block_dots<P, C>(rec, act, sum);
    const std::byte* act_scale = act + C * 32;
    const std::byte* act_sum = act + C * 36;
    __m256 wscale = _mm256_setzero_ps();
    if constexpr (P::scale == ScaleKind::f16_per_block) wscale = _mm256_cvtph_ps(load128(rec));
    if constexpr (P::scale == ScaleKind::f32_per_block) wscale = _mm256_loadu_ps(reinterpret_cast<const float*>(rec));
    __m256i offset = row_offset;
    if constexpr (P::offset == OffsetKind::per_block) offset = load256(rec + L.offsets);
    if constexpr (P::bits == CodeBits::eight && P::offset != OffsetKind::constant) {
      offset = _mm256_sub_epi32(offset, _mm256_set1_epi32(128));  // block_dots took 128 off already
    }
    #pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      if constexpr (P::offset == OffsetKind::constant && P::bits == CodeBits::eight) {
        static_assert(P::constant == 128);  // taken off in block_dots
      } else if constexpr (P::offset == OffsetKind::constant) {
        constexpr int kShift = P::constant == 8 ? 3 : 4;
        static_assert(P::constant == 8 || P::constant == 16);
        sum[c] = _mm256_sub_epi32(sum[c], _mm256_slli_epi32(broadcast32(act_sum + 4 * c), kShift));
      } else if constexpr (P::offset != OffsetKind::none) {
        sum[c] = _mm256_sub_epi32(sum[c], _mm256_mullo_epi32(offset, broadcast32(act_sum + 4 * c)));
      }
      const __m256 dx = broadcast_float(act_scale + 4 * c);
      const __m256 scale = P::scale == ScaleKind::f32_per_row ? dx : _mm256_mul_ps(wscale, dx);
      acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[c]), scale, acc[c]);
    }
    if constexpr (P::mins) {
      const __m256 m = _mm256_cvtph_ps(load128(rec + L.mins));
      #pragma GCC unroll 16
      for (int c = 0; c < C; ++c) acc[c] = _mm256_fmadd_ps(m, broadcast_float(act + C * 40 + 4 * c), acc[c]);
    }
  }
  if constexpr (P::scale == ScaleKind::f32_per_row) {
    const __m256 s = _mm256_loadu_ps(w.row_scales + panel * 8);
    #pragma GCC unroll 16
    for (int c = 0; c < C; ++c) acc[c] = _mm256_mul_ps(acc[c], s);
  }
  #pragma GCC unroll 16
  for (int c = 0; c < C; ++c) out[c] = acc[c];
}

template <class P, int C>
void run(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
         std::size_t tile_end) {
  for_each_panel_and_tile<C>(a, row_begin, row_end, tile_begin, tile_end,
                             [&](std::size_t panel, const std::byte* act, __m256 (&out)[C]) {
                               panel_tile<P, C>(*a.packed, panel, act, a.act.record_bytes, out);
                             });
}

using RunFn = void (*)(const GemmArgs&, std::size_t, std::size_t, std::size_t, std::size_t);

template <class P>
RunFn pick_tile(std::size_t tile_rows) {
  return tile_rows == 1 ? &run<P, 1> : &run<P, kIntTileRows>;
}

template <CodeBits kBits, ScaleKind kScale, OffsetKind kOffset>
RunFn pick_affine(const PackedView& w, std::size_t tile_rows) {
  if constexpr (kOffset == OffsetKind::constant) {
    return pick_tile<Packing<kBits, kScale, false, kOffset, kBits == CodeBits::eight ? 128 : 8>>(tile_rows);
  } else {
    (void)w;
    return pick_tile<Packing<kBits, kScale, false, kOffset, 0>>(tile_rows);
  }
}

template <CodeBits kBits, ScaleKind kScale>
RunFn pick_offset(const PackedView& w, std::size_t tile_rows) {
  switch (w.offset) {
    case OffsetKind::none: return pick_affine<kBits, kScale, OffsetKind::none>(w, tile_rows);
    case OffsetKind::constant: return pick_affine<kBits, kScale, OffsetKind::constant>(w, tile_rows);
    case OffsetKind::per_block: return pick_affine<kBits, kScale, OffsetKind::per_block>(w, tile_rows);
    case OffsetKind::per_row: return pick_affine<kBits, kScale, OffsetKind::per_row>(w, tile_rows);
  }
  return nullptr;
}

// The ggml formats, each against q8 activations (q8_0's codes and scales; the block sums serve the
// offset and the min): weights × activations, as DESIGN.md names kernels.
constexpr auto kF16 = ScaleKind::f16_per_block;
using q4_0_q8_0 = Packing<CodeBits::four, kF16, false, OffsetKind::constant, 8>;
using q4_1_q8_1 = Packing<CodeBits::four, kF16, true, OffsetKind::none, 0>;
using q5_0_q8_0 = Packing<CodeBits::five, kF16, false, OffsetKind::constant, 16>;
using q5_1_q8_1 = Packing<CodeBits::five, kF16, true, OffsetKind::none, 0>;
using q8_0_q8_0 = Packing<CodeBits::eight, kF16, false, OffsetKind::constant, 128>;  // q8_1 weights too

RunFn pick(Format format, const PackedView& w, std::size_t tile_rows) {
  switch (format) {
    case Format::q4_0: return pick_tile<q4_0_q8_0>(tile_rows);
    case Format::q4_1: return pick_tile<q4_1_q8_1>(tile_rows);
    case Format::q5_0: return pick_tile<q5_0_q8_0>(tile_rows);
    case Format::q5_1: return pick_tile<q5_1_q8_1>(tile_rows);
    case Format::q8_0:
    case Format::q8_1: return pick_tile<q8_0_q8_0>(tile_rows);
    case Format::i4:
      return w.scale == ScaleKind::f32_per_row ? pick_offset<CodeBits::four, ScaleKind::f32_per_row>(w, tile_rows)
                                               : pick_offset<CodeBits::four, ScaleKind::f32_per_block>(w, tile_rows);
    case Format::i8:
      return w.scale == ScaleKind::f32_per_row ? pick_offset<CodeBits::eight, ScaleKind::f32_per_row>(w, tile_rows)
                                               : pick_offset<CodeBits::eight, ScaleKind::f32_per_block>(w, tile_rows);
    default: return nullptr;
  }
}

}  // namespace

void gemm_quantized(const GemmArgs& a, std::size_t row_begin, std::size_t row_end, std::size_t tile_begin,
                    std::size_t tile_end) {
  const RunFn fn = a.packed ? pick(a.weight->format, *a.packed, a.act.tile_rows) : nullptr;
  if (fn == nullptr) {
    scalar::gemm_quantized(a, row_begin, row_end, tile_begin, tile_end);
    return;
  }
  fn(a, row_begin, row_end, tile_begin, tile_end);
}

}  // namespace qlinear::kernels::avx2
