// `qlinear quantize --target-bpw` as a user runs it: the plan printed by --dry-run (and nothing
// written), the report's alternatives, and the errors a person meets.

#include "cli_run.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

#if defined(QLINEAR_CLI_PATH)

namespace qlinear {
namespace {

using test::CliRun;
using test::run_cli;

const std::string kWeights = test::repo_data("ppocrv4_rec_linear.safetensors");

// A small budget run: the legacy candidates and two affine ones, weight error (no calibration).
const std::string kCandidates = " --candidates q4_0,q8_0,i4/g32/asym,i8/channel";

TEST(CliBudget, DryRunPrintsThePlanAndWritesNothing) {
  test::TempDir dir;
  const CliRun r = run_cli(dir, "quantize " + kWeights + " " + (dir / "out.gguf").string() + " --target-bpw 6" +
                                    kCandidates + " --dry-run");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "out.gguf"));
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"cli.log"});
  EXPECT_NE(r.output.find("size budget: target 6.000 bits/weight"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("29 tensors decided"), std::string::npos) << r.output;
  // linear_85.w_0 (120 inputs) can take only the affine candidates; its row lists the other one.
  EXPECT_NE(r.output.find("budget: i"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("i8/channel 8.27:"), std::string::npos) << r.output;
}

TEST(CliBudget, ReportListsEveryAlternativeAndKeepsTheBudget) {
  test::TempDir dir;
  const std::string out = (dir / "out.gguf").string(), json = (dir / "r.json").string();
  const CliRun r =
      run_cli(dir, "quantize " + kWeights + " " + out + " --target-bpw 6" + kCandidates + " -q --report " + json);
  ASSERT_EQ(r.code, 0) << r.output;
  std::ifstream in(json);
  const auto report = nlohmann::json::parse(in);
  EXPECT_LE(report["totals"]["bits_per_weight"].get<double>(), 6.0);
  EXPECT_EQ(report["totals"]["budget"]["planned_bytes"], report["totals"]["bytes_out"]);
  EXPECT_EQ(report["candidates"], nlohmann::json({"q4_0", "q8_0", "i4/g32/asym", "i8/channel"}));
  for (const auto& t : report["tensors"]) {
    const auto& b = t["budget"];
    ASSERT_TRUE(b.is_object()) << t["name"];
    EXPECT_EQ(b["measure"], "weight");
    int chosen = 0;
    for (const auto& a : b["alternatives"]) {
      if (a["chosen"].get<bool>()) {
        ++chosen;
        EXPECT_EQ(a["bytes"], t["bytes_out"]) << t["name"];
        EXPECT_EQ(a["format"], t["format_out"]) << t["name"];
      }
    }
    EXPECT_EQ(chosen, 1) << t["name"];
    // 32-block rows hold all four candidates; the others the two affine ones.
    EXPECT_EQ(b["alternatives"].size(), t["shape"][1].get<int>() % 32 == 0 ? 4u : 2u) << t["name"];
  }
}

TEST(CliBudget, ErrorsNameWhatIsWrong) {
  test::TempDir dir;
  const std::string base = "quantize " + kWeights + " " + (dir / "out.gguf").string() + " ";
  const auto expect = [&](const std::string& args, const std::string& words) {
    const CliRun r = run_cli(dir, base + args);
    EXPECT_EQ(r.code, 1) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(words), std::string::npos) << args << "\n" << r.output;
  };
  expect("--target-bpw 4.8 --candidates q4_0,q3_0", "unknown format");
  expect("--target-bpw 4.8 --candidates q4_0,i4/g12", "positive multiple of 8");
  expect("--target-bpw 4.8 --candidates q4_K,i4", "candidate q4_K cannot hold the rows of any tensor");
  expect("--target-bpw 0", "--target-bpw must be a finite number > 0, got 0");
  expect("--target-bpw -2", "finite number > 0");
  expect("--target-bpw nan", "finite number > 0");
  expect("--target-bpw fast", "not a number");
  expect("--target-bpw 4.8 --type q4_k_m", "--type q4_k_m cannot be given with it");
  expect("--candidates q4_0", "--candidates needs --target-bpw");
  expect("--target-bpw 2 --candidates q4_0,i4", "below the least this plan can reach: ");
  EXPECT_FALSE(std::filesystem::exists(dir / "out.gguf"));
}

}  // namespace
}  // namespace qlinear

#endif
