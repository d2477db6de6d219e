// The calibration commands as a user runs them: `qlinear calibrate`, `quantize --method/--calibration`
// and `compare --activations`, checked against computations made here in double precision.

#include "cli_run.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

#include <qlinear/calibration_file.hpp>
#include <qlinear/gguf.hpp>
#include <qlinear/safetensors.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#if defined(QLINEAR_CLI_PATH)

namespace qlinear {
namespace {

using test::CliRun;
using test::run_cli;

nlohmann::json read_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

using Tensors = std::vector<std::pair<std::string, std::vector<float>>>;

void write_f32(const std::filesystem::path& path, const Tensors& tensors,
               const std::vector<std::vector<std::uint64_t>>& shapes) {
  SafetensorsWriter w(path);
  for (std::size_t i = 0; i < tensors.size(); ++i) w.add_tensor(tensors[i].first, "F32", shapes[i]);
  w.write_header();
  for (const auto& [name, v] : tensors) w.write_tensor_data(name, std::as_bytes(std::span<const float>(v)));
  w.finish();
}

std::vector<float> rows_of(const std::vector<float>& x, std::size_t first, std::size_t count, std::size_t in) {
  return {x.begin() + static_cast<std::ptrdiff_t>(first * in),
          x.begin() + static_cast<std::ptrdiff_t>((first + count) * in)};
}

// calibrate A B, and calibrate of calibrate(A) and calibrate(B), hold the same bits: each file's
// statistics are made on their own and added in file order. One file holding A's rows then B's gives
// the same sums up to rounding: each element of XᵀX is a sum of `rows` products, so the two differ by
// at most 2·rows·u times the sum of the products' magnitudes.
TEST(CliCalibrate, MergingFilesEqualsOneFileOfBoth) {
  test::TempDir dir;
  const std::size_t in = 24, rows_a = 300, rows_b = 211;
  const auto x = test::gaussian((rows_a + rows_b) * in, 11);
  const auto y = test::gaussian(50 * 8, 12);
  write_f32(dir / "a.safetensors", {{"fc.weight", rows_of(x, 0, rows_a, in)}, {"only_a.weight", y}},
            {{rows_a, in}, {50, 8}});
  write_f32(dir / "b.safetensors", {{"fc.weight", rows_of(x, rows_a, rows_b, in)}}, {{rows_b, in}});
  write_f32(dir / "ab.safetensors", {{"fc.weight", x}}, {{rows_a + rows_b, in}});
  const std::string d = dir.path().string() + "/";
  ASSERT_EQ(run_cli(dir, "calibrate " + d + "a.safetensors " + d + "b.safetensors -o " + d + "ab_files.gguf -q").code, 0);
  ASSERT_EQ(run_cli(dir, "calibrate " + d + "a.safetensors -o " + d + "a.gguf -q").code, 0);
  ASSERT_EQ(run_cli(dir, "calibrate " + d + "b.safetensors -o " + d + "b.gguf -q").code, 0);
  ASSERT_EQ(run_cli(dir, "calibrate " + d + "a.gguf " + d + "b.gguf -o " + d + "ab_stats.gguf -q").code, 0);
  ASSERT_EQ(run_cli(dir, "calibrate " + d + "ab.safetensors -o " + d + "ab_one.gguf -q").code, 0);

  const auto files = CalibrationFile::open(dir / "ab_files.gguf"), stats = CalibrationFile::open(dir / "ab_stats.gguf"),
             one = CalibrationFile::open(dir / "ab_one.gguf");
  EXPECT_EQ(files.names(), (std::vector<std::string>{"fc.weight", "only_a.weight"}));
  EXPECT_EQ(files.datasets(), (std::vector<std::string>{d + "a.safetensors", d + "b.safetensors"}));
  for (const auto& name : files.names()) {
    const Calibration f = files.calibration(name), s = stats.calibration(name);
    EXPECT_EQ(f.rows(), s.rows());
    ASSERT_EQ(f.xtx().size(), s.xtx().size());
    EXPECT_EQ(std::memcmp(f.xtx().data(), s.xtx().data(), f.xtx().size() * sizeof(double)), 0) << name;
  }
  const Calibration f = files.calibration("fc.weight"), o = one.calibration("fc.weight");
  EXPECT_EQ(f.rows(), rows_a + rows_b);
  EXPECT_EQ(o.rows(), rows_a + rows_b);
  const std::size_t rows = rows_a + rows_b;
  for (std::size_t i = 0; i < in; ++i) {
    for (std::size_t j = 0; j < in; ++j) {
      double magnitude = 0;
      for (std::size_t r = 0; r < rows; ++r) magnitude += std::fabs(double(x[r * in + i]) * x[r * in + j]);
      EXPECT_NEAR(f.xtx()[i * in + j], o.xtx()[i * in + j], 2.0 * static_cast<double>(rows) * 0x1p-53 * magnitude);
    }
  }
}

// A small model: two weights with inputs, one without; its q4_0 copy compared on those inputs.
TEST(CliCompare, ActivationsGiveTheOutputErrorOfTheDoubleProduct) {
  test::TempDir dir;
  const std::size_t rows = 150;
  struct W {
    std::string name;
    std::size_t out, in;
  };
  const std::vector<W> weights = {{"l1.weight", 40, 64}, {"l2.weight", 24, 96}, {"l3.weight", 8, 32}};
  Tensors model, acts;
  std::vector<std::vector<std::uint64_t>> model_shapes, act_shapes;
  for (std::size_t k = 0; k < weights.size(); ++k) {
    model.push_back({weights[k].name, test::gaussian(weights[k].out * weights[k].in, 20 + k)});
    model_shapes.push_back({weights[k].out, weights[k].in});
    if (k < 2) {
      acts.push_back({weights[k].name, test::gaussian(rows * weights[k].in, 30 + k)});
      act_shapes.push_back({rows, weights[k].in});
    }
  }
  write_f32(dir / "model.safetensors", model, model_shapes);
  write_f32(dir / "acts.safetensors", acts, act_shapes);
  const std::string d = dir.path().string() + "/";
  ASSERT_EQ(run_cli(dir, "quantize " + d + "model.safetensors " + d + "q.gguf --type q4_0 -q").code, 0);
  const CliRun r = run_cli(dir, "compare " + d + "model.safetensors " + d + "q.gguf --activations " + d +
                                 "acts.safetensors --json");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto json = nlohmann::json::parse(r.output);
  const GgufFile q = GgufFile::open(dir / "q.gguf");
  double error2 = 0, signal2 = 0;
  for (std::size_t k = 0; k < 2; ++k) {
    const auto& w = weights[k];
    const auto restored = q.tensor_f32(w.name);
    const auto& a = model[k].second;
    const auto& x = acts[k].second;
    double e2 = 0, s2 = 0, e_abs2 = 0, s_abs2 = 0;
    for (std::size_t r0 = 0; r0 < rows; ++r0) {
      for (std::size_t o = 0; o < w.out; ++o) {
        double y = 0, e = 0, y_abs = 0, e_abs = 0;
        for (std::size_t i = 0; i < w.in; ++i) {
          const double xi = x[r0 * w.in + i], diff = double(a[o * w.in + i]) - restored[o * w.in + i];
          y += xi * a[o * w.in + i], y_abs += std::fabs(xi * a[o * w.in + i]);
          e += xi * diff, e_abs += std::fabs(xi * diff);
        }
        e2 += e * e, s2 += y * y, e_abs2 += e_abs * e_abs, s_abs2 += y_abs * y_abs;
      }
    }
    const auto& t = json["tensors"][k];
    ASSERT_EQ(t["name"], w.name);
    // The bound of OutputError.MatchesTheDirectProductInDouble.
    const double terms = static_cast<double>(rows + w.out + 2 * w.in + 3);
    EXPECT_NEAR(t["output_error2"].get<double>(), e2, 2 * terms * 0x1p-53 * e_abs2);
    EXPECT_NEAR(t["output_signal2"].get<double>(), s2, 2 * terms * 0x1p-53 * s_abs2);
    EXPECT_NEAR(t["output_error"].get<double>(), std::sqrt(e2 / s2), 1e-9 * std::sqrt(e2 / s2));
    error2 += e2, signal2 += s2;
  }
  EXPECT_FALSE(json["tensors"][2].contains("output_error"));
  EXPECT_EQ(json["without_activations"], std::vector<std::string>{"l3.weight"});
  EXPECT_NEAR(json["totals"]["output_error"].get<double>(), std::sqrt(error2 / signal2),
              1e-9 * std::sqrt(error2 / signal2));
}

void write_small_model(const test::TempDir& dir) {
  write_f32(dir / "model.safetensors",
            {{"l1.weight", test::gaussian(32 * 64, 1)}, {"l2.weight", test::gaussian(16 * 32, 2)}},
            {{32, 64}, {16, 32}});
  write_f32(dir / "acts.safetensors", {{"l1.weight", test::gaussian(100 * 64, 3)}}, {{100, 64}});
}

// quantize --calibration: the report's output error is compare's; the tensor without data has none;
// bad files and flags are refused before anything is written; --calibration still reads the old
// clipping rule names.
TEST(CliQuantize, CalibrationReportMatchesCompare) {
  test::TempDir dir;
  write_small_model(dir);
  const std::string d = dir.path().string() + "/";
  CliRun r = run_cli(dir, "quantize " + d + "model.safetensors " + d + "q.gguf --type q4_0 --calibration " + d +
                              "acts.safetensors -q --report " + d + "r.json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("used for 1 of 2 quantized tensors"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("without calibration data: l2.weight"), std::string::npos) << r.output;
  const auto report = read_json(dir / "r.json");
  EXPECT_EQ(report["tensors"][0]["method"], "reference");
  EXPECT_EQ(report["calibration"]["kind"], "activations");
  EXPECT_EQ(report["calibration"]["entries"], 1);
  EXPECT_FALSE(report["tensors"][1].contains("output_error"));
  r = run_cli(dir, "compare " + d + "model.safetensors " + d + "q.gguf --activations " + d + "acts.safetensors --json");
  ASSERT_EQ(r.code, 0) << r.output;
  const double compared = nlohmann::json::parse(r.output)["tensors"][0]["output_error"].get<double>();
  EXPECT_GT(compared, 0);
  EXPECT_EQ(report["tensors"][0]["output_error"].get<double>(), compared);  // the same computation
  EXPECT_EQ(report["totals"]["output_error"].get<double>(), compared);

  EXPECT_EQ(run_cli(dir, "quantize " + d + "model.safetensors " + d + "x.gguf --method gptq").code, 1);
  r = run_cli(dir, "quantize " + d + "model.safetensors " + d + "x.gguf --calibration " + d + "absent.safetensors");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("calibration file not found"), std::string::npos) << r.output;
  r = run_cli(dir, "quantize " + d + "model.safetensors " + d + "x.gguf --type i4 --calibration mse --dry-run");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("--calibration mse is deprecated; use --clip mse"), std::string::npos) << r.output;
  write_f32(dir / "wide.safetensors", {{"l1.weight", test::gaussian(10 * 65, 3)}}, {{10, 65}});
  r = run_cli(
      dir, "quantize " + d + "model.safetensors " + d + "x.gguf --type q4_0 --calibration " + d + "wide.safetensors");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.output.find("tensor 'l1.weight': its calibration data"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "x.gguf"));
}

// --method gptq: the tensor without calibration data gets search, and the report and the summary say
// so. Fails (does not skip) while the library's gptq or search is missing.
TEST(CliQuantize, GptqWithoutDataFallsBackToSearch) {
  test::TempDir dir;
  write_small_model(dir);
  const std::string d = dir.path().string() + "/";
  const CliRun r =
      run_cli(dir, "quantize " + d + "model.safetensors " + d + "q.gguf --type q4_0 --method gptq --calibration " + d +
                       "acts.safetensors -q --report " + d + "r.json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("without calibration data: l2.weight (search)"), std::string::npos) << r.output;
  const auto report = read_json(dir / "r.json");
  EXPECT_EQ(report["tensors"][0]["method"], "gptq");
  EXPECT_EQ(report["tensors"][1]["method"], "search (no calibration data)");
  EXPECT_TRUE(report["tensors"][0].contains("output_error"));
  // --method search: the tensor without data is searched with no weights, and the report says so.
  const CliRun s = run_cli(dir, "quantize " + d + "model.safetensors " + d + "s.gguf --type q4_0 --method search " +
                                    "--calibration " + d + "acts.safetensors -q --report " + d + "s.json");
  ASSERT_EQ(s.code, 0) << s.output;
  const auto search = read_json(dir / "s.json");
  EXPECT_EQ(search["tensors"][0]["method"], "search");
  EXPECT_EQ(search["tensors"][1]["method"], "search (no calibration data)");
  const GgufFile out = GgufFile::open(dir / "q.gguf");  // the file records how its codes were chosen
  ASSERT_NE(out.find("qlinear.quantize.method"), nullptr);
  EXPECT_EQ(out.find("qlinear.quantize.method")->as_string(), "gptq");
  EXPECT_EQ(out.find("qlinear.quantize.calibration.file")->as_string(), d + "acts.safetensors");
  EXPECT_EQ(out.find("qlinear.quantize.calibration.entries_count")->as_u64(), 1u);
  EXPECT_EQ(out.find("qlinear.quantize.damping")->as_f64(), 0.01);
}

// The bundled real weights with their real calibration inputs: gptq into q4_0 makes a lower output
// error on those inputs than ggml's rounding. Fails (does not skip) when gptq is not available.
TEST(CliQuantize, GptqBeatsReferenceOnTheBundledModel) {
  const std::string acts = std::string(QLINEAR_SHARED_DATA_DIR) + "/ppocrv4_rec_activations_calib.safetensors";
  if (!std::filesystem::exists(acts)) GTEST_SKIP() << acts << " is absent (the shared data folder beside the project)";
  test::TempDir dir;
  const std::string d = dir.path().string() + "/", weights = test::repo_data("ppocrv4_rec_linear.safetensors");
  const CliRun ref = run_cli(dir, "quantize " + weights + " " + d + "ref.gguf --type q4_0 --calibration " + acts +
                                   " -q --report " + d + "ref.json");
  ASSERT_EQ(ref.code, 0) << ref.output;
  const CliRun gptq =
      run_cli(dir, "quantize " + weights + " " + d + "gptq.gguf --type q4_0 --method gptq --calibration " + acts +
                       " -q --report " + d + "gptq.json");
  ASSERT_EQ(gptq.code, 0) << "quantize --method gptq failed:\n" << gptq.output;
  const double e_ref = read_json(dir / "ref.json")["totals"]["output_error"].get<double>();
  const double e_gptq = read_json(dir / "gptq.json")["totals"]["output_error"].get<double>();
  EXPECT_LT(e_gptq, e_ref);
  std::cout << "pooled output error on the calibration inputs, q4_0: reference " << e_ref << ", gptq " << e_gptq << "\n";
  // And on the held-out inputs, which calibration never saw.
  const std::string eval = std::string(QLINEAR_SHARED_DATA_DIR) + "/ppocrv4_rec_activations_eval.safetensors";
  if (!std::filesystem::exists(eval)) return;
  const auto held_out = [&](const std::string& file) {
    const CliRun r = run_cli(dir, "compare " + weights + " " + d + file + " --activations " + eval + " --json");
    EXPECT_EQ(r.code, 0) << r.output;
    return nlohmann::json::parse(r.output)["totals"]["output_error"].get<double>();
  };
  const double h_ref = held_out("ref.gguf"), h_gptq = held_out("gptq.gguf");
  EXPECT_LT(h_gptq, h_ref);
  std::cout << "on the held-out inputs: reference " << h_ref << ", gptq " << h_gptq << "\n";
}

}  // namespace
}  // namespace qlinear

#endif
