#pragma once
// The benchmark behind `qlinear bench` and bench/qlinear_bench: QuantizedLinear::forward per format,
// shape, batch and thread count, with OpenBLAS and qlinear's own f32 path measured in the same run,
// a streaming-sum loop for the memory bandwidth, and quantization throughput.

#include <CLI/CLI.hpp>

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

namespace qlinear::bench {

struct Options {
  std::vector<std::string> shapes;       // "OUTxIN"
  std::vector<std::size_t> batches;
  std::vector<std::size_t> threads;      // empty: 1 and the machine's count
  std::vector<std::string> formats;
  std::vector<std::string> isas;         // levels to time each cell at, back to back; empty: the active one
  double min_time = 0.1;                 // seconds of repetitions per measurement
  std::size_t min_repeats = 5;
  bool full = false;                     // the whole matrix of shapes, batches and formats
  bool cold = false;                     // GEMV with weights from DRAM (a ring of copies)
  bool json = false;
  std::string json_path;                 // write JSON here instead of stdout
  bool skip_quantize = false;
  bool skip_stream = false;
};

// Registers the options on `app` (a subcommand or a program's own app).
void add_options(CLI::App& app, Options& options);

// Runs the benchmark and prints a table (or JSON); returns a process exit code.
int run(Options options, std::ostream& out);

}  // namespace qlinear::bench
