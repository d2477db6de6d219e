// GPTQ's factorization and column loop (see gptq.hpp), on OpenBLAS: LAPACK's dpotrf/dtrtri for the
// factor and sgemm for the lazy update of the columns after each batch.
//
// The factor without a full inverse: GPTQ needs the upper U with Uᵀ·U = H⁻¹. With J the reversal
// permutation, J·H·J = L·Lᵀ (an ordinary Cholesky factorization) gives H = V·Vᵀ with V = J·L·J
// upper, so H⁻¹ = V⁻ᵀ·V⁻¹ and U = V⁻¹ = J·L⁻¹·J: one dpotrf and one triangular inverse (2n³/3
// flops), where inverting H and factorizing the inverse costs n³/3 + 2n³/3 + n³/3.
//
// Why LAPACK over OpenBLAS and not Eigen (Debian's 3.4.0), measured for n = 4096 on the build
// machine (AMD EPYC, 2 threads): Cholesky 0.27 s vs Eigen's LLT 2.0 s (0.68 s with -mavx2 -mfma
// -fopenmp), triangular inverse 0.26 s vs 5.2 s (1.8 s), the lazy-update GEMMs 0.71 s vs 3.7 s
// (0.75 s). This library is compiled for baseline x86-64, where Eigen has no AVX; OpenBLAS picks
// its kernels at run time and was already a dependency (docs/methods.md).
//
// Inside a batch the rows are independent: row r's later columns are updated by row r's own errors
// only. So each row runs its whole batch (params, rounding, in-batch updates) as one task on the
// pool, with the batch's square of U shared read-only; only the lazy update mixes rows (one GEMM).

#include "methods/gptq.hpp"

#include "core/thread_pool.hpp"

#include <qlinear/error.hpp>

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <string>

extern "C" {
// LAPACK (Fortran calling convention), provided by OpenBLAS.
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);
void dtrtri_(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info);
}

namespace qlinear::methods {
namespace {

// Columns per lazy batch: the updates inside a batch run row by row, the rest of the matrix is
// updated once per batch by one GEMM of inner dimension kBatch (GPTQ's "lazy batch" of 128).
constexpr std::size_t kBatch = 128;
// Batches up to this many columns copy their square of U next to each other (64 KiB for 128
// columns) instead of reading rows of U a page apart.
constexpr std::size_t kMaxCopiedBatch = 256;

// H restricted to columns order[begin, begin + n), reversed (J·H·J), with dead columns' diagonals
// set to 1 and λ added to the diagonal: the matrix upper_inverse_factor factorizes.
std::vector<double> reversed_block(std::span<const double> h, std::size_t in, std::span<const std::size_t> order,
                                   std::size_t begin, std::size_t n, double lambda) {
  std::vector<double> a(n * n);
  const auto gather = [&](std::size_t i) {
    const double* row = h.data() + order[begin + i] * in;
    double* out = a.data() + (n - 1 - i) * n + (n - 1);
    for (std::size_t j = 0; j < n; ++j) out[-static_cast<std::ptrdiff_t>(j)] = row[order[begin + j]];
  };
  if (n > 256) {
    core::parallel_for(n, gather);
  } else {
    for (std::size_t i = 0; i < n; ++i) gather(i);
  }
  for (std::size_t i = 0; i < n; ++i) {
    double& d = a[i * n + i];
    if (!(d > 0.0)) d = 1.0;
    d += lambda;
  }
  return a;
}

// Zeroes the weights of the dead columns (H_ii = 0: no input reached them) and returns
// λ = damping · mean(diag H), dead diagonals counted as 1.
double zero_dead_columns(std::span<const double> h, std::size_t in, std::span<const std::size_t> order,
                         double damping, std::span<float> w, std::size_t rows, std::size_t cols) {
  double mean_diag = 0.0;
  for (std::size_t i = 0; i < cols; ++i) {
    const double d = h[order[i] * in + order[i]];
    if (!(d > 0.0)) {
      for (std::size_t r = 0; r < rows; ++r) w[r * cols + i] = 0.0f;
    }
    mean_diag += d > 0.0 ? d : 1.0;
  }
  return damping * (mean_diag / static_cast<double>(cols));
}

// u (row-major, leading dimension ld) = the upper U with Uᵀ·U = A⁻¹, from a = J·A·J (n×n; LAPACK
// overwrites it). `first` is the block's first column, for the messages.
void upper_inverse_factor(std::vector<double>& a, std::size_t n, std::size_t first, double damping, float* u,
                          std::size_t ld) {
  const int ni = static_cast<int>(n);
  int info = 0;
  dpotrf_("L", &ni, a.data(), &ni, &info);
  if (info > 0) {
    throw Error(ErrorCode::invalid_argument,
                "XᵀX plus damping " + std::to_string(damping) + " × mean diagonal is not positive definite (pivot " +
                    std::to_string(first + n - static_cast<std::size_t>(info)) + "); raise the damping");
  }
  if (info < 0) throw Error(ErrorCode::internal, "dpotrf rejected argument " + std::to_string(-info));
  dtrtri_("L", "N", &ni, a.data(), &ni, &info);
  if (info != 0) {
    throw Error(ErrorCode::invalid_argument, "the Cholesky factor of the damped XᵀX is singular; raise the damping");
  }
  // Column-major L⁻¹(i, j) sits at a[i + j·n]; U(i, j) = L⁻¹(n−1−i, n−1−j) for j >= i. Read down
  // a's columns (contiguous), write along u's columns.
  const auto column = [&](std::size_t j) {
    const double* l = a.data() + (n - 1 - j) * n;
    for (std::size_t i = 0; i <= j; ++i) u[i * ld + j] = static_cast<float>(l[n - 1 - i]);
  };
  if (n > 256) {
    core::parallel_for(n, column);
  } else {
    for (std::size_t j = 0; j < n; ++j) column(j);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(u[i * ld + i]) || !(u[i * ld + i] > 0.0f)) {
      throw Error(ErrorCode::invalid_argument, "the inverse of the damped XᵀX overflows at column " +
                                                   std::to_string(first + i) + "; raise the damping");
    }
  }
}

// Codecs whose levels depend on the column's place in its group (the K-quants' sub-blocks) take it.
template <class Codec>
concept PositionalCodec = requires(const Codec& c, const typename Codec::Params& p) {
  c.nearest(p, std::size_t{0}, 0.0f);
};

// One row's columns [0, len) of a batch, in order (x: the row's compensated weights, updated in
// place). At each group start its params are chosen from the weights as compensated so far; each
// column is rounded to the nearest level and its scaled error spread over the batch's later columns.
template <class Codec>
void quantize_row_batch(const Codec& codec, float* x, std::size_t len, const float* u, std::size_t ld,
                        const float* importance, std::size_t group, typename Codec::Params* group_params,
                        typename Codec::Params fixed, std::int16_t* codes, float* err) {
  typename Codec::Params p = fixed;
  for (std::size_t k = 0; k < len; ++k) {
    if (group && k % group == 0) {
      p = codec.choose_compensated(x + k, importance + k, std::min(group, len - k), u + k * ld + k, ld);
      group_params[k / group] = p;
    }
    float value;
    int q;
    if constexpr (PositionalCodec<Codec>) {  // batches hold whole groups: k % group is the place
      q = codec.nearest(p, k % group, x[k]);
      value = codec.value(p, k % group, q);
    } else {
      q = codec.nearest(p, x[k]);
      value = codec.value(p, q);
    }
    codes[k] = static_cast<std::int16_t>(q);
    const float e = (x[k] - value) / u[k * ld + k];
    if (err) err[k] = e;
    const float* row = u + k * ld;
    for (std::size_t m = k + 1; m < len; ++m) x[m] -= row[m] * e;
  }
}

}  // namespace

std::vector<float> gptq_factor(const Calibration& calibration, std::span<const std::size_t> order, double damping,
                               std::span<float> w, std::size_t rows, std::size_t cols) {
  const std::span<const double> h = calibration.xtx();
  const double lambda = zero_dead_columns(h, cols, order, damping, w, rows, cols);
  std::vector<double> a = reversed_block(h, cols, order, 0, cols, lambda);
  std::vector<float> u(cols * cols, 0.0f);
  upper_inverse_factor(a, cols, 0, damping, u.data(), cols);
  return u;
}

std::vector<float> local_factors(const Calibration& calibration, std::span<const std::size_t> order, double damping,
                                 std::span<float> w, std::size_t rows, std::size_t cols, std::size_t window) {
  const std::span<const double> h = calibration.xtx();
  const double lambda = zero_dead_columns(h, cols, order, damping, w, rows, cols);
  std::vector<float> u(((cols + window - 1) / window) * window * window, 0.0f);
  for (std::size_t begin = 0; begin < cols; begin += window) {
    const std::size_t len = std::min(window, cols - begin);
    std::vector<double> a = reversed_block(h, cols, order, begin, len, lambda);
    upper_inverse_factor(a, len, begin, damping, u.data() + (begin / window) * window * window, window);
  }
  return u;
}

template <class Codec>
void gptq_quantize(const Codec& codec, std::span<float> w, std::size_t rows, std::size_t cols,
                   const std::vector<float>& u, std::span<const float> importance, std::size_t group,
                   std::vector<typename Codec::Params>& params, std::vector<std::int16_t>& codes) {
  const std::size_t n = cols;
  const std::size_t groups_per_row = group ? (cols + group - 1) / group : 1;
  // A batch holds whole groups, so a group's params see every update from the columns before it.
  const std::size_t batch = group == 0 ? kBatch : group * std::max<std::size_t>(1, kBatch / group);
  codes.assign(rows * cols, 0);
  if (group) params.assign(rows * groups_per_row, typename Codec::Params{});
  std::vector<float> ublock(std::min(batch, kMaxCopiedBatch) * std::min(batch, kMaxCopiedBatch));
  // The batch's scaled errors ([rows, batch]), the left factor of the lazy update.
  std::vector<float> eb(batch * rows);
  for (std::size_t b0 = 0; b0 < n; b0 += batch) {
    const std::size_t bn = std::min(batch, n - b0);
    const float* ub = u.data() + b0 * n + b0;
    std::size_t ld = n;
    if (bn <= kMaxCopiedBatch) {
      for (std::size_t i = 0; i < bn; ++i) std::copy_n(ub + i * n, bn, ublock.data() + i * bn);
      ub = ublock.data(), ld = bn;
    }
    core::parallel_for(rows, [&](std::size_t r) {
      quantize_row_batch(codec, w.data() + r * cols + b0, bn, ub, ld, importance.data() + b0, group,
                         group ? params.data() + r * groups_per_row + b0 / group : nullptr,
                         group ? typename Codec::Params{} : params[r], codes.data() + r * cols + b0,
                         eb.data() + r * bn);
    });
    // The columns after the batch: W[:, b0+bn:] −= Eb · U[b0:b0+bn, b0+bn:].
    if (b0 + bn < n) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<blasint>(rows),
                  static_cast<blasint>(n - b0 - bn), static_cast<blasint>(bn), -1.0f, eb.data(),
                  static_cast<blasint>(bn), u.data() + b0 * n + b0 + bn, static_cast<blasint>(n), 1.0f,
                  w.data() + b0 + bn, static_cast<blasint>(cols));
    }
  }
}

template <class Codec>
void local_quantize(const Codec& codec, std::span<float> w, std::size_t rows, std::size_t cols,
                    const std::vector<float>& factors, std::span<const float> importance, std::size_t window,
                    std::size_t group, std::vector<typename Codec::Params>& params, std::vector<std::int16_t>& codes) {
  const std::size_t windows = (cols + window - 1) / window;
  const std::size_t groups_per_row = group ? (cols + group - 1) / group : 1;
  const bool choose = group == window;
  codes.assign(rows * cols, 0);
  if (choose) params.assign(rows * windows, typename Codec::Params{});
  core::parallel_for(rows, [&](std::size_t r) {
    for (std::size_t b = 0; b < windows; ++b) {
      const std::size_t begin = b * window;
      typename Codec::Params* p = params.data() + r * groups_per_row + (group ? begin / group : 0);
      quantize_row_batch(codec, w.data() + r * cols + begin, std::min(window, cols - begin),
                         factors.data() + b * window * window, window, importance.data() + begin,
                         choose ? window : 0, p, *p, codes.data() + r * cols + begin, nullptr);
    }
  });
}

template void gptq_quantize<LegacyGroupCodec>(const LegacyGroupCodec&, std::span<float>, std::size_t, std::size_t,
                                              const std::vector<float>&, std::span<const float>, std::size_t,
                                              std::vector<LegacyParams>&, std::vector<std::int16_t>&);
template void gptq_quantize<AffineGroupCodec>(const AffineGroupCodec&, std::span<float>, std::size_t, std::size_t,
                                              const std::vector<float>&, std::span<const float>, std::size_t,
                                              std::vector<formats::AffineParams>&, std::vector<std::int16_t>&);
template void local_quantize<LegacyGroupCodec>(const LegacyGroupCodec&, std::span<float>, std::size_t, std::size_t,
                                               const std::vector<float>&, std::span<const float>, std::size_t,
                                               std::size_t, std::vector<LegacyParams>&, std::vector<std::int16_t>&);
template void local_quantize<AffineGroupCodec>(const AffineGroupCodec&, std::span<float>, std::size_t, std::size_t,
                                               const std::vector<float>&, std::span<const float>, std::size_t,
                                               std::size_t, std::vector<formats::AffineParams>&,
                                               std::vector<std::int16_t>&);

#define QLINEAR_GPTQ_KQUANT(S)                                                                                  \
  template void gptq_quantize<KQuantGroupCodec<S>>(const KQuantGroupCodec<S>&, std::span<float>, std::size_t,     \
                                                   std::size_t, const std::vector<float>&, std::span<const float>, \
                                                   std::size_t, std::vector<KQuantParams<S>>&,                    \
                                                   std::vector<std::int16_t>&);                                  \
  template void local_quantize<KQuantGroupCodec<S>>(const KQuantGroupCodec<S>&, std::span<float>, std::size_t,    \
                                                    std::size_t, const std::vector<float>&, std::span<const float>, \
                                                    std::size_t, std::size_t, std::vector<KQuantParams<S>>&,       \
                                                    std::vector<std::int16_t>&);
QLINEAR_GPTQ_KQUANT(1)
QLINEAR_GPTQ_KQUANT(8)
QLINEAR_GPTQ_KQUANT(16)
#undef QLINEAR_GPTQ_KQUANT

}  // namespace qlinear::methods
