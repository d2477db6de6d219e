// qlinear: the command-line tool. Exit codes: 0 success, 1 bad input or a failed operation,
// 2 a usage error. Messages go to stderr.

#include "commands.hpp"

#include <qlinear/qlinear.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"qlinear: quantize neural-network weights and run quantized linear layers on CPU.\n"
               "Run 'qlinear COMMAND --help' for the options of a command."};
  app.set_version_flag("--version", std::string(qlinear::version_string));
  app.require_subcommand(1);
  qlinear::cli::add_formats_command(app);
  qlinear::cli::add_quantize_command(app);
  qlinear::cli::add_plan_command(app);
  qlinear::cli::add_inspect_command(app);
  qlinear::cli::add_compare_command(app);
  qlinear::cli::add_calibrate_command(app);
  qlinear::cli::add_convert_command(app);
  qlinear::cli::add_demo_command(app);
  qlinear::cli::add_bench_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const qlinear::Error& e) {
    std::cerr << "qlinear: error: " << e.what() << '\n';
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "qlinear: error: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
