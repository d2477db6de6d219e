#pragma once
// The K-quants (q2_K, q3_K, q4_K, q5_K, q6_K) and the i-quants iq4_nl, iq4_xs seen as one
// parametrized codec, so that search and gptq share one way to choose a block's params, round a
// weight to the nearest level of fixed params, and write the block's bytes. A block (a super-block
// of 256; iq4_nl's block of 32) is cut into sub-blocks j of 16 or 32 weights, each dequantized as
//   w = a_j·L − b_j,   a_j = d·s_j,  b_j = dmin·m_j
// with L the level's value (an integer range, or iq4's 16-value grid), s_j and m_j the small integer
// sub-scale and sub-min codes, d and dmin fp16. a_j and b_j are the very floats the reference
// dequantizer computes (iq4_nl: s = 1, so a = d·1 = d), so the levels chosen here are those it reads.

#include <qlinear/format.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>

namespace qlinear::methods {

struct KQuantLayout {
  Format format;
  std::size_t block, sub;  // weights per block and per sub-block
  int code_max;            // stored codes in [0, code_max]
  int level_offset;        // L = code − level_offset (q3_K 4, q6_K 32), unless grid
  bool grid;               // iq4: L = kIq4nlValues[code]
  int smin, smax;          // sub-scale codes (iq4_nl: 1, 1, i.e. none)
  bool has_min;            // q2_K, q4_K, q5_K: sub-min codes in [0, mmax]
  int mmax;
  std::size_t block_bytes;
  std::size_t subs() const noexcept { return block / sub; }
};

// The layout of a format, or nothing for the other formats.
std::optional<KQuantLayout> kquant_layout(Format format) noexcept;

// One block's params; S = its sub-block count (16: q2_K, q3_K, q6_K; 8: q4_K, q5_K, iq4_xs;
// 1: iq4_nl).
template <std::size_t S>
struct KQuantParams {
  std::uint16_t d16 = 0, dmin16 = 0;  // as stored
  std::int8_t s[S] = {};              // sub-scale codes as multiplied (q3_K: stored − 32)
  std::uint8_t m[S] = {};             // sub-min codes
  float a[S] = {}, b[S] = {};         // d·s_j and dmin·m_j, as the dequantizer computes them
};

// a and b from d16, dmin16, s and m.
template <std::size_t S>
void set_sub_values(const KQuantLayout& l, KQuantParams<S>& p) noexcept;

// The stored code whose value a·L − b is nearest to x (ties and float near-ties decided by the
// values themselves, in double); the code of the level nearest 0 when a is 0. And that value.
int nearest_code(const KQuantLayout& l, float a, float b, float x) noexcept;
float code_value(const KQuantLayout& l, float a, float b, int code) noexcept;

// The params that minimize Σ importance·(x − ŵ)² over the block's `l.block` values: per sub-block
// a wide grid of scales (and mins), refitted by weighted least squares; the super-scales and the
// integer sub-scales chosen jointly over a grid of super-scales, then alternately refitted (super-
// scales by least squares over the block for fixed levels and sub-scales; each sub-scale and sub-min
// by least squares for fixed levels, its integer neighbours tried; levels rounded again). ggml's
// weighted quantizer with the same importance competes (its params, refined the same way, too): the
// result is never worse than it on this objective. importance >= 0; all zero is taken as uniform.
template <std::size_t S>
KQuantParams<S> search_kquant_block(const KQuantLayout& l, const float* x, const float* importance);

// Σ importance·(x − ŵ)² in double, every weight on its nearest_code (uniform weights when
// importance is null).
template <std::size_t S>
double kquant_block_error(const KQuantLayout& l, const KQuantParams<S>& p, const float* x, const float* importance);

// Writes one block: the stored codes (one per weight, in weight order) under params.
template <std::size_t S>
void encode_kquant_block(const KQuantLayout& l, const KQuantParams<S>& p, const std::uint8_t* codes,
                         std::byte* out) noexcept;

// The params stored in one block's bytes.
template <std::size_t S>
KQuantParams<S> decode_kquant_params(const KQuantLayout& l, const std::byte* block) noexcept;

// With the levels `codes` held (the block's n real columns, as the compensation through u chose them
// for `best`, whose GPTQ loss is best_loss): the sub-scales and sub-mins jointly, then d and dmin,
// refitted by least squares on that loss, rounded, re-simulated, kept while it drops, `rounds`
// times (kquant_loss_refit.cpp). Updates best, best_loss and codes.
template <std::size_t S>
void refit_on_gptq_loss(const KQuantLayout& l, const float* x, std::size_t n, const float* u, std::size_t ld,
                        int rounds, KQuantParams<S>& best, double& best_loss, int* codes);

// The codec gptq_quantize takes (codecs.hpp): a group is a block; a weight's level depends on its
// place in the group (its sub-block), which gptq passes as `pos`.
template <std::size_t S>
struct KQuantGroupCodec {
  using Params = KQuantParams<S>;
  KQuantLayout layout;
  // x and importance hold n <= layout.block real weights; the rest is padding (zero weights of zero
  // importance), as quantize() pads a row.
  Params choose(const float* x, const float* importance, std::size_t n) const;
  // For gptq: u holds the block's rows of GPTQ's factor (u[i·ld + k] = U[j+i, j+k]). The search's
  // finalists (its own, ggml's refined, ggml's) are judged by GPTQ's loss Σ_i ((x̃_i − ŵ_i) / U_ii)²,
  // x̃_i the weight as the block's own column-by-column compensation will have made it when it is
  // rounded (simulated exactly through u); then the best is refined (stage 3 of the search) on those
  // x̃, kRechoices times while the loss falls; last, the sub-codes and then d, dmin are refitted by
  // least squares on the loss itself for the fixed levels, kLossRefits times while it falls. With no
  // off-diagonal terms in u, x̃ = x and this is choose's result. Method::search with a calibration
  // calls it too, with the factor of the block's own part of XᵀX.
  Params choose_compensated(const float* x, const float* importance, std::size_t n, const float* u,
                            std::size_t ld) const;
  static constexpr int kRechoices = 2;  // rounds of refits on the compensated weights
  // Rounds of sub-codes, then d and dmin, refitted on GPTQ's loss (2 rounds: 0.3–0.8 % less error on
  // the bundled layers for q2_K/q4_K, 1.3× the real-data test's CPU time; 4 rounds: as 2).
  static constexpr int kLossRefits = 1;
  int nearest(const Params& p, std::size_t pos, float x) const noexcept {
    const std::size_t j = pos / layout.sub;
    return nearest_code(layout, p.a[j], p.b[j], x);
  }
  float value(const Params& p, std::size_t pos, int q) const noexcept {
    const std::size_t j = pos / layout.sub;
    return code_value(layout, p.a[j], p.b[j], q);
  }
};

}  // namespace qlinear::methods
