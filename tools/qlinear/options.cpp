// Options and validators that several commands share.

#include "commands.hpp"

#include <qlinear/error.hpp>
#include <qlinear/format.hpp>
#include <qlinear/runtime.hpp>

#include <filesystem>

namespace qlinear::cli {

CLI::Validator format_name_validator() {
  return CLI::Validator(
      [](std::string& name) -> std::string {
        try {
          parse_format(name);
          return {};
        } catch (const Error& e) {
          return e.what();
        }
      },
      "FORMAT");
}

void add_threads_option(CLI::App& cmd) {
  cmd.add_option_function<std::size_t>(
         "--threads", [](const std::size_t& n) { set_num_threads(n); },
         "threads to use (default: QLINEAR_NUM_THREADS, else every hardware thread)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1024}));
}

CLI::Validator output_file_validator() {
  return CLI::Validator(
      [](std::string& name) -> std::string {
        const auto extension = std::filesystem::path(name).extension();
        if (extension == ".gguf" || extension == ".safetensors") return {};
        return "'" + name + "': the output's name must end in .gguf or .safetensors (the file type it gets)";
      },
      "FILE");
}

}  // namespace qlinear::cli
