// Whole models: rules, plans and their decisions, safetensors → GGUF round trips in every format,
// reports, interrupted writes, compare, convert, and the streaming memory bound.

#include "model/affine_gguf.hpp"
#include "cli_run.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

#include <qlinear/axqt.hpp>
#include <qlinear/gguf.hpp>
#include <qlinear/model.hpp>
#include <qlinear/safetensors.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>


namespace qlinear {
namespace {

// ---------------------------------------------------------------------------------------------
// Rules

TEST(Rules, GlobsMatchWholeNames) {
  auto m = [](const char* pattern, const char* name) { return TensorRule{pattern, std::nullopt}.matches(name); };
  EXPECT_TRUE(m("*", "anything"));
  EXPECT_TRUE(m("blk.*.attn_q.weight", "blk.12.attn_q.weight"));
  EXPECT_FALSE(m("blk.*.attn_q.weight", "blk.12.attn_q.weight.extra"));
  EXPECT_FALSE(m("attn", "blk.0.attn.weight"));  // whole name, not a substring
  EXPECT_TRUE(m("*attn*", "blk.0.attn.weight"));
  EXPECT_TRUE(m("layer?.w", "layer7.w"));
  EXPECT_FALSE(m("layer?.w", "layer17.w"));
  EXPECT_TRUE(m("linear_8[0-4]*", "linear_83.w_0"));
  EXPECT_FALSE(m("linear_8[0-4]*", "linear_85.w_0"));
  EXPECT_TRUE(m("x[!ab]", "xc"));
  EXPECT_FALSE(m("x[!ab]", "xa"));
  EXPECT_TRUE(m("a\\*b", "a*b"));
  EXPECT_FALSE(m("a\\*b", "axb"));
  EXPECT_TRUE(m("*.*.*", "a.b.c"));
}

TEST(Rules, RegularExpressionsMatchWholeNames) {
  const TensorRule r{"re:blk\\.[0-9]+\\.ffn_(up|down)\\.weight", Format::q4_0};
  EXPECT_TRUE(r.matches("blk.3.ffn_up.weight"));
  EXPECT_TRUE(r.matches("blk.30.ffn_down.weight"));
  EXPECT_FALSE(r.matches("blk.3.ffn_gate.weight"));
  EXPECT_FALSE(r.matches("x.blk.3.ffn_up.weight"));
}

TEST(Rules, ParsingSplitsAtTheLastEqualsSign) {
  const TensorRule a = TensorRule::parse("*.attn.*=q8_0");
  EXPECT_EQ(a.pattern, "*.attn.*");
  EXPECT_EQ(a.format, Format::q8_0);
  const TensorRule k = TensorRule::parse("re:a=b=keep");
  EXPECT_EQ(k.pattern, "re:a=b");
  EXPECT_FALSE(k.format.has_value());
  for (const char* bad : {"noequals", "=q4_0", "x=", "x=q3_0", "re:(=q4_0", "a[b=q4_0"}) {
    EXPECT_THROW(TensorRule::parse(bad), Error) << bad;
  }
}

// ---------------------------------------------------------------------------------------------
// A small model written with the safetensors writer: matrices of awkward shapes, a bias, a norm,
// integer ids and a 3-D tensor.

struct ModelTensor {
  std::string name, dtype;
  std::vector<std::uint64_t> shape;
  std::vector<float> values;  // for float dtypes
  std::vector<std::byte> raw;  // for the others
};

std::vector<std::byte> as_bytes_f32(const std::vector<float>& v) {
  std::vector<std::byte> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::vector<ModelTensor> small_model() {
  std::vector<ModelTensor> m;
  m.push_back({"blk.0.attn_q.weight", "F32", {64, 96}, test::gaussian(64 * 96, 1, 0.05f), {}});
  m.push_back({"blk.0.attn_q.bias", "F32", {64}, test::gaussian(64, 2), {}});
  m.push_back({"blk.0.ffn.weight", "F32", {40, 120}, test::gaussian(40 * 120, 3, 0.02f), {}});  // 120: not 32k
  m.push_back({"blk.0.norm.weight", "F32", {96}, std::vector<float>(96, 1.0f), {}});
  m.push_back({"conv.weight", "F32", {4, 2, 64}, test::gaussian(4 * 2 * 64, 4), {}});
  std::vector<std::byte> ids(8 * 8);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::byte>(i);
  m.push_back({"position_ids", "I64", {8}, {}, ids});
  return m;
}

std::filesystem::path write_model(const test::TempDir& dir, const std::vector<ModelTensor>& model,
                                  const std::string& name = "model.safetensors") {
  const auto path = dir / name;
  SafetensorsWriter writer(path);
  writer.set_metadata("format", "pt");
  for (const auto& t : model) writer.add_tensor(t.name, t.dtype, t.shape);
  writer.write_header();
  for (const auto& t : model) writer.write_tensor_data(t.name, t.raw.empty() ? as_bytes_f32(t.values) : t.raw);
  writer.finish();
  return path;
}

const ModelTensor& find(const std::vector<ModelTensor>& model, const std::string& name) {
  for (const auto& t : model) {
    if (t.name == name) return t;
  }
  throw std::runtime_error("no tensor " + name);
}

std::map<std::string, TensorDecision> by_name(const std::vector<TensorDecision>& decisions) {
  std::map<std::string, TensorDecision> m;
  for (const auto& d : decisions) m[d.name] = d;
  return m;
}

TEST(Plan, DefaultsKeepOneDimensionalAndNonFloatTensors) {
  test::TempDir dir;
  const auto path = write_model(dir, small_model());
  QuantPlan plan;
  plan.default_format = Format::q4_0;
  const auto d = by_name(plan_model(path, plan));
  EXPECT_EQ(d.at("blk.0.attn_q.weight").target, Format::q4_0);
  EXPECT_EQ(d.at("blk.0.attn_q.weight").reason, "default");
  EXPECT_FALSE(d.at("blk.0.attn_q.bias").target.has_value());
  EXPECT_EQ(d.at("blk.0.attn_q.bias").reason, "kept: 1-D");
  EXPECT_FALSE(d.at("position_ids").target.has_value());
  EXPECT_NE(d.at("position_ids").reason.find("not a float tensor"), std::string::npos);
  EXPECT_EQ(d.at("conv.weight").target, Format::q4_0);  // 3-D: rows 4·2, row length 64
  // 120 inputs cannot be whole q4_0 blocks in a GGUF file: f16, and the report says why.
  EXPECT_EQ(d.at("blk.0.ffn.weight").target, Format::f16);
  EXPECT_EQ(d.at("blk.0.ffn.weight").reason, "fallback to f16: row length 120 is not a multiple of 32");
}

TEST(Plan, RulesComeFirstInOrderAndFallbackCanBeChosen) {
  test::TempDir dir;
  const auto path = write_model(dir, small_model());
  QuantPlan plan;
  plan.default_format = Format::q8_0;
  plan.rules = {TensorRule::parse("*.attn_q.*=keep"), TensorRule::parse("blk.*=q5_1"),
                TensorRule::parse("*.norm.weight=f16")};
  plan.fallback = Format::i4;
  const auto d = by_name(plan_model(path, plan));
  EXPECT_FALSE(d.at("blk.0.attn_q.weight").target.has_value());
  EXPECT_EQ(d.at("blk.0.attn_q.weight").reason, "rule *.attn_q.*=keep");
  EXPECT_EQ(d.at("blk.0.norm.weight").target, Format::q5_1);  // blk.* came first; 96 = 3 blocks
  EXPECT_EQ(d.at("blk.0.ffn.weight").target, Format::i4);
  EXPECT_EQ(d.at("blk.0.ffn.weight").reason, "rule blk.*=q5_1, fallback to i4: row length 120 is not a multiple of 32");
  plan.keep_1d = false;
  plan.rules.clear();
  EXPECT_EQ(by_name(plan_model(path, plan)).at("blk.0.attn_q.bias").target, Format::q8_0);
}

TEST(Plan, SafetensorsOutputHoldsFloatFormatsOnly) {
  test::TempDir dir;
  const auto path = write_model(dir, small_model());
  QuantPlan plan;
  plan.default_format = Format::q4_0;
  try {
    plan_model(path, plan, /*gguf_output=*/false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("holds f32, f16 and bf16 only"), std::string::npos) << e.what();
  }
  plan.default_format = Format::bf16;
  EXPECT_NO_THROW(plan_model(path, plan, false));
}

// ---------------------------------------------------------------------------------------------
// Round trips: safetensors → quantize_model → GGUF → read, in every format.

class ModelRoundTrip : public ::testing::TestWithParam<Format> {};

TEST_P(ModelRoundTrip, TensorsInTheFileAreWhatQuantizeGives) {
  const Format format = GetParam();
  test::TempDir dir;
  const auto model = small_model();
  const auto input = write_model(dir, model);
  const auto output = dir / "model.gguf";
  QuantPlan plan;
  plan.default_format = format;
  plan.affine.granularity = AffineOptions::Granularity::group;
  plan.affine.group_size = 32;
  plan.affine.symmetric = false;
  const ModelReport report = quantize_model(input, output, plan);

  const GgufFile file = GgufFile::open(output);
  EXPECT_EQ(file.find("general.quantization_version")->as_u64(), 2u);
  EXPECT_EQ(file.find("safetensors.format")->as_string(), "pt");
  for (const char* name : {"blk.0.attn_q.weight", "conv.weight"}) {
    SCOPED_TRACE(name);
    const ModelTensor& t = find(model, name);
    const std::size_t cols = t.shape.back(), rows = t.values.size() / cols;
    const QuantizedTensor expected = quantize(t.values, rows, cols, format, plan.affine);
    const QuantizedTensor stored = format_info(format).affine ? *model::read_affine(file, name) : file.tensor(name);
    ASSERT_EQ(stored.format(), format);
    ASSERT_EQ(stored.rows(), rows);
    ASSERT_EQ(stored.cols(), cols);
    ASSERT_TRUE(std::equal(stored.data().begin(), stored.data().end(), expected.data().begin(), expected.data().end()));
    ASSERT_TRUE(std::equal(stored.scales().begin(), stored.scales().end(), expected.scales().begin(), expected.scales().end()));
    EXPECT_EQ(dequantize(stored), dequantize(expected));
    // The shape in the file is the tensor's own, never qlinear's padding.
    if (!format_info(format).affine) {
      EXPECT_EQ(file.find_tensor(name)->shape, t.shape);
    }
  }
  // Kept tensors are their input bytes; the bias is still f32.
  const auto bias = file.tensor_f32("blk.0.attn_q.bias");
  EXPECT_EQ(bias, find(model, "blk.0.attn_q.bias").values);
  const GgufTensorInfo* ids = file.find_tensor("position_ids");
  ASSERT_NE(ids, nullptr);
  EXPECT_EQ(ids->ggml_type, 27u);  // I64
  const auto id_bytes = file.tensor_data(*ids);
  EXPECT_TRUE(std::equal(id_bytes.begin(), id_bytes.end(), find(model, "position_ids").raw.begin()));

  // The report adds up and names what happened.
  ASSERT_EQ(report.tensors.size(), model.size());
  std::uint64_t in = 0, out = 0;
  for (const auto& t : report.tensors) in += t.bytes_in, out += t.bytes_out;
  EXPECT_EQ(report.bytes_in, in);
  EXPECT_EQ(report.bytes_out, out);
  const auto json = nlohmann::json::parse(report.to_json());
  EXPECT_EQ(json["totals"]["bytes_out"].get<std::uint64_t>(), out);
  EXPECT_EQ(json["tensors"].size(), model.size());
  for (const auto& t : report.tensors) {
    if (t.decision.target) {
      ASSERT_TRUE(t.stats.has_value()) << t.decision.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, ModelRoundTrip,
                         ::testing::Values(Format::f32, Format::f16, Format::bf16, Format::q8_0, Format::q8_1,
                                           Format::q4_0, Format::q4_1, Format::q5_0, Format::q5_1, Format::i8,
                                           Format::i4),
                         [](const auto& p) { return std::string(format_name(p.param)); });

TEST(ModelQuantize, TheBundledRealWeightsInEveryFormat) {
  test::TempDir dir;
  const auto input = test::repo_data("ppocrv4_rec_linear.safetensors");
  const SafetensorsFile source = SafetensorsFile::open(input);
  for (const FormatInfo& f : all_formats()) {
    SCOPED_TRACE(f.name);
    QuantPlan plan;
    plan.default_format = f.format;
    const auto output = dir / (std::string(f.name) + ".gguf");
    const ModelReport report = quantize_model(input, output, plan);
    const ModelComparison c = compare_models(input, output);
    ASSERT_EQ(c.tensors.size(), 29u);
    EXPECT_TRUE(c.only_in_a.empty() && c.only_in_b.empty());
    // Every tensor in the file dequantizes to what measure() saw when it was written.
    for (std::size_t i = 0; i < c.tensors.size(); ++i) {
      ASSERT_TRUE(c.tensors[i].stats.has_value());
      const auto& written = report.tensors[i];
      ASSERT_EQ(written.decision.name, c.tensors[i].name);
      EXPECT_NEAR(c.tensors[i].stats->rmse, written.stats->rmse, 1e-12 + 1e-9 * written.stats->rmse);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Failures leave nothing behind

TEST(ModelQuantize, AnInterruptedRunLeavesNoOutputAndKeepsAnOldOne) {
  test::TempDir dir;
  const auto input = write_model(dir, small_model());
  const auto output = dir / "model.gguf";
  QuantPlan plan;
  auto fail_midway = [](const ModelProgress& p) {
    if (p.index == 3) throw std::runtime_error("stopped");
  };
  EXPECT_THROW(quantize_model(input, output, plan, fail_midway), std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(output));
  EXPECT_EQ(dir.entries().size(), 1u) << "a temporary file was left behind";

  test::write_bytes(output, std::vector<std::byte>(7, std::byte{0x42}));
  EXPECT_THROW(quantize_model(input, output, plan, fail_midway), std::runtime_error);
  EXPECT_EQ(test::read_bytes(output), std::vector<std::byte>(7, std::byte{0x42}));
}

TEST(ModelQuantize, NonFiniteWeightsNameTheTensor) {
  test::TempDir dir;
  auto model = small_model();
  model[2].values[5 * 120 + 7] = NAN;
  const auto input = write_model(dir, model);
  try {
    quantize_model(input, dir / "out.gguf", QuantPlan{});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::non_finite);
    EXPECT_NE(std::string(e.what()).find("tensor 'blk.0.ffn.weight': weight at row 5, column 7 is NaN"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "out.gguf"));
}

// ---------------------------------------------------------------------------------------------
// compare and convert

TEST(Compare, AFileAgainstItselfIsExactAndMissingTensorsAreListed) {
  test::TempDir dir;
  auto model = small_model();
  const auto a = write_model(dir, model, "a.safetensors");
  model.erase(model.begin());  // B lacks blk.0.attn_q.weight
  model.push_back({"extra", "F32", {2}, {1, 2}, {}});
  const auto b = write_model(dir, model, "b.safetensors");
  const ModelComparison same = compare_models(a, a);
  EXPECT_EQ(same.rel_rmse, 0.0);
  EXPECT_EQ(same.cosine, 1.0);
  const ModelComparison diff = compare_models(a, b);
  EXPECT_EQ(diff.only_in_a, std::vector<std::string>{"blk.0.attn_q.weight"});
  EXPECT_EQ(diff.only_in_b, std::vector<std::string>{"extra"});
  const auto json = nlohmann::json::parse(diff.to_json());
  EXPECT_EQ(json["only_in_b"][0], "extra");
}

TEST(Convert, GgufBackToSafetensorsGivesTheDequantizedValues) {
  test::TempDir dir;
  const auto model = small_model();
  const auto input = write_model(dir, model);
  QuantPlan q4;
  q4.default_format = Format::q4_0;
  quantize_model(input, dir / "q4.gguf", q4);
  QuantPlan to_f32;
  to_f32.default_format = Format::f32;
  quantize_model(dir / "q4.gguf", dir / "back.safetensors", to_f32);
  const SafetensorsFile back = SafetensorsFile::open(dir / "back.safetensors");
  const ModelTensor& w = find(model, "blk.0.attn_q.weight");
  const auto expected = dequantize(quantize(w.values, 64, 96, Format::q4_0));
  EXPECT_EQ(back.tensor(w.name).dtype, "F32");
  EXPECT_EQ(back.read_f32(w.name), expected);
  EXPECT_EQ(back.read_f32("blk.0.attn_q.bias"), find(model, "blk.0.attn_q.bias").values);
}

TEST(Convert, AxqtToGguf) {
  // One Q8_0 tensor of 2×32 (one block per row) and one F32 bias, built from the documented layout.
  test::TempDir dir;
  std::vector<std::byte> b;
  auto put = [&](std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
  };
  for (char c : std::string("AXQT")) b.push_back(static_cast<std::byte>(c));
  put(1, 1), put(0, 1), put(1, 4), put(64, 8);  // version 1, Q8_0, 1 tensor, 64 parameters
  put(2, 4), put(2, 4), put(32, 4), put(2, 4);  // rank 2: 2×32, 2 blocks
  for (int blk = 0; blk < 2; ++blk) {
    put(0x3800, 2);  // d = 0.5
    for (int i = 0; i < 32; ++i) put(static_cast<std::uint8_t>(static_cast<std::int8_t>(i - blk * 40)), 1);
  }
  test::write_bytes(dir / "m.axonml", b);
  QuantPlan plan;
  plan.default_format = Format::f32;
  quantize_model(dir / "m.axonml", dir / "m.gguf", plan);
  const GgufFile out = GgufFile::open(dir / "m.gguf");
  const auto values = out.tensor_f32("tensor_0");
  ASSERT_EQ(values.size(), 64u);
  for (int blk = 0; blk < 2; ++blk) {
    for (int i = 0; i < 32; ++i) EXPECT_EQ(values[blk * 32 + i], 0.5f * static_cast<float>(i - blk * 40));
  }
  EXPECT_EQ(out.find_tensor("tensor_0")->shape, (std::vector<std::uint64_t>{2, 32}));
}

// ---------------------------------------------------------------------------------------------
// Streaming: peak memory stays near the largest tensor, not the model.

#if defined(QLINEAR_CLI_PATH) && !defined(__SANITIZE_ADDRESS__)
TEST(ModelStreaming, PeakMemoryGrowsByLessThanTwiceTheLargestTensor) {
  test::TempDir dir;
  std::vector<ModelTensor> model;
  for (int i = 0; i < 24; ++i) {  // 24 × 2 MiB, then one of 8 MiB: 56 MiB in all
    model.push_back({"layer." + std::to_string(i) + ".weight", "F32", {512, 1024}, test::gaussian(512 * 1024, i), {}});
  }
  model.push_back({"largest.weight", "F32", {1024, 2048}, test::gaussian(1024 * 2048, 99), {}});
  const auto input = write_model(dir, model);
  model.clear();
  const std::uint64_t largest = 1024ull * 2048 * 4;

  const std::string in = input.string(), out = (dir / "m.gguf").string(),
                    report = (dir / "r.json").string();
  // A process of its own, so that the report's peak is the quantization's alone.
  const test::CliRun run = test::run_cli(dir, "quantize " + in + " " + out + " --type q8_0 -q --report " + report);
  ASSERT_EQ(run.code, 0) << run.output;
  const auto bytes = test::read_bytes(report);
  const auto json = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  const auto peak = json["totals"]["peak_rss_bytes"].get<std::uint64_t>();
  const auto before = json["totals"]["rss_before_bytes"].get<std::uint64_t>();
  ASSERT_GT(peak, 0u) << "no /proc/self/status here";
  EXPECT_LT(peak - before, 2 * largest) << "peak " << peak << ", before " << before;
}
#endif

}  // namespace
}  // namespace qlinear
