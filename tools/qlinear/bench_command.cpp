// qlinear bench: time QuantizedLinear::forward against OpenBLAS and qlinear's f32 path (the
// benchmark of bench/, see bench/README.md). The default run takes a few seconds; --full runs the
// whole matrix.

#include "../../bench/bench_runner.hpp"
#include "commands.hpp"

#include <iostream>
#include <memory>

namespace qlinear::cli {

void add_bench_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Time forward() per format against OpenBLAS and the f32 path");
  auto options = std::make_shared<bench::Options>();
  bench::add_options(*cmd, *options);
  cmd->callback([options] { bench::run(*options, std::cout); });
}

}  // namespace qlinear::cli
