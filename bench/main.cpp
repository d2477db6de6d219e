// qlinear_bench: the benchmark of `qlinear bench` as a program of its own (built with
// -DQLINEAR_BUILD_BENCH=ON), e.g. `qlinear_bench --full --json-file results.json`.

#include "bench_runner.hpp"

#include <qlinear/error.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"qlinear_bench: QuantizedLinear::forward per format, shape, batch and thread count,\n"
               "against OpenBLAS and qlinear's f32 path measured in the same run."};
  qlinear::bench::Options options;
  qlinear::bench::add_options(app, options);
  try {
    app.parse(argc, argv);
    return qlinear::bench::run(options, std::cout);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    std::cerr << "qlinear_bench: error: " << e.what() << '\n';
    return 1;
  }
}
