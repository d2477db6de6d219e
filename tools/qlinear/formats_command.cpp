// qlinear formats: the registry as a table.

#include "commands.hpp"

#include <qlinear/format.hpp>

#include <iostream>

namespace qlinear::cli {

void add_formats_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("formats", "List the weight formats qlinear knows");
  cmd->callback([] {
    Table table({{"name", Table::Align::left},
                 {"ggml id"},
                 {"block"},
                 {"bytes/block"},
                 {"bits/weight"},
                 {"description", Table::Align::left}});
    for (const FormatInfo& f : all_formats()) {
      table.add_row({std::string(f.name), f.ggml_type < 0 ? "-" : std::to_string(f.ggml_type),
                     std::to_string(f.block_size), std::to_string(f.block_bytes),
                     format_fixed(f.bits_per_weight, 1) + (f.affine ? " + scales" : ""),
                     std::string(f.description)});
    }
    table.print(std::cout);
    std::cout << "\nRows whose length is not a multiple of 32 are zero-padded inside qlinear.\n"
                 "The affine formats add an f32 scale (and a u8 zero point when asymmetric) per\n"
                 "tensor, per row or per group of inputs.\n";
  });
}

}  // namespace qlinear::cli
