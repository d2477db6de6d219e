#pragma once
// Runs the command-line tool the way a user does (tests that need it are compiled only where CMake
// passes QLINEAR_CLI_PATH): its exit code and everything it printed.

#include "temp_dir.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

#if defined(QLINEAR_CLI_PATH)

namespace qlinear::test {

struct CliRun {
  int code = -1;
  std::string output;  // stdout and stderr together
};

// `qlinear ARGS` (ARGS as a shell would split them), its output kept in DIR/cli.log.
inline CliRun run_cli(const TempDir& dir, const std::string& args) {
  const auto log = dir / "cli.log";
  const std::string command = std::string(QLINEAR_CLI_PATH) + " " + args + " > " + log.string() + " 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
}

}  // namespace qlinear::test

#endif
