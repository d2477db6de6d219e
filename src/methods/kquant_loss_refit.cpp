// The last step of KQuantGroupCodec::choose_compensated (kquant_codec.hpp): a block's params refitted
// by least squares on GPTQ's loss itself, for the levels the block's compensation chose.

#include "methods/kquant_codec.hpp"

#include "core/half.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

extern "C" {
// LAPACK (Fortran calling convention), provided by OpenBLAS.
void dposv_(const char* uplo, const int* n, const int* nrhs, double* a, const int* lda, double* b, const int* ldb,
            int* info);
}

namespace qlinear::methods {
namespace {

// An fp16 value; beyond the f16 range, the largest finite half (as the search rounds).
std::uint16_t to_half(float v) noexcept {
  std::uint16_t h = core::fp32_to_fp16(v);
  if ((h & 0x7c00u) == 0x7c00u) h = static_cast<std::uint16_t>((h & 0x8000u) | 0x7bffu);
  return h;
}

// Solves the symmetric positive definite g·θ = c (lower triangle of g given, n unknowns) in place:
// c receives θ. False when g is singular (a sub-block whose columns carry no loss).
bool solve_normal(std::vector<double>& g, std::vector<double>& c, std::size_t n) {
  const int ni = static_cast<int>(n), one = 1;
  int info = 0;
  // Row-major lower = column-major upper.
  dposv_("U", &ni, &one, g.data(), &ni, c.data(), &ni, &info);
  return info == 0;
}

}  // namespace

template <std::size_t S>
void refit_on_gptq_loss(const KQuantLayout& layout, const float* xb, std::size_t n, const float* u, std::size_t ld,
                        int rounds, KQuantParams<S>& best, double& best_loss, int* codes) {
  // GPTQ's loss of params p, column by column as choose_compensated simulates it, and the codes.
  float trial_seen[256];
  int trial_codes[256];
  const auto simulate = [&](const KQuantParams<S>& p, float* y, int* q) {
    std::copy(xb, xb + n, y);
    double loss = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t j = i / layout.sub;
      q[i] = nearest_code(layout, p.a[j], p.b[j], y[i]);
      const float error = (y[i] - code_value(layout, p.a[j], p.b[j], q[i])) / u[i * ld + i];
      loss += static_cast<double>(error) * error;
      const float* row = u + i * ld;
      for (std::size_t m = i + 1; m < n; ++m) y[m] -= error * row[m];
    }
    return loss;
  };
  // Least squares on GPTQ's loss itself for the fixed levels: w − ŵ = Uᵀ·e column by column, so the
  // errors e = U_bb⁻ᵀ·(x − Σ_j a_j·A_j + Σ_j b_j·M_j) (A_j: the levels L_i on sub-block j's columns,
  // M_j: its indicator) are linear in the sub-blocks' a_j = d·s_j and b_j = dmin·m_j. Alternately:
  // every sub-scale (and sub-min) jointly, d and dmin fixed, the codes rounded; then d (and dmin) for
  // the fixed sub-codes, rounded to fp16; each re-simulated and kept while the loss drops.
  const std::size_t live = (n + layout.sub - 1) / layout.sub;  // sub-blocks with real columns
  const std::size_t per = layout.has_min ? 2 : 1;               // unknowns per sub-block
  const std::size_t kk = 1 + per * live;                        // x, then A_j (and M_j) per sub-block
  std::vector<double> v(n * kk), e(n * kk);
  // e = U_bb⁻ᵀ·v for the first `count` columns of v: a triangular solve per column, in float on a
  // contiguous copy (the same loop as the simulation, vectorized), from the column's first nonzero
  // row (sub-block j's vectors are zero before it).
  std::vector<float> column(n);
  const auto transform = [&](std::size_t count) {
    for (std::size_t c = 0; c < count; ++c) {
      const std::size_t start = c == 0 ? 0 : ((c - 1) / per) * layout.sub;
      for (std::size_t i = 0; i < n; ++i) column[i] = static_cast<float>(v[i * kk + c]);
      for (std::size_t i = start; i < n; ++i) {
        const float ei = column[i] / u[i * ld + i];
        column[i] = ei;
        const float* row = u + i * ld;
        for (std::size_t m = i + 1; m < n; ++m) column[m] -= row[m] * ei;
      }
      for (std::size_t i = 0; i < n; ++i) e[i * kk + c] = column[i];
    }
  };
  const auto accept = [&](KQuantParams<S>& next) {
    set_sub_values(layout, next);
    const double loss = simulate(next, trial_seen, trial_codes);
    if (!(loss < best_loss)) return false;
    best = next, best_loss = loss;
    std::copy_n(trial_codes, n, codes);
    return true;
  };
  for (int round = 0; round < rounds; ++round) {
    bool improved = false;
    // The basis: x, then per sub-block s_j·L_i… as A_j (in units of a_j) and M_j.
    std::fill(v.begin(), v.end(), 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t j = i / layout.sub;
      v[i * kk] = xb[i];
      v[i * kk + 1 + per * j] = code_value(layout, 1.0f, 0.0f, codes[i]);
      if (per == 2) v[i * kk + 2 + per * j] = -1.0;
    }
    transform(kk);
    const std::size_t unknowns = kk - 1;
    std::vector<double> g(unknowns * unknowns, 0.0), c(unknowns, 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      const double* ei = e.data() + i * kk;
      for (std::size_t p = 0; p < unknowns; ++p) {
        c[p] += ei[1 + p] * ei[0];
        for (std::size_t q = 0; q <= p; ++q) g[p * unknowns + q] += ei[1 + p] * ei[1 + q];
      }
    }
    // The sub-codes (a_j / d, b_j / dmin rounded), when there are sub-codes to choose.
    const float d = core::fp16_to_fp32(best.d16), dmin = core::fp16_to_fp32(best.dmin16);
    if (layout.smin != layout.smax && d != 0.0f && std::isfinite(d) && solve_normal(g, c, unknowns)) {
      KQuantParams<S> next = best;
      for (std::size_t j = 0; j < live; ++j) {
        next.s[j] = static_cast<std::int8_t>(std::clamp(std::nearbyint(c[per * j] / d),
                                                        static_cast<double>(layout.smin),
                                                        static_cast<double>(layout.smax)));
        if (per == 2 && dmin != 0.0f) {
          next.m[j] = static_cast<std::uint8_t>(
              std::clamp(std::nearbyint(c[per * j + 1] / dmin), 0.0, static_cast<double>(layout.mmax)));
        }
      }
      if (accept(next)) improved = true;
      // The super-scales fitted to the continuous a_j (b_j) for those codes, the codes rounded again.
      double ss = 0, sa = 0, mm2 = 0, mb = 0;
      for (std::size_t j = 0; j < live; ++j) {
        ss += double(next.s[j]) * next.s[j], sa += double(next.s[j]) * c[per * j];
        if (per == 2) mm2 += double(next.m[j]) * next.m[j], mb += double(next.m[j]) * c[per * j + 1];
      }
      KQuantParams<S> again = next;
      if (ss > 0.0) again.d16 = to_half(static_cast<float>(sa / ss));
      if (mm2 > 0.0) again.dmin16 = to_half(static_cast<float>(mb / mm2));
      const float d2 = core::fp16_to_fp32(again.d16), dmin2 = core::fp16_to_fp32(again.dmin16);
      if ((again.d16 != next.d16 || again.dmin16 != next.dmin16) && d2 != 0.0f && std::isfinite(d2)) {
        for (std::size_t j = 0; j < live; ++j) {
          again.s[j] = static_cast<std::int8_t>(std::clamp(std::nearbyint(c[per * j] / d2),
                                                           static_cast<double>(layout.smin),
                                                           static_cast<double>(layout.smax)));
          if (per == 2 && dmin2 != 0.0f) {
            again.m[j] = static_cast<std::uint8_t>(
                std::clamp(std::nearbyint(c[per * j + 1] / dmin2), 0.0, static_cast<double>(layout.mmax)));
          }
        }
        if (accept(again)) improved = true;
      }
    }
    // d (and dmin) for the fixed sub-codes: the columns of A and M weighted by s_j and m_j.
    std::fill(v.begin(), v.end(), 0.0);
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t j = i / layout.sub;
      v[i * kk] = xb[i];
      v[i * kk + 1] = static_cast<double>(best.s[j]) * code_value(layout, 1.0f, 0.0f, codes[i]);
      if (per == 2) v[i * kk + 2] = -static_cast<double>(best.m[j]);
    }
    transform(1 + per);
    double aa = 0, ax = 0, am = 0, mm = 0, mx = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const double* ei = e.data() + i * kk;
      const double em = per == 2 ? -ei[2] : 0.0;
      aa += ei[1] * ei[1], ax += ei[1] * ei[0], am += ei[1] * em, mm += em * em, mx += em * ei[0];
    }
    KQuantParams<S> next = best;
    if (layout.has_min && mm > 0.0) {
      const double det = aa * mm - am * am;  // e_x ≈ d·e_a − dmin·e_m
      if (det > 0.0) {
        next.d16 = to_half(static_cast<float>((ax * mm - am * mx) / det));
        next.dmin16 = to_half(static_cast<float>((ax * am - aa * mx) / det));
      }
    } else if (aa > 0.0) {
      next.d16 = to_half(static_cast<float>(ax / aa));
    }
    if ((next.d16 != best.d16 || next.dmin16 != best.dmin16) && accept(next)) improved = true;
    if (!improved) break;
  }
}

#define QLINEAR_REFIT(S)                                                                                         \
  template void refit_on_gptq_loss<S>(const KQuantLayout&, const float*, std::size_t, const float*, std::size_t, \
                                      int, KQuantParams<S>&, double&, int*);
QLINEAR_REFIT(1)
QLINEAR_REFIT(8)
QLINEAR_REFIT(16)
#undef QLINEAR_REFIT

}  // namespace qlinear::methods
