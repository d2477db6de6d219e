#include "progress.hpp"

#include <unistd.h>

namespace qlinear::cli {

Progress::Progress(std::string verb, bool quiet)
    : verb_(std::move(verb)), quiet_(quiet), terminal_(::isatty(STDERR_FILENO) == 1) {}

void Progress::update(const ModelProgress& p) {
  if (quiet_) return;
  const double fraction = p.bytes_total ? static_cast<double>(p.bytes_done) / static_cast<double>(p.bytes_total) : 1.0;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (!terminal_) {
    std::fprintf(stderr, "%s %zu/%zu %s (%.0f%%, %.1f s)\n", verb_.c_str(), p.index, p.count,
                 std::string(p.name).c_str(), 100 * fraction, elapsed);
    return;
  }
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::string name(p.name);
  if (name.size() > 40) name = "…" + name.substr(name.size() - 39);
  std::fprintf(stderr, "\r\033[K%s [%s] %3.0f%% %zu/%zu  %.1f s  %s", verb_.c_str(), bar.c_str(),
               100 * fraction, p.index, p.count, elapsed, name.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (drawn_) std::fputc('\n', stderr);
  drawn_ = false;
}

}  // namespace qlinear::cli
