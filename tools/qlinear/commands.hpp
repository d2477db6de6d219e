#pragma once
// Each subcommand of the qlinear tool registers itself on the CLI11 app.

#include "core/text_table.hpp"

#include <CLI/CLI.hpp>

namespace qlinear::cli {

using core::format_count;
using core::format_fixed;
using core::format_shape;
using core::format_significant;
using core::Table;

void add_formats_command(CLI::App& app);

// Accepts a format name that parse_format() knows; otherwise a usage error listing the valid ones.
CLI::Validator format_name_validator();
void add_demo_command(CLI::App& app);
void add_quantize_command(CLI::App& app);
void add_plan_command(CLI::App& app);  // `qlinear plan`, beside quantize (whose options it takes)
void add_inspect_command(CLI::App& app);
void add_compare_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_calibrate_command(CLI::App& app);

// --threads N: threads that quantization and forward passes may use (qlinear::set_num_threads).
void add_threads_option(CLI::App& cmd);

// Accepts an output file name ending in .gguf or .safetensors; otherwise a usage error.
CLI::Validator output_file_validator();

}  // namespace qlinear::cli
