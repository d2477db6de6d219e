// qlinear convert IN OUT: between GGUF, safetensors and AXQT input, dequantizing where needed.

#include "commands.hpp"
#include "progress.hpp"

#include <qlinear/model.hpp>

#include <iostream>

namespace qlinear::cli {

void add_convert_command(CLI::App& app) {
  struct Options {
    std::string input, output, type = "f32";
    bool quiet = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "convert", "Convert GGUF, safetensors or AXQT files to GGUF or safetensors, dequantizing to floats");
  cmd->footer("Every float tensor is written as --type (f32, f16 or bf16); other tensors are copied.\n"
              "Example: qlinear convert model.axonml model.gguf");
  cmd->add_option("input", o->input, "GGUF, safetensors or AXQT file")->required();
  cmd->add_option("output", o->output, "output file: .gguf, or .safetensors")
      ->required()
      ->check(output_file_validator());
  cmd->add_option("-t,--type", o->type, "float format of the output tensors")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}))
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", o->quiet, "no progress output");
  add_threads_option(*cmd);
  cmd->callback([o] {
    QuantPlan plan;
    plan.default_format = parse_format(o->type);
    Progress progress("converting", o->quiet);
    const ModelReport report =
        quantize_model(o->input, o->output, plan, [&](const ModelProgress& p) { progress.update(p); });
    progress.finish();
    report.print(std::cout);
    std::cout << "wrote " << o->output << ": " << format_count(report.bytes_out) << " bytes\n";
  });
}

}  // namespace qlinear::cli
