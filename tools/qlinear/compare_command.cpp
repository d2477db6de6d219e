// qlinear compare A B: per-tensor error of B against A, any formats.

#include "commands.hpp"

#include <qlinear/model.hpp>

#include <iostream>
#include <optional>

namespace qlinear::cli {

void add_compare_command(CLI::App& app) {
  struct Options {
    std::string a, b, activations;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("compare", "Per-tensor error between two files of the same model (B against A)");
  cmd->add_option("a", o->a, "the reference: GGUF, safetensors or AXQT")->required();
  cmd->add_option("b", o->b, "the file to compare with it")->required();
  cmd->add_option("--activations", o->activations,
                  "real inputs of the weights (safetensors/GGUF, [rows, in] under each weight's name, or "
                  "statistics from `qlinear calibrate`): adds the output error ‖X(A−B)ᵀ‖ / ‖X·Aᵀ‖, per "
                  "tensor and pooled")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--json", o->json, "print JSON instead of a table");
  cmd->callback([o] {
    std::optional<CalibrationFile> activations;
    if (!o->activations.empty()) activations = CalibrationFile::open(o->activations);
    const ModelComparison c = compare_models(o->a, o->b, activations ? &*activations : nullptr);
    if (o->json) {
      std::cout << c.to_json() << '\n';
    } else {
      c.print(std::cout);
    }
  });
}

}  // namespace qlinear::cli
