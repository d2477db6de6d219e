// qlinear calibrate FILES... -o stats.gguf: the statistics of each weight's inputs (XᵀX, Σx², rows)
// from activations files and earlier statistics files, merged weight by weight, in qlinear's
// calibration GGUF (which llama.cpp also reads as an importance matrix).

#include "commands.hpp"

#include <qlinear/calibration_file.hpp>
#include <qlinear/error.hpp>

#include <filesystem>
#include <iostream>
#include <map>
#include <memory>

namespace qlinear::cli {
namespace {

struct CalibrateOptions {
  std::vector<std::string> inputs;
  std::string output;
  bool quiet = false;
};

void run_calibrate(const CalibrateOptions& o) {
  std::vector<CalibrationFile> files;
  for (const auto& path : o.inputs) files.push_back(CalibrationFile::open(path));
  // Entries in the order they first appear; each file's rows for a weight add to its count.
  std::vector<CalibrationEntry> entries;
  std::map<std::string, std::size_t> index;
  std::vector<std::string> datasets;
  for (const CalibrationFile& f : files) {
    for (const auto& d : f.datasets()) datasets.push_back(d);
    for (const auto& name : f.names()) {
      const std::size_t in = f.in_features(name);
      auto [it, inserted] = index.try_emplace(name, entries.size());
      if (inserted) {
        entries.push_back({name, in, 0});
      } else if (entries[it->second].in_features != in) {
        throw Error(ErrorCode::size_mismatch, f.path().string() + ": '" + name + "' has " + std::to_string(in) +
                                                  " inputs; an earlier file gave it " +
                                                  std::to_string(entries[it->second].in_features));
      }
      entries[it->second].rows += f.rows(name);
    }
  }
  // Each file's statistics are made on their own, then added in file order: calibrating A and B
  // gives exactly what merging calibrate(A) and calibrate(B) gives.
  write_calibration_statistics(o.output, entries, datasets, [&](std::size_t i) {
    const CalibrationEntry& e = entries[i];
    Calibration total(e.in_features);
    for (const CalibrationFile& f : files) {
      if (!f.contains(e.name)) continue;
      total.merge(f.calibration(e.name));
      f.release(e.name);
    }
    if (!o.quiet) std::cerr << "calibrate " << i + 1 << "/" << entries.size() << " " << e.name << "\n";
    return total;
  });
  Table table({{"weight", Table::Align::left}, {"inputs"}, {"rows"}, {"files", Table::Align::left}});
  for (const auto& e : entries) {
    std::string from;
    for (std::size_t f = 0; f < files.size(); ++f) {
      if (files[f].contains(e.name)) from += (from.empty() ? "" : ",") + std::to_string(f + 1);
    }
    table.add_row({e.name, format_count(e.in_features), format_count(e.rows), from});
  }
  table.print(std::cout);
  std::cout << "wrote " << o.output << ": statistics of " << entries.size() << " weights from " << files.size()
            << " file(s)\n";
}

}  // namespace

void add_calibrate_command(CLI::App& app) {
  auto o = std::make_shared<CalibrateOptions>();
  auto* cmd = app.add_subcommand("calibrate",
                                 "Accumulate and merge calibration data into a statistics file (XᵀX per weight)");
  cmd->footer(
      "Each input is an activations file (safetensors or GGUF holding, under each weight's name, the inputs\n"
      "that weight meets: [rows, in_features], F32, F16 or BF16) or a statistics file written by this\n"
      "command. For every weight the output holds XᵀX (F64, [in, in]), Σx² and the row count, summed over\n"
      "all inputs; it is also an importance matrix for llama.cpp (general.type imatrix, NAME.in_sum2,\n"
      "NAME.counts) and for qlinear quantize --imatrix. Use it with qlinear quantize --calibration.\n"
      "Example: qlinear calibrate acts_part1.safetensors acts_part2.safetensors -o stats.gguf");
  cmd->add_option("inputs", o->inputs, "activations or statistics files")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", o->output, "the statistics file to write (.gguf)")
      ->required()
      ->check(CLI::Validator(
          [](std::string& name) -> std::string {
            return std::filesystem::path(name).extension() == ".gguf" ? "" : "'" + name + "': must end in .gguf";
          },
          "FILE"));
  cmd->add_flag("-q,--quiet", o->quiet, "no progress output");
  cmd->callback([o] { run_calibrate(*o); });
}

}  // namespace qlinear::cli
