// llama-quantize's mixes: qlinear's choice for every tensor of five llama.cpp-shaped models, in every
// mix, plain, --pure and with importance weights, against llama.cpp's own choices (tests/data/llama_mixes.json, written
// by llama.cpp's llama_model_quantize from the models llama_shaped_model.hpp writes); the bytes too,
// for every run whose formats qlinear can already quantize.

#include "formats/registry.hpp"
#include "corpus/byte_builder.hpp"
#include "llama_shaped_model.hpp"
#include "model/mix.hpp"
#include "model/plan.hpp"
#include "temp_dir.hpp"

#include <qlinear/error.hpp>
#include <qlinear/gguf.hpp>
#include <qlinear/mix.hpp>
#include <qlinear/model.hpp>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace qlinear {
namespace {

const nlohmann::json& expectations() {
  static const nlohmann::json doc = [] {
    std::ifstream in(std::string(QLINEAR_TEST_DATA_DIR) + "/llama_mixes.json");
    if (!in) throw std::runtime_error("cannot open tests/data/llama_mixes.json");
    return nlohmann::json::parse(in);
  }();
  return doc;
}

// llama-quantize was given an importance matrix in this run ("q4_0 imatrix"): an empty one, which
// changes its choices only (it found no weights for any tensor, so the bytes are as without one).
bool with_imatrix(const std::string& run) { return run.ends_with(" imatrix"); }

// "q4_K_M", "q4_K_M pure" or "q4_K_M imatrix", as the expectations name a run.
// The plan of a run; an imatrix run gets a matrix with no entry for any tensor (written in `dir`), as
// llama-quantize was given.
QuantPlan plan_for_run(const std::string& run, const test::TempDir& dir) {
  const bool pure = run.ends_with(" pure");
  const std::string name = run.substr(0, run.find(' '));
  const auto mix = find_mix(name);
  if (!mix) throw std::runtime_error("no mix named " + name);
  QuantPlan plan;
  plan.mix = mix;
  plan.default_format = mix_info(*mix).base;
  plan.pure = pure;
  if (with_imatrix(run)) {
    const auto imatrix = dir / "unrelated.imatrix.dat";
    // .dat: one entry "unrelated" (ncall 1, one value 1.0), no trailer.
    test::write_bytes(imatrix, test::ByteBuilder().u32(1).u32(9).raw("unrelated").u32(1).u32(1).f32(1.0f).take());
    plan.importance = std::make_shared<const ImportanceMatrix>(ImportanceMatrix::open(imatrix));
  }
  return plan;
}

// "blk.{0-2,5}.attn_v.weight" → blk.0…, blk.1…, blk.2…, blk.5…; a name without braces is itself.
std::vector<std::string> expand_names(const std::string& pattern) {
  const auto open = pattern.find('{');
  if (open == std::string::npos) return {pattern};
  const auto close = pattern.find('}', open);
  const std::string head = pattern.substr(0, open), tail = pattern.substr(close + 1);
  std::vector<std::string> names;
  std::stringstream items(pattern.substr(open + 1, close - open - 1));
  for (std::string item; std::getline(items, item, ',');) {
    const auto dash = item.find('-');
    const int first = std::stoi(item.substr(0, dash));
    const int last = dash == std::string::npos ? first : std::stoi(item.substr(dash + 1));
    for (int i = first; i <= last; ++i) names.push_back(head + std::to_string(i) + tail);
  }
  return names;
}

// What llama.cpp gave each tensor in a run, but those in the base format: "f32" for the tensors it
// left as they were, else the type the run lists them under.
std::map<std::string, std::string> expected_exceptions(const nlohmann::json& model, const nlohmann::json& run) {
  std::map<std::string, std::string> types;
  for (const auto& pattern : model["f32"]) {
    for (const auto& name : expand_names(pattern)) types[name] = "f32";
  }
  for (const auto& [type, patterns] : run["not_base"].items()) {
    for (const auto& pattern : patterns) {
      for (const auto& name : expand_names(pattern)) types[name] = type;
    }
  }
  return types;
}

class Mixes : public ::testing::TestWithParam<test::LlamaShape> {};

TEST_P(Mixes, ChooseWhatLlamaCppChoosesForEveryTensor) {
  const test::LlamaShape& shape = GetParam();
  const nlohmann::json& model = expectations()["models"][shape.name];
  ASSERT_FALSE(model.is_null()) << shape.name << " is not in llama_mixes.json";
  test::TempDir dir;
  const auto path = dir / (shape.name + ".gguf");
  test::write_llama_shaped_gguf(path, shape);

  std::size_t runs = 0;
  for (const auto& [run_name, run] : model["runs"].items()) {
    SCOPED_TRACE(shape.name + ", " + run_name);
    const QuantPlan plan = plan_for_run(run_name, dir);
    EXPECT_EQ(llama_file_type(*plan.mix), run["file_type"].get<std::uint32_t>());
    const auto decisions = plan_model(path, plan);
    const auto exceptions = expected_exceptions(model, run);
    std::size_t found = 0;
    for (const TensorDecision& d : decisions) {
      const auto e = exceptions.find(d.name);
      found += e != exceptions.end();
      const std::string expected = e != exceptions.end() ? e->second : std::string(format_name(plan.default_format));
      const std::string got = d.target ? std::string(format_name(*d.target)) : "f32";
      EXPECT_EQ(got, expected) << d.name << " (" << d.reason << ")";
    }
    EXPECT_EQ(found, exceptions.size()) << "the expectations name tensors the model does not have";
    ++runs;
  }
  EXPECT_EQ(runs, 3 * all_mixes().size());  // every mix: plain, --pure, and with importance weights
}

// FNV-1a, 64 bits, over the bytes of every tensor that is not f32, in the input's order: what the
// expectations record of llama.cpp's output.
std::string fnv1a64_of_quantized(const GgufFile& file, const std::vector<test::LlamaShapeTensor>& order) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const auto& t : order) {
    const GgufTensorInfo* info = file.find_tensor(t.name);
    if (info == nullptr) throw std::runtime_error("no tensor " + t.name);
    if (info->ggml_type == 0) continue;
    for (std::byte b : file.tensor_data(*info)) h = (h ^ static_cast<std::uint8_t>(b)) * 0x100000001b3ull;
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

TEST_P(Mixes, WriteLlamaCppsBytesForEveryMix) {
  const test::LlamaShape& shape = GetParam();
  const nlohmann::json& model = expectations()["models"][shape.name];
  ASSERT_FALSE(model.is_null());
  test::TempDir dir;
  const auto path = dir / (shape.name + ".gguf");
  test::write_llama_shaped_gguf(path, shape);
  const auto order = test::llama_shape_tensors(shape);

  std::size_t compared = 0;
  for (const auto& [run_name, run] : model["runs"].items()) {
    SCOPED_TRACE(shape.name + ", " + run_name);
    const QuantPlan plan = plan_for_run(run_name, dir);
    const auto out = dir / "out.gguf";
    quantize_model(path, out, plan);
    const GgufFile file = GgufFile::open(out);
    EXPECT_EQ(fnv1a64_of_quantized(file, order), run["fnv1a64"].get<std::string>());
    ASSERT_NE(file.find("general.file_type"), nullptr);
    EXPECT_EQ(file.find("general.file_type")->as_u64(), run["file_type"].get<std::uint64_t>());
    ++compared;
  }
  EXPECT_EQ(compared, 3 * all_mixes().size());  // every mix: plain, --pure, and with importance weights
}

INSTANTIATE_TEST_SUITE_P(LlamaShapes, Mixes, ::testing::ValuesIn(test::llama_shapes()),
                         [](const auto& p) { return p.param.name; });

// ---------------------------------------------------------------------------------------------
// The parts, one by one.

TEST(MixNames, AnyLetterCaseAndLlamaQuantizesShortNames) {
  EXPECT_EQ(find_mix("q4_k_m"), Mix::q4_K_M);
  EXPECT_EQ(find_mix("Q4_K_M"), Mix::q4_K_M);
  EXPECT_EQ(find_mix("Q4_K"), Mix::q4_K_M);
  EXPECT_EQ(find_mix("q3_k"), Mix::q3_K_M);
  EXPECT_EQ(find_mix("q5_K"), Mix::q5_K_M);
  EXPECT_EQ(find_mix("IQ4_XS"), Mix::iq4_xs);
  EXPECT_EQ(find_mix("q4_0"), Mix::q4_0);
  EXPECT_EQ(find_mix("f16"), std::nullopt);
  EXPECT_EQ(find_mix("q8_1"), std::nullopt);
  EXPECT_EQ(find_mix("i4"), std::nullopt);
  // llama.h's numbers.
  EXPECT_EQ(llama_file_type(Mix::q4_K_M), 15u);
  EXPECT_EQ(llama_file_type(Mix::q4_K_S), 14u);
  EXPECT_EQ(llama_file_type(Mix::q3_K_S), 11u);
  EXPECT_EQ(mix_info(Mix::q3_K_L).base, Format::q3_K);
}

TEST(MixFallbacks, SmallerBlocksThenNone) {
  EXPECT_EQ(model::smaller_block_fallback(Format::q2_K), Format::q4_0);
  EXPECT_EQ(model::smaller_block_fallback(Format::q3_K), Format::q4_0);
  EXPECT_EQ(model::smaller_block_fallback(Format::q4_K), Format::q5_0);
  EXPECT_EQ(model::smaller_block_fallback(Format::q5_K), Format::q5_1);
  EXPECT_EQ(model::smaller_block_fallback(Format::q6_K), Format::q8_0);
  EXPECT_EQ(model::smaller_block_fallback(Format::iq4_xs), Format::iq4_nl);
  EXPECT_EQ(model::smaller_block_fallback(Format::q4_0), std::nullopt);
}

const TensorDecision& decision(const std::vector<TensorDecision>& all, const std::string& name) {
  for (const auto& d : all) {
    if (d.name == name) return d;
  }
  throw std::runtime_error("no decision for " + name);
}

TEST(MixReasons, SayWhichRuleAndWhichLayer) {
  const test::LlamaShape shape = test::llama_shapes()[0];
  test::TempDir dir;
  test::write_llama_shaped_gguf(dir / "m.gguf", shape);
  const auto d = plan_model(dir / "m.gguf", plan_for_run("q4_K_M", dir));
  EXPECT_EQ(decision(d, "blk.3.attn_v.weight").reason, "mix q4_K_M: attn_v 3 of 32, more bits for this one");
  EXPECT_EQ(decision(d, "blk.4.attn_v.weight").reason, "mix q4_K_M: attn_v 4 of 32, base format");
  EXPECT_EQ(decision(d, "output.weight").reason, "mix q4_K_M: output, q6_K for the output");
  EXPECT_EQ(decision(d, "blk.0.ffn_down.weight").reason,
            "mix q4_K_M: ffn_down in layer 0 of 32, more bits for this layer, fallback to q8_0: row length 96 is not a "
            "multiple of 256");
  EXPECT_EQ(decision(d, "extra_proj.weight").reason,
            "mix q4_K_M: base format, fallback to f16: row length 40 is not a multiple of 256");
  EXPECT_EQ(decision(d, "blk.0.attn_norm.weight").reason, "kept: 1-D");
}

TEST(MixRules, RulesAndKeepsWinAndAreNotCounted) {
  const test::LlamaShape shape = test::llama_shapes()[0];
  test::TempDir dir;
  test::write_llama_shaped_gguf(dir / "m.gguf", shape);
  QuantPlan plan = plan_for_run("q3_K_M", dir);
  plan.rules.push_back({"blk.0.attn_v.weight", Format::q8_0});
  plan.rules.push_back({"output.weight", std::nullopt});
  const auto d = plan_model(dir / "m.gguf", plan);
  EXPECT_EQ(decision(d, "blk.0.attn_v.weight").target, Format::q8_0);
  EXPECT_EQ(decision(d, "output.weight").target, std::nullopt);
  // q3_K_M gives the first 2 attn_v q5_K; llama-quantize does not count a tensor its --tensor-type
  // overrides, so those are now layers 1 and 2 (llama_model_quantize, the library named in
  // tests/data/README.md, given this model and an override of blk.0.attn_v.weight: q8_0, q5_K, q5_K,
  // q4_K for layers 0 to 3).
  EXPECT_EQ(decision(d, "blk.1.attn_v.weight").target, Format::q5_K);
  EXPECT_EQ(decision(d, "blk.2.attn_v.weight").target, Format::q5_K);
  EXPECT_EQ(decision(d, "blk.3.attn_v.weight").target, Format::q4_K);
}

TEST(MixRules, ApplyToGgufModelsOnly) {
  test::TempDir dir;
  const test::LlamaShape shape = test::llama_shapes()[0];
  test::write_llama_shaped_gguf(dir / "m.gguf", shape);
  QuantPlan plan = plan_for_run("q4_0", dir);
  EXPECT_EQ(decision(plan_model(dir / "m.gguf", plan), "output.weight").target, Format::q6_K);

  // The same tensors in a safetensors file: no architecture to read, so every matrix gets the base.
  QuantPlan copy;
  copy.default_format = Format::f32;
  quantize_model(dir / "m.gguf", dir / "m.safetensors", copy);
  const auto from_safetensors = plan_model(dir / "m.safetensors", plan);
  EXPECT_EQ(decision(from_safetensors, "output.weight").target, Format::q4_0);
  EXPECT_EQ(decision(from_safetensors, "output.weight").reason, "default");

  plan.mix.reset();  // a library caller who sets no mix gets the plain plan
  EXPECT_EQ(decision(plan_model(dir / "m.gguf", plan), "output.weight").target, Format::q4_0);
}

}  // namespace
}  // namespace qlinear
