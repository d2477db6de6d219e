// The size budget on whole models: the plan against brute force over its own measurements, the
// measurements against sums made here in double, the bytes against plain runs of the chosen formats,
// the errors a person meets, and the bundled real weights against uniform q5_0 on held-out inputs.

#include "temp_dir.hpp"
#include "test_support.hpp"

#include <qlinear/calibration.hpp>
#include <qlinear/calibration_file.hpp>
#include <qlinear/gguf.hpp>
#include <qlinear/imatrix.hpp>
#include <qlinear/model.hpp>
#include <qlinear/safetensors.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>

namespace qlinear {
namespace {

struct Weight {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::vector<float> values;
};

std::vector<float> random_values(std::size_t n, std::uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::student_t_distribution<float> dist(4.0f);  // heavier tails than a normal, as real weights have
  std::vector<float> v(n);
  for (auto& x : v) x = scale * dist(rng);
  return v;
}

// a: 64 inputs (32-blocks fit), b: 40 (only the affine layouts), c: 256 (every format), d: ruled to
// q8_0, norm: 1-D, kept.
std::vector<Weight> small_model() {
  return {{"a.weight", {48, 64}, random_values(48 * 64, 1, 0.05f)},
          {"b.weight", {32, 40}, random_values(32 * 40, 2, 0.2f)},
          {"c.weight", {16, 256}, random_values(16 * 256, 3, 0.02f)},
          {"d.weight", {8, 64}, random_values(8 * 64, 4, 0.1f)},
          {"norm", {64}, random_values(64, 5, 1.0f)}};
}

void write_model(const std::filesystem::path& path, const std::vector<Weight>& weights) {
  SafetensorsWriter w(path);
  for (const auto& t : weights) w.add_tensor(t.name, "F32", t.shape);
  w.write_header();
  for (const auto& t : weights) w.write_tensor_data(t.name, std::as_bytes(std::span<const float>(t.values)));
  w.finish();
}

// Inputs for a, b and c (not d): rows × in, with columns of very different scales.
void write_activations(const std::filesystem::path& path, const std::vector<Weight>& weights) {
  SafetensorsWriter w(path);
  std::vector<std::pair<std::string, std::vector<float>>> acts;
  for (const auto& t : weights) {
    if (t.shape.size() != 2 || t.name == "d.weight") continue;
    const std::size_t in = t.shape[1], rows = 24;
    std::vector<float> x = random_values(rows * in, 100 + static_cast<std::uint32_t>(in), 1.0f);
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t c = 0; c < in; ++c) x[r * in + c] *= 0.1f + static_cast<float>(c % 7);
    }
    w.add_tensor(t.name, "F32", {rows, in});
    acts.emplace_back(t.name, std::move(x));
  }
  w.write_header();
  for (const auto& [name, x] : acts) w.write_tensor_data(name, std::as_bytes(std::span<const float>(x)));
  w.finish();
}

QuantPlan budget_plan(double target) {
  QuantPlan plan;
  plan.target_bits_per_weight = target;
  AffineOptions g32{.symmetric = true, .granularity = AffineOptions::Granularity::group, .group_size = 32};
  g32.calibration = AffineOptions::Calibration::mse;
  plan.candidates = {Format::q4_0, Format::q8_0, Format::q4_K, QuantCandidate(Format::i4, g32), Format::f16};
  plan.rules = {TensorRule::parse("d.*=q8_0")};
  return plan;
}

// Brute force over every assignment of the budget tensors' alternatives.
double best_by_brute_force(const std::vector<TensorDecision>& decisions, std::uint64_t capacity) {
  std::vector<const BudgetChoice*> choices;
  for (const auto& d : decisions) {
    if (d.budget) choices.push_back(&*d.budget);
  }
  double best = std::numeric_limits<double>::infinity();
  std::vector<std::size_t> pick(choices.size(), 0);
  for (;;) {
    std::uint64_t bytes = 0;
    double error = 0;
    for (std::size_t i = 0; i < choices.size(); ++i) {
      bytes += choices[i]->alternatives[pick[i]].bytes;
      error += choices[i]->alternatives[pick[i]].error;
    }
    if (bytes <= capacity) best = std::min(best, error);
    std::size_t i = 0;
    while (i < choices.size() && ++pick[i] == choices[i]->alternatives.size()) pick[i++] = 0;
    if (i == choices.size()) return best;
  }
}

double chosen_error(const std::vector<TensorDecision>& decisions) {
  double total = 0;
  for (const auto& d : decisions) {
    if (d.budget) total += d.budget->alternatives[d.budget->chosen].error;
  }
  return total;
}

// A tensor's data in a GGUF file, with its affine companions (scale, zero point) after it.
std::vector<std::byte> tensor_bytes(const GgufFile& f, const std::string& name) {
  std::vector<std::byte> out;
  for (const std::string& n : {name, name + ".scale", name + ".zero_point"}) {
    if (const GgufTensorInfo* info = f.find_tensor(n)) {
      const auto data = f.tensor_data(*info);
      out.insert(out.end(), data.begin(), data.end());
    }
  }
  return out;
}

TEST(BudgetModel, ChoiceIsTheBestAssignmentAndTheFileKeepsTheBudget) {
  test::TempDir dir;
  const auto weights = small_model();
  write_model(dir / "m.safetensors", weights);
  for (double target : {5.2, 5.6, 6.0, 7.5, 12.0}) {
    SCOPED_TRACE(target);
    const QuantPlan plan = budget_plan(target);
    BudgetSummary summary;
    const auto decisions = plan_model(dir / "m.safetensors", plan, true, &summary);
    EXPECT_TRUE(std::filesystem::exists(dir / "m.safetensors"));
    ASSERT_EQ(summary.tensors, 3u);  // a, b, c; d by its rule, norm kept
    EXPECT_EQ(decisions[3].reason, "rule d.*=q8_0");
    EXPECT_FALSE(decisions[4].budget.has_value());
    // Which candidates each tensor could take: b (40 inputs) only the affine one and f16.
    ASSERT_TRUE(decisions[1].budget.has_value());
    EXPECT_EQ(decisions[1].budget->alternatives.size(), 2u);
    EXPECT_EQ(decisions[0].budget->alternatives.size(), 4u);  // no q4_K on 64 inputs
    EXPECT_EQ(decisions[2].budget->alternatives.size(), 5u);
    EXPECT_EQ(decisions[0].budget->measure, "weight");
    const double best = best_by_brute_force(decisions, summary.budget_bytes - summary.fixed_bytes);
    EXPECT_DOUBLE_EQ(chosen_error(decisions), best);
    EXPECT_TRUE(summary.exact);

    const ModelReport report = quantize_model(dir / "m.safetensors", dir / "m.gguf", plan);
    EXPECT_LE(report.bits_per_weight(), target);
    EXPECT_EQ(report.bytes_out, summary.planned_bytes);
    ASSERT_TRUE(report.budget.has_value());
    EXPECT_EQ(report.budget->planned_bytes, report.bytes_out);
    // Each chosen tensor holds the very bytes a plain run of its format writes.
    const GgufFile budget_file = GgufFile::open(dir / "m.gguf");
    for (std::size_t i = 0; i < 3; ++i) {
      const BudgetAlternative& a = decisions[i].budget->alternatives[decisions[i].budget->chosen];
      EXPECT_EQ(report.tensors[i].format_out, format_name(a.candidate.format));
      EXPECT_EQ(report.tensors[i].bytes_out, a.bytes);
      QuantPlan plain;
      plain.default_format = a.candidate.format;
      plain.affine = a.candidate.affine;
      plain.rules = {TensorRule::parse("d.*=q8_0")};
      (void)quantize_model(dir / "m.safetensors", dir / "plain.gguf", plain);
      const GgufFile plain_file = GgufFile::open(dir / "plain.gguf");
      EXPECT_EQ(tensor_bytes(budget_file, weights[i].name), tensor_bytes(plain_file, weights[i].name))
          << weights[i].name << " in " << a.candidate.name();
    }
  }
}

// With gptq and calibration data too, the file holds what plain runs of the chosen formats write
// (tensors without data, here d, get search as in a plain run).
TEST(BudgetModel, GptqChoicesAreThePlainRunsBytes) {
  test::TempDir dir;
  const auto weights = small_model();
  write_model(dir / "m.safetensors", weights);
  write_activations(dir / "x.safetensors", weights);
  QuantPlan plan = budget_plan(5.6);
  plan.candidates = {Format::q4_0, Format::q5_1, Format::q8_0, QuantCandidate::parse("i4/g32/asym/mse"),
                     QuantCandidate::parse("i4/channel")};
  plan.method = Method::gptq;
  plan.calibration = std::make_shared<const CalibrationFile>(CalibrationFile::open(dir / "x.safetensors"));
  const ModelReport report = quantize_model(dir / "m.safetensors", dir / "m.gguf", plan);
  EXPECT_LE(report.bits_per_weight(), 5.6);
  const GgufFile budget_file = GgufFile::open(dir / "m.gguf");
  for (std::size_t i = 0; i < 3; ++i) {
    const BudgetChoice& choice = *report.tensors[i].decision.budget;
    EXPECT_EQ(choice.measure, "output");
    const QuantCandidate& c = choice.alternatives[choice.chosen].candidate;
    QuantPlan plain = plan;
    plain.target_bits_per_weight.reset();
    plain.candidates.clear();
    plain.default_format = c.format;
    plain.affine = c.affine;
    (void)quantize_model(dir / "m.safetensors", dir / "plain.gguf", plain);
    const GgufFile plain_file = GgufFile::open(dir / "plain.gguf");
    EXPECT_EQ(tensor_bytes(budget_file, weights[i].name), tensor_bytes(plain_file, weights[i].name))
        << weights[i].name << " in " << c.name();
  }
}

// Σ (w − ŵ)² of the plain quantization, in double here: what the budget calls "weight" error.
double weight_error2(const Weight& t, const QuantCandidate& c) {
  const QuantizedTensor q = quantize(t.values, t.shape[0], t.shape[1], c.format, c.affine);
  const std::vector<float> r = dequantize(q);
  double e = 0;
  for (std::size_t i = 0; i < r.size(); ++i) e += (double(t.values[i]) - r[i]) * (double(t.values[i]) - r[i]);
  return e;
}

TEST(BudgetModel, ErrorsAreTheWeightAndOutputErrorsOfThePlainQuantization) {
  test::TempDir dir;
  const auto weights = small_model();
  write_model(dir / "m.safetensors", weights);
  write_activations(dir / "x.safetensors", weights);
  QuantPlan plan = budget_plan(6.0);
  auto decisions = plan_model(dir / "m.safetensors", plan);
  for (std::size_t i = 0; i < 3; ++i) {
    for (const auto& a : decisions[i].budget->alternatives) {
      const double expected = weight_error2(weights[i], a.candidate);
      EXPECT_NEAR(a.error, expected, 1e-9 * expected) << weights[i].name << " " << a.candidate.name();
    }
  }
  // With calibration data: ‖X(W−Q)ᵀ‖², here straight from the rows of X.
  plan.calibration = std::make_shared<const CalibrationFile>(CalibrationFile::open(dir / "x.safetensors"));
  decisions = plan_model(dir / "m.safetensors", plan);
  const SafetensorsFile acts = SafetensorsFile::open(dir / "x.safetensors");
  for (std::size_t i = 0; i < 3; ++i) {
    const Weight& t = weights[i];
    EXPECT_EQ(decisions[i].budget->measure, "output");
    const std::vector<float> x = acts.read_f32(t.name);
    const std::size_t out = t.shape[0], in = t.shape[1], rows = x.size() / in;
    for (const auto& a : decisions[i].budget->alternatives) {
      const std::vector<float> r = dequantize(quantize(t.values, out, in, a.candidate.format, a.candidate.affine));
      double expected = 0, magnitude = 0;
      for (std::size_t n = 0; n < rows; ++n) {
        for (std::size_t o = 0; o < out; ++o) {
          double y = 0, m = 0;
          for (std::size_t c = 0; c < in; ++c) {
            const double d = double(t.values[o * in + c]) - r[o * in + c];
            y += x[n * in + c] * d;
            m += std::abs(x[n * in + c] * d);
          }
          expected += y * y;
          magnitude += m * m;
        }
      }
      // XᵀX and the sums run in double over in² terms per row: a few in·u of the magnitudes.
      EXPECT_NEAR(a.error, expected, 64 * in * 1.1e-16 * magnitude) << t.name << " " << a.candidate.name();
    }
  }
}

// Without calibration data but with an importance matrix, the error is Σ imp_j·(w − ŵ)² of the
// tensor quantized with that importance, as a plain run with --imatrix quantizes it; tensors the
// matrix lacks (c here) get the plain weight error.
TEST(BudgetModel, ImportanceMatrixWeighsTheWeightError) {
  test::TempDir dir;
  const auto weights = small_model();
  write_model(dir / "m.safetensors", weights);
  // A calibration statistics file is also an importance matrix (its in_sum2 / counts): a and b only.
  std::vector<CalibrationEntry> entries = {{"a.weight", 64, 10}, {"b.weight", 40, 10}};
  std::vector<std::vector<float>> x;
  write_calibration_statistics(dir / "imatrix.gguf", entries, {"test"}, [&](std::size_t i) {
    x.push_back(random_values(10 * entries[i].in_features, 50 + static_cast<std::uint32_t>(i), 1.0f));
    for (std::size_t k = 0; k < x.back().size(); ++k) x.back()[k] *= 0.2f + static_cast<float>(k % 5);
    Calibration c(entries[i].in_features);
    c.add(x.back(), 10);
    return c;
  });
  QuantPlan plan = budget_plan(6.0);
  plan.importance = std::make_shared<const ImportanceMatrix>(ImportanceMatrix::open(dir / "imatrix.gguf"));
  const auto decisions = plan_model(dir / "m.safetensors", plan);
  for (std::size_t i = 0; i < 3; ++i) {
    const Weight& t = weights[i];
    const auto entry = plan.importance->find(t.name);
    EXPECT_EQ(decisions[i].budget->measure, entry ? "importance" : "weight") << t.name;
    for (const auto& a : decisions[i].budget->alternatives) {
      QuantizeOptions o{a.candidate.affine};
      if (entry) o.importance = *entry;
      const std::vector<float> r = dequantize(quantize(t.values, t.shape[0], t.shape[1], a.candidate.format, o));
      double expected = 0;
      for (std::size_t k = 0; k < r.size(); ++k) {
        const double e = double(t.values[k]) - r[k];
        expected += (entry ? double((*entry)[k % t.shape[1]]) : 1.0) * e * e;
      }
      EXPECT_NEAR(a.error, expected, 1e-9 * expected) << t.name << " " << a.candidate.name();
    }
  }
}

TEST(BudgetModel, ClearErrors) {
  test::TempDir dir;
  write_model(dir / "m.safetensors", small_model());
  const auto input = dir / "m.safetensors";
  const auto message_of = [&](const QuantPlan& plan, ErrorCode code) {
    return test::error_message([&] { (void)plan_model(input, plan); }, code);
  };
  for (double bad : {0.0, -1.0, std::nan(""), double(INFINITY)}) {
    EXPECT_NE(message_of(budget_plan(bad), ErrorCode::invalid_argument).find("finite number > 0"), std::string::npos);
  }
  QuantPlan mix = budget_plan(5.0);
  mix.mix = Mix::q4_K_M;
  EXPECT_NE(message_of(mix, ErrorCode::invalid_argument).find("mix"), std::string::npos);
  // q4_K holds only c's rows: keep c and no tensor is left for it.
  QuantPlan no_fit = budget_plan(6.0);
  no_fit.rules.push_back(TensorRule::parse("c.*=keep"));
  const std::string fit = message_of(no_fit, ErrorCode::invalid_argument);
  EXPECT_NE(fit.find("candidate q4_K cannot hold the rows of any tensor"), std::string::npos) << fit;
  EXPECT_NE(fit.find("row lengths 40, 64"), std::string::npos) << fit;
  // Every tensor ruled or kept: nothing to decide, the budget still bounds the file.
  QuantPlan ruled = budget_plan(16.0);
  ruled.candidates.clear();
  ruled.rules = {TensorRule::parse("*.weight=q8_0")};
  BudgetSummary none;
  EXPECT_NO_THROW((void)plan_model(input, ruled, true, &none));
  EXPECT_EQ(none.tensors, 0u);
  EXPECT_EQ(none.planned_bytes, none.fixed_bytes);
  // Below the least reachable: the message names it, which is the smallest alternatives' total.
  BudgetSummary s;
  const auto decisions = plan_model(input, budget_plan(6.0), true, &s);
  std::uint64_t least = s.fixed_bytes;
  for (const auto& d : decisions) {
    if (d.budget) least += d.budget->alternatives.front().bytes;
  }
  char expected[64];
  std::snprintf(expected, sizeof expected, "least this plan can reach: %.3f", least * 8.0 / s.weights);
  EXPECT_NE(message_of(budget_plan(1.0), ErrorCode::invalid_argument).find(expected), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "never.gguf"));
  EXPECT_THROW((void)quantize_model(input, dir / "never.gguf", budget_plan(1.0)), Error);
  EXPECT_FALSE(std::filesystem::exists(dir / "never.gguf"));
}

// Where no candidate holds a tensor's rows, its alternatives are the fallbacks plain runs of the
// candidates would write (q4_K → q5_0 and q6_K → q8_0 on 64 inputs, f16 for both on 40), each once.
TEST(BudgetModel, TensorsNoCandidateHoldsGetThePlainRunsFallbacks) {
  test::TempDir dir;
  const auto weights = small_model();
  write_model(dir / "m.safetensors", weights);
  QuantPlan plan;
  plan.target_bits_per_weight = 9.0;
  plan.candidates = {Format::q4_K, Format::q6_K};
  BudgetSummary summary;
  const auto decisions = plan_model(dir / "m.safetensors", plan, true, &summary);
  const auto names = [](const TensorDecision& d) {
    std::vector<std::string> out;
    for (const auto& a : d.budget->alternatives) out.push_back(a.candidate.name() + (a.note.empty() ? "" : "*"));
    return out;
  };
  EXPECT_EQ(names(decisions[0]), (std::vector<std::string>{"q5_0*", "q8_0*"}));
  EXPECT_EQ(names(decisions[1]), (std::vector<std::string>{"f16*"}));
  EXPECT_EQ(names(decisions[2]), (std::vector<std::string>{"q4_K", "q6_K"}));  // 256 inputs: held
  EXPECT_NE(decisions[0].budget->alternatives[0].note.find("of q4_K: fallback to q5_0"), std::string::npos)
      << decisions[0].budget->alternatives[0].note;
  const ModelReport report = quantize_model(dir / "m.safetensors", dir / "m.gguf", plan);
  EXPECT_EQ(report.bytes_out, summary.planned_bytes);
  EXPECT_LE(report.bits_per_weight(), 9.0);
  EXPECT_EQ(report.tensors[1].format_out, "f16");
  // A GGUF output records the target and no llama.cpp file type.
  const GgufFile out = GgufFile::open(dir / "m.gguf");
  ASSERT_NE(out.find("qlinear.quantize.target_bits_per_weight"), nullptr);
  EXPECT_EQ(out.find("general.file_type"), nullptr);
}

// A safetensors output holds floats only: the budget chooses among f32, f16 and bf16 there.
TEST(BudgetModel, SafetensorsOutputChoosesAmongFloats) {
  test::TempDir dir;
  write_model(dir / "m.safetensors", small_model());
  QuantPlan plan;
  plan.target_bits_per_weight = 20.0;
  plan.candidates = {Format::f32, Format::f16, Format::bf16};
  const ModelReport report = quantize_model(dir / "m.safetensors", dir / "out.safetensors", plan);
  EXPECT_LE(report.bits_per_weight(), 20.0);
  ASSERT_TRUE(report.budget.has_value());
  EXPECT_EQ(report.bytes_out, report.budget->planned_bytes);
  // f16 beats bf16 on these small weights, and f32 (no error) goes where the bytes allow.
  for (const auto& t : report.tensors) {
    if (t.decision.budget) {
      EXPECT_NE(t.format_out, "bf16") << t.decision.name;
    }
  }
  // The default candidates, in a safetensors file: f16 (from 8.5 bits) is the one that can be written.
  plan.candidates.clear();
  const ModelReport defaults = quantize_model(dir / "m.safetensors", dir / "out1.safetensors", plan);
  for (const auto& t : defaults.tensors) {
    if (t.decision.budget) {
      EXPECT_EQ(t.decision.budget->alternatives.size(), 1u) << t.decision.name;
    }
  }
  plan.candidates = {Format::q4_0, Format::f16};
  const std::string m = test::error_message(
      [&] { (void)quantize_model(dir / "m.safetensors", dir / "out2.safetensors", plan); },
      ErrorCode::invalid_argument);
  EXPECT_NE(m.find("candidate q4_0: a safetensors file holds f32, f16 and bf16 only"), std::string::npos) << m;
}

// ---- The bundled real weights with their real inputs ----

double held_out_error(const std::filesystem::path& weights, const std::filesystem::path& file,
                      const CalibrationFile& eval) {
  const ModelComparison c = compare_models(weights, file, &eval);
  EXPECT_TRUE(c.output_error.has_value());
  EXPECT_TRUE(c.without_activations.empty());
  return c.output_error.value_or(INFINITY);
}

// The bundled model at 4.8 bits per weight (calibration inputs to plan, held-out inputs to judge),
// against plain runs of one format (the same method and data):
// - q4_0 with its 20 matrices of 60, 120 or 240 inputs in i4 (groups of 32, mse clipping), the
//   nearest uniform file, at 4.87 bits per weight: the budget makes less error in fewer bits;
// - q5_0 as a plain run writes it, those 20 matrices falling back to f16 (12.36 bits per weight):
//   at 4.8 bits the budget cannot match it (docs/budget.md: the 6625×120 head, a third of the
//   weights and nearly all of the error, has no format between i4 and i8 that holds its rows), so
//   the check is made at q5_0's own size, where the budget must do better, and 4.8's ratio printed.
TEST(BudgetRealData, BeatsUniformFilesOfTheSameOrMoreBits) {
  const std::filesystem::path shared(QLINEAR_SHARED_DATA_DIR);
  const auto calib_path = shared / "ppocrv4_rec_activations_calib.safetensors";
  const auto eval_path = shared / "ppocrv4_rec_activations_eval.safetensors";
  if (!std::filesystem::exists(calib_path) || !std::filesystem::exists(eval_path)) {
    GTEST_SKIP() << "real activations not found at " << shared.string();
  }
  const std::filesystem::path weights = test::repo_data("ppocrv4_rec_linear.safetensors");
  const auto calib = std::make_shared<const CalibrationFile>(CalibrationFile::open(calib_path));
  const CalibrationFile eval = CalibrationFile::open(eval_path);
  test::TempDir dir;
  const auto run = [&](const std::string& name, QuantPlan plan) {
    plan.calibration = calib;
    const auto start = std::chrono::steady_clock::now();
    const ModelReport r = quantize_model(weights, dir / (name + ".gguf"), plan);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double error = held_out_error(weights, dir / (name + ".gguf"), eval);
    std::printf("%-22s %.4f bits/weight, held-out error %.5f, %.2f s\n", name.c_str(), r.bits_per_weight(), error,
                seconds);
    return std::pair<double, double>{r.bits_per_weight(), error};
  };
  QuantPlan q4;
  q4.default_format = Format::q4_0;
  q4.fallback = Format::i4;
  q4.affine = {.symmetric = true, .granularity = AffineOptions::Granularity::group, .group_size = 32};
  q4.affine.calibration = AffineOptions::Calibration::mse;
  QuantPlan q5;
  q5.default_format = Format::q5_0;
  QuantPlan budget;
  budget.target_bits_per_weight = 4.8;
  const auto [q4_bits, q4_error] = run("q4_0, i4 fallback", q4);
  const auto [q5_bits, q5_error] = run("q5_0, f16 fallback", q5);
  const auto [bits, error] = run("budget 4.8", budget);
  EXPECT_LE(bits, 4.8);
  EXPECT_LT(bits, q4_bits);
  EXPECT_LT(error, q4_error);
  budget.target_bits_per_weight = q5_bits;
  const auto [same_bits, same_error] = run("budget at q5_0's size", budget);
  EXPECT_LE(same_bits, q5_bits);
  EXPECT_LT(same_error, q5_error);
  std::printf("at 4.8 bits per weight the error is %.1f× that of q5_0 at %.2f bits\n", error / q5_error, q5_bits);
}

}  // namespace
}  // namespace qlinear
