#pragma once
// The sums behind QuantStats, gathered so that they can be computed in pieces, on any thread, and
// still come out the same: a tensor is cut into panels of rows that depend on its shape alone, each
// panel sums into its own lanes, and the panels are added in order. measure() and the model
// layer's fused quantize-and-measure pass use the same cuts and the same lanes, so they agree bit
// for bit, whatever the thread count.

#include <qlinear/tensor.hpp>

#include <cstddef>

namespace qlinear::formats {

// Element i of a row goes to lane i % kErrorLanes. Eight lanes of doubles are two AVX2 vectors (or
// four SSE2 ones), and they keep the summation chains short.
inline constexpr std::size_t kErrorLanes = 8;

// Plain data (no member functions), so the per-ISA files can take it without any shared inline code.
struct ErrorLanes {
  alignas(32) double error2[kErrorLanes];     // Σ (w − ŵ)²
  alignas(32) double signal2[kErrorLanes];    // Σ w²
  alignas(32) double restored2[kErrorLanes];  // Σ ŵ²
  alignas(32) double dot[kErrorLanes];        // Σ w·ŵ
  alignas(32) double max_abs[kErrorLanes];    // max |w − ŵ|
};

// Adds n elements of a row (original w and restored ŵ) into the lanes. Every implementation does,
// per element, e = double(w) − double(ŵ) and then the four products and adds in double, in element
// order within each lane: the results are identical bit for bit. (A product of two floats is exact
// in double, so a fused multiply-add may stand for w·w, ŵ·ŵ and w·ŵ; never for e·e.)
using AccumulateErrorFn = void (*)(const float* original, const float* restored, std::size_t n,
                                   ErrorLanes& lanes);
void accumulate_error_ref(const float* original, const float* restored, std::size_t n, ErrorLanes& lanes);

struct ErrorSums {
  double error2 = 0, signal2 = 0, restored2 = 0, dot = 0, max_abs = 0;
};

ErrorLanes zero_lanes() noexcept;
ErrorSums collapse(const ErrorLanes& lanes) noexcept;  // lanes 0, 1, ..., 7 in that order
void add_to(ErrorSums& total, const ErrorSums& panel) noexcept;

// Rows per panel for rows of `cols` values: about 64 Ki values, at least one row.
std::size_t error_panel_rows(std::size_t cols) noexcept;

// The statistics of `count` weights stored in `bytes` bytes, from their sums.
QuantStats stats_from_sums(const ErrorSums& sums, std::size_t count, std::size_t bytes) noexcept;

}  // namespace qlinear::formats
