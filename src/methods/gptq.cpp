// GPTQ's factorization and column loop (see gptq.hpp), on OpenBLAS: LAPACK's dpotrf/dtrtri for the
// factor, sger for the updates inside a batch of columns and sgemm for the lazy update of the
// columns after it.
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

// Columns per lazy batch: the updates inside a batch are rank-1 (sger), the rest of the matrix is
// updated once per batch by one GEMM of inner dimension kBatch (GPTQ's "lazy batch" of 128).
constexpr std::size_t kBatch = 128;
// A group's weights are gathered on the stack up to this many (larger groups use the heap).
constexpr std::size_t kMaxGroupOnStack = 256;

// Codecs whose levels depend on the column's place in its group (the K-quants' sub-blocks) take it.
template <class Codec>
concept PositionalCodec = requires(const Codec& c, const typename Codec::Params& p) {
  c.nearest(p, std::size_t{0}, 0.0f);
};

}  // namespace

std::vector<float> gptq_factor(const Calibration& calibration, std::span<const std::size_t> order, double damping,
                               std::span<float> w, std::size_t rows, std::size_t cols) {
  const std::size_t n = cols;
  const std::span<const double> h = calibration.xtx();
  std::vector<double> a(n * n);
  // a = J·P·H·Pᵀ·J (H symmetric, so row- and column-major agree), dead columns fixed below.
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) a[(n - 1 - i) * n + (n - 1 - j)] = h[order[i] * n + order[j]];
  }
  double mean_diag = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    double& d = a[(n - 1 - i) * n + (n - 1 - i)];
    if (!(d > 0.0)) {
      d = 1.0;
      for (std::size_t r = 0; r < rows; ++r) w[r * cols + i] = 0.0f;
    }
    mean_diag += d;
  }
  mean_diag /= static_cast<double>(n);
  const double lambda = damping * mean_diag;
  for (std::size_t i = 0; i < n; ++i) a[i * n + i] += lambda;

  const int ni = static_cast<int>(n);
  int info = 0;
  dpotrf_("L", &ni, a.data(), &ni, &info);
  if (info > 0) {
    throw Error(ErrorCode::invalid_argument,
                "XᵀX plus damping " + std::to_string(damping) + " × mean diagonal is not positive definite (pivot " +
                    std::to_string(n - static_cast<std::size_t>(info)) + "); raise the damping");
  }
  if (info < 0) throw Error(ErrorCode::internal, "dpotrf rejected argument " + std::to_string(-info));
  dtrtri_("L", "N", &ni, a.data(), &ni, &info);
  if (info != 0) {
    throw Error(ErrorCode::invalid_argument, "the Cholesky factor of the damped XᵀX is singular; raise the damping");
  }
  // Column-major L⁻¹(i, j) sits at a[i + j·n]; U(i, j) = L⁻¹(n−1−i, n−1−j) for j >= i.
  std::vector<float> u(n * n, 0.0f);
  // Read down a's columns (contiguous), write along u's columns.
  core::parallel_for(n, [&](std::size_t j) {
    const double* column = a.data() + (n - 1 - j) * n;
    for (std::size_t i = 0; i <= j; ++i) u[i * n + j] = static_cast<float>(column[n - 1 - i]);
  });
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(u[i * n + i]) || !(u[i * n + i] > 0.0f)) {
      throw Error(ErrorCode::invalid_argument,
                  "the inverse of the damped XᵀX overflows at column " + std::to_string(i) + "; raise the damping");
    }
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
  // Params and levels of the batch are kept [group or column][row], so that one column's rows are
  // contiguous; they go to their [row][...] places once per batch.
  const std::size_t batch_groups = group ? batch / group : 0;
  std::vector<typename Codec::Params> pb(group ? batch_groups * rows : 0);
  if (group) params.assign(rows * groups_per_row, typename Codec::Params{});
  std::vector<std::int16_t> cb(batch * rows);
  std::vector<float> ublock(kMaxGroupOnStack * kMaxGroupOnStack);

  // The batch's columns, transposed ([batch, rows]), so that one column is contiguous; and their
  // scaled errors, the left factor of the lazy update.
  std::vector<float> wb(batch * rows), eb(batch * rows);
  for (std::size_t b0 = 0; b0 < n; b0 += batch) {
    const std::size_t bn = std::min(batch, n - b0);
    core::parallel_for(rows, [&](std::size_t r) {
      for (std::size_t k = 0; k < bn; ++k) wb[k * rows + r] = w[r * cols + b0 + k];
    });
    for (std::size_t k = 0; k < bn; ++k) {
      const std::size_t j = b0 + k;
      float* column = wb.data() + k * rows;
      if (group && j % group == 0) {
        const std::size_t len = std::min(group, n - j);
        typename Codec::Params* target = pb.data() + (k / group) * rows;
        // The group's square of U, contiguous: every row's choice reads it (for a 32-block, 4 KiB
        // instead of 32 rows of U a page apart).
        const std::size_t ub = std::min(len, kMaxGroupOnStack);
        for (std::size_t i = 0; i < ub; ++i) std::copy_n(u.data() + (j + i) * n + j, ub, ublock.data() + i * ub);
        core::parallel_for(rows, [&](std::size_t r) {
          float x[kMaxGroupOnStack];
          std::vector<float> heap(len > kMaxGroupOnStack ? len : 0);
          float* xs = len > kMaxGroupOnStack ? heap.data() : x;
          for (std::size_t i = 0; i < len; ++i) xs[i] = wb[(k + i) * rows + r];
          target[r] = len <= kMaxGroupOnStack
                          ? codec.choose_compensated(xs, importance.data() + j, len, ublock.data(), ub)
                          : codec.choose_compensated(xs, importance.data() + j, len, u.data() + j * n + j, n);
        });
      }
      const typename Codec::Params* p = group ? pb.data() + (k / group) * rows : params.data();
      const float diag = u[j * n + j];
      float* err = eb.data() + k * rows;
      std::int16_t* level = cb.data() + k * rows;
      if constexpr (PositionalCodec<Codec>) {
        const std::size_t pos = j % group;
        for (std::size_t r = 0; r < rows; ++r) {
          const int q = codec.nearest(p[r], pos, column[r]);
          level[r] = static_cast<std::int16_t>(q);
          err[r] = (column[r] - codec.value(p[r], pos, q)) / diag;
        }
      } else {
        for (std::size_t r = 0; r < rows; ++r) {
          const int q = codec.nearest(p[r], column[r]);
          level[r] = static_cast<std::int16_t>(q);
          err[r] = (column[r] - codec.value(p[r], q)) / diag;
        }
      }
      // The rest of the batch: wb[k', :] −= U[j, b0 + k'] · err for k' > k.
      if (k + 1 < bn) {
        cblas_sger(CblasRowMajor, static_cast<blasint>(bn - k - 1), static_cast<blasint>(rows), -1.0f,
                   u.data() + j * n + j + 1, 1, err, 1, wb.data() + (k + 1) * rows, static_cast<blasint>(rows));
      }
    }
    core::parallel_for(rows, [&](std::size_t r) {
      for (std::size_t k = 0; k < bn; ++k) codes[r * cols + b0 + k] = cb[k * rows + r];
      if (group) {
        for (std::size_t g = 0; g * group < bn; ++g) params[r * groups_per_row + b0 / group + g] = pb[g * rows + r];
      }
    });
    // The columns after the batch: W[:, b0+bn:] −= Ebᵀ · U[b0:b0+bn, b0+bn:].
    if (b0 + bn < n) {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<blasint>(rows),
                  static_cast<blasint>(n - b0 - bn), static_cast<blasint>(bn), -1.0f, eb.data(),
                  static_cast<blasint>(rows), u.data() + b0 * n + b0 + bn, static_cast<blasint>(n), 1.0f,
                  w.data() + b0 + bn, static_cast<blasint>(cols));
    }
  }
}

template void gptq_quantize<LegacyGroupCodec>(const LegacyGroupCodec&, std::span<float>, std::size_t, std::size_t,
                                              const std::vector<float>&, std::span<const float>, std::size_t,
                                              std::vector<LegacyParams>&, std::vector<std::int16_t>&);
template void gptq_quantize<AffineGroupCodec>(const AffineGroupCodec&, std::span<float>, std::size_t, std::size_t,
                                              const std::vector<float>&, std::span<const float>, std::size_t,
                                              std::vector<formats::AffineParams>&, std::vector<std::int16_t>&);

#define QLINEAR_GPTQ_KQUANT(S)                                                                                  \
  template void gptq_quantize<KQuantGroupCodec<S>>(const KQuantGroupCodec<S>&, std::span<float>, std::size_t,     \
                                                   std::size_t, const std::vector<float>&, std::span<const float>, \
                                                   std::size_t, std::vector<KQuantParams<S>>&,                    \
                                                   std::vector<std::int16_t>&);
QLINEAR_GPTQ_KQUANT(1)
QLINEAR_GPTQ_KQUANT(8)
QLINEAR_GPTQ_KQUANT(16)
#undef QLINEAR_GPTQ_KQUANT

}  // namespace qlinear::methods
