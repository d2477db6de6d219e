#pragma once
// The 32-weight block formats (q4_0, q4_1, q5_0, q5_1, q8_0) seen as one parametrized codec, so
// that search and gptq share one way to choose a block's scales, round a weight to the nearest
// level of fixed scales, and write the block's bytes:
//   without a minimum: w ≈ d·q,      q in [qmin, qmax]   (q4_0 [-8, 7], q5_0 [-16, 15], q8_0 [-127, 127])
//   with a minimum:    w ≈ d·q + m,  q in [0, qmax]      (q4_1 [0, 15], q5_1 [0, 31])
// d and m are stored as fp16; every float below is the one the reference dequantizer computes.

#include <qlinear/format.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace qlinear::methods {

struct LegacyCodec {
  Format format;
  int qmin, qmax;
  bool has_min;
  std::size_t block_bytes;
};

// The codec of a format, or nothing for the other formats.
std::optional<LegacyCodec> legacy_codec(Format format) noexcept;

struct LegacyParams {
  std::uint16_t d16 = 0, m16 = 0;  // as stored
  float d = 0.0f, m = 0.0f;        // their values
  float inv_d = 0.0f;              // 1/d, or 0 when d = 0
};

LegacyParams make_params(float d, float m) noexcept;  // rounds both to fp16

// The level nearest to x under fixed params (the level of 0 for d = 0), and its value.
inline int nearest_level(const LegacyCodec& c, const LegacyParams& p, float x) noexcept;
inline float level_value(const LegacyCodec& c, const LegacyParams& p, int q) noexcept {
  return c.has_min ? static_cast<float>(q) * p.d + p.m : static_cast<float>(q) * p.d;
}

// The params that minimize Σ importance·(x − value)² over a wide grid of candidate scales (both
// orientations of the signed formats, clipping and widening around the extremes, each refitted by
// weighted least squares and checked after fp16 rounding). x and importance hold n <= 32 values
// (importance >= 0; all zero is taken as uniform). Deterministic.
// With `tried`, every params evaluated is appended with its error, in the order evaluated: the
// result is the first of them with the least error.
struct ScoredParams {
  LegacyParams params;
  double error;
};
// `checked`: how many of the grid's candidates, ranked by their predicted error, are checked exactly
// (and so are among `tried`).
constexpr std::size_t kExactlyChecked = 4;
LegacyParams search_block(const LegacyCodec& c, const float* x, const float* importance, std::size_t n,
                          std::vector<ScoredParams>* tried = nullptr, std::size_t checked = kExactlyChecked);

// For gptq, and for search with a calibration (u then the factor of the block's own part of XᵀX):
// the params among the search's best `keep` candidates (in the order the search tried
// them) whose levels, chosen column by column with each column's error spread over the block's
// later columns through u (the block's rows of GPTQ's factor: u[i·ld + k] = U[j+i, j+k]), add the
// least to GPTQ's loss Σ_i (error_i / U_ii)² over the first `judged` columns (the real ones); then
// those params refitted by least squares on that loss to the compensated levels while it drops (up
// to kCompensatedRefits rounds). With a diagonal u and uniform U_ii: search_block's own choice.
// The formats with a minimum search wider before judging: their weighted reference is already
// strong, and checking 4 grid candidates exactly leaves q4_1's gptq at 0.508× of it (7: 0.501×,
// 10: 0.498×, all 63: 0.492× at twice the time).
constexpr std::size_t kCompensatedCheckedWithMin = 10;
constexpr int kCompensatedRefits = 4;
constexpr std::size_t kMaxJudged = 32;  // the most candidates `keep` may ask for
LegacyParams search_block_compensated(const LegacyCodec& c, const float* x, const float* importance, std::size_t n,
                                      std::size_t judged, const float* u, std::size_t ld, std::size_t keep);

// Writes one block: levels q[32] under params.
void encode_block(const LegacyCodec& c, const LegacyParams& p, const int* q, std::byte* out) noexcept;

inline int nearest_level(const LegacyCodec& c, const LegacyParams& p, float x) noexcept {
  float t = (c.has_min ? x - p.m : x) * p.inv_d;
  // Far outside the levels either way; keeps the rounding below in its valid range.
  t = t < -1048576.0f ? -1048576.0f : (t > 1048576.0f ? 1048576.0f : t);
  const float shifted = t + 12582912.0f;  // round to nearest, ties to even, as formats::nearest_int
  std::int32_t bits;
  __builtin_memcpy(&bits, &shifted, sizeof bits);
  int q = (bits & 0x007fffff) - 0x00400000;
  q = q < c.qmin ? c.qmin : q;
  return q > c.qmax ? c.qmax : q;
}

}  // namespace qlinear::methods
