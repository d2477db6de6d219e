// The sums behind QuantStats (see error_sums.hpp), and the statistics made from them.

#include "formats/error_sums.hpp"

#include <cmath>
#include <limits>

namespace qlinear::formats {

// Written as eight lanes side by side so that the compiler vectorizes it at the baseline (SSE2:
// two doubles per instruction) without reassociating anything; a plain compare takes the maximum
// (std::fmax is a library call that its NaN rules keep from vectorizing, and no NaN reaches here).
void accumulate_error_ref(const float* original, const float* restored, std::size_t n, ErrorLanes& s) {
  const auto add = [&s](std::size_t lane, double w, double r) {
    const double e = w - r, a = e < 0 ? -e : e;
    s.error2[lane] += e * e;
    s.signal2[lane] += w * w;
    s.restored2[lane] += r * r;
    s.dot[lane] += w * r;
    s.max_abs[lane] = a > s.max_abs[lane] ? a : s.max_abs[lane];
  };
  std::size_t i = 0;
  for (; i + kErrorLanes <= n; i += kErrorLanes) {
    for (std::size_t j = 0; j < kErrorLanes; ++j) add(j, original[i + j], restored[i + j]);
  }
  for (std::size_t j = 0; i < n; ++i, ++j) add(j, original[i], restored[i]);
}

ErrorLanes zero_lanes() noexcept {
  ErrorLanes lanes;
  for (std::size_t j = 0; j < kErrorLanes; ++j) {
    lanes.error2[j] = lanes.signal2[j] = lanes.restored2[j] = lanes.dot[j] = lanes.max_abs[j] = 0.0;
  }
  return lanes;
}

ErrorSums collapse(const ErrorLanes& lanes) noexcept {
  ErrorSums s;
  for (std::size_t j = 0; j < kErrorLanes; ++j) {
    s.error2 += lanes.error2[j];
    s.signal2 += lanes.signal2[j];
    s.restored2 += lanes.restored2[j];
    s.dot += lanes.dot[j];
    s.max_abs = lanes.max_abs[j] > s.max_abs ? lanes.max_abs[j] : s.max_abs;
  }
  return s;
}

void add_to(ErrorSums& total, const ErrorSums& panel) noexcept {
  total.error2 += panel.error2;
  total.signal2 += panel.signal2;
  total.restored2 += panel.restored2;
  total.dot += panel.dot;
  total.max_abs = panel.max_abs > total.max_abs ? panel.max_abs : total.max_abs;
}

std::size_t error_panel_rows(std::size_t cols) noexcept {
  constexpr std::size_t kPanelValues = std::size_t{1} << 16;
  return cols >= kPanelValues ? 1 : kPanelValues / cols;
}

QuantStats stats_from_sums(const ErrorSums& sums, std::size_t count, std::size_t bytes) noexcept {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const double error2 = sums.error2, signal2 = sums.signal2, restored2 = sums.restored2;
  QuantStats s;
  s.rmse = count == 0 ? 0.0 : std::sqrt(error2 / static_cast<double>(count));
  s.max_abs = sums.max_abs;
  s.sqnr_db = error2 == 0.0 ? kInf : 10.0 * std::log10(signal2 / error2);
  if (signal2 == 0.0 && restored2 == 0.0) {
    s.cosine = 1.0;
  } else if (signal2 == 0.0 || restored2 == 0.0) {
    s.cosine = 0.0;
  } else {
    s.cosine = sums.dot / std::sqrt(signal2 * restored2);
  }
  s.bytes = bytes;
  s.compression = bytes == 0 ? 0.0 : 4.0 * static_cast<double>(count) / static_cast<double>(bytes);
  if (signal2 > 0.0) {
    s.rel_rmse = std::sqrt(error2 / signal2);
  } else {
    s.rel_rmse = error2 == 0.0 ? 0.0 : kInf;
  }
  return s;
}

}  // namespace qlinear::formats
