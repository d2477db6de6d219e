#pragma once
// Progress of long work on stderr: a bar redrawn in place on a terminal, plain lines otherwise
// (logs and pipes), nothing with --quiet.

#include <qlinear/model.hpp>

#include <chrono>
#include <cstdio>
#include <string>

namespace qlinear::cli {

class Progress {
 public:
  Progress(std::string verb, bool quiet);
  void update(const ModelProgress& p);
  void finish();  // ends the bar's line

 private:
  std::string verb_;
  bool quiet_, terminal_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace qlinear::cli
