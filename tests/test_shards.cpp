// Sharded inputs: a safetensors index, a folder of shards, a GGUF split read as one model by
// quantize, compare and plan; and every way the shards can disagree, each one clear error that
// leaves no output behind.

#include "model/shards.hpp"
#include "sharded_model.hpp"

#include <qlinear/model.hpp>

#include <gtest/gtest.h>

namespace qlinear {
namespace {

using test::sharded_model_tensors;

QuantPlan q8_plan() {
  QuantPlan plan;
  plan.default_format = Format::q8_0;
  return plan;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The quantized bytes of a sharded model are those of the same tensors in one file.
TEST(ShardedInput, SafetensorsIndexAndFolderGiveTheBytesOfOneFile) {
  test::TempDir one, shards, folder;
  const auto tensors = sharded_model_tensors();
  test::write_safetensors_model(one / "model.safetensors", tensors);
  quantize_model(one / "model.safetensors", one / "out.gguf", q8_plan());
  const auto expected = test::read_bytes(one / "out.gguf");

  test::write_safetensors_shards(shards.path(), tensors, {2, 4});
  const ModelReport by_index = quantize_model(shards / "model.safetensors.index.json", one / "index.gguf", q8_plan());
  EXPECT_EQ(test::read_bytes(one / "index.gguf"), expected);
  EXPECT_EQ(by_index.tensors.size(), tensors.size());
  quantize_model(shards.path(), one / "dir.gguf", q8_plan());  // the folder: its index
  EXPECT_EQ(test::read_bytes(one / "dir.gguf"), expected);

  test::write_safetensors_shards(folder.path(), tensors, {1, 3, 5}, false);  // no index: every file, by name
  quantize_model(folder.path(), one / "folder.gguf", q8_plan());
  EXPECT_EQ(test::read_bytes(one / "folder.gguf"), expected);

  const auto plan = plan_model(shards.path(), q8_plan());
  ASSERT_EQ(plan.size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) EXPECT_EQ(plan[i].name, tensors[i].name);
}

TEST(ShardedInput, GgufSplitGivesTheBytesOfOneFileAndComparesAsOne) {
  test::TempDir dir;
  const auto tensors = sharded_model_tensors();
  test::write_gguf_model(dir / "one.gguf", tensors);
  const auto shards = test::write_gguf_split(dir.path(), "split", tensors, {2, 3});
  quantize_model(dir / "one.gguf", dir / "one-q8.gguf", q8_plan());
  quantize_model(shards[0], dir / "split-q8.gguf", q8_plan());
  // The input's split keys are not carried over: the output is the single file's, byte for byte.
  EXPECT_EQ(test::read_bytes(dir / "split-q8.gguf"), test::read_bytes(dir / "one-q8.gguf"));
  const GgufFile out = GgufFile::open(dir / "split-q8.gguf");
  EXPECT_EQ(out.find("split.count"), nullptr);
  EXPECT_EQ(out.find("general.name")->as_string(), "sharded test model");

  const ModelComparison c = compare_models(dir / "one.gguf", shards[0]);
  EXPECT_EQ(c.tensors.size(), tensors.size());
  EXPECT_EQ(c.rel_rmse, 0.0);
  EXPECT_TRUE(c.only_in_a.empty() && c.only_in_b.empty());
}

// gguf-split --no-tensor-first-split: the first file holds the metadata and no tensor.
TEST(ShardedInput, GgufSplitWhoseFirstFileHoldsNoTensor) {
  test::TempDir dir;
  const auto tensors = sharded_model_tensors();
  test::write_gguf_model(dir / "one.gguf", tensors);
  const auto shards = test::write_gguf_split(dir.path(), "split", tensors, {0, 3});
  ASSERT_EQ(GgufFile::open(shards[0]).tensors().size(), 0u);
  quantize_model(dir / "one.gguf", dir / "one-q8.gguf", q8_plan());
  quantize_model(shards[0], dir / "split-q8.gguf", q8_plan());
  EXPECT_EQ(test::read_bytes(dir / "split-q8.gguf"), test::read_bytes(dir / "one-q8.gguf"));
}

// Every failure below: the code, the names in the message, and nothing written.
template <typename Fn>
std::string expect_failure(const test::TempDir& out, Fn&& fn, ErrorCode code) {
  const auto before = out.entries();
  const std::string message = test::error_message(std::forward<Fn>(fn), code);
  EXPECT_EQ(out.entries(), before) << "output left behind";
  return message;
}

TEST(ShardedInput, IndexProblemsNameTheTensorsAndShards) {
  test::TempDir dir, out;
  auto tensors = sharded_model_tensors();
  test::write_safetensors_shards(dir.path(), tensors, {2, 4});
  const auto index = dir / "model.safetensors.index.json";
  const auto run = [&] { quantize_model(dir.path(), out / "m.gguf", q8_plan()); };
  const std::string good = [&] {
    const auto b = test::read_bytes(index);
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }();
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    test::write_text(index, text.replace(at, from.size(), to));
  };

  // A tensor the index lists that its shard does not hold.
  with("\"output_norm.weight\": \"model-00003-of-00003.safetensors\"",
       "\"output_norm.weight\": \"model-00003-of-00003.safetensors\", \"lm_head.weight\": "
       "\"model-00002-of-00003.safetensors\"");
  std::string m = expect_failure(out, run, ErrorCode::malformed_file);
  EXPECT_TRUE(contains(m, "absent from their shard: 'lm_head.weight' in 'model-00002-of-00003.safetensors'")) << m;

  // The index puts a tensor in another shard than the one holding it.
  with("\"blk.0.attn_q.bias\": \"model-00001-of-00003.safetensors\"",
       "\"blk.0.attn_q.bias\": \"model-00002-of-00003.safetensors\"");
  m = expect_failure(out, run, ErrorCode::malformed_file);
  EXPECT_TRUE(contains(m, "'blk.0.attn_q.bias' in 'model-00001-of-00003.safetensors', listed in "
                          "'model-00002-of-00003.safetensors'")) << m;

  // A shard the index names that is not there: every missing one is named.
  with("\"blk.0.attn_q.bias\": \"model-00001-of-00003.safetensors\"",
       "\"blk.0.attn_q.bias\": \"model-00004-of-00003.safetensors\"");
  std::filesystem::remove(dir / "model-00003-of-00003.safetensors");
  m = expect_failure(out, run, ErrorCode::io);
  EXPECT_TRUE(contains(m, "2 of its 4 shards missing beside it: 'model-00003-of-00003.safetensors', "
                          "'model-00004-of-00003.safetensors'")) << m;

  // Not an index, a key twice, a shard outside the folder.
  test::write_text(index, "{\"metadata\": {}}");
  EXPECT_TRUE(contains(expect_failure(out, run, ErrorCode::malformed_file), "no object \"weight_map\"")) << m;
  test::write_text(index, "{\"weight_map\": {\"a\": \"x.safetensors\", \"a\": \"y.safetensors\"}}");
  EXPECT_TRUE(contains(expect_failure(out, run, ErrorCode::malformed_file), "key 'a' appears twice"));
  test::write_text(index, "{\"weight_map\": {\"a\": \"../x.safetensors\"}}");
  EXPECT_TRUE(contains(expect_failure(out, run, ErrorCode::malformed_file), "is not a file name beside the index"));
}

TEST(ShardedInput, TwoShardsHoldingOneTensorAndTruncatedShards) {
  test::TempDir dir, out;
  auto tensors = sharded_model_tensors();
  const auto paths = test::write_safetensors_shards(dir.path(), tensors, {3}, false);
  test::write_safetensors_model(dir / "model-extra.safetensors", {tensors[4]});
  std::string m = expect_failure(out, [&] { quantize_model(dir.path(), out / "m.gguf", q8_plan()); },
                                 ErrorCode::malformed_file);
  EXPECT_TRUE(contains(m, "model-extra.safetensors: tensor 'blk.1.attn_q.weight' is also in")) << m;
  EXPECT_TRUE(contains(m, "model-00002-of-00002.safetensors: two shards of one model hold it")) << m;
  std::filesystem::remove(dir / "model-extra.safetensors");

  auto bytes = test::read_bytes(paths[1]);
  bytes.resize(bytes.size() - 5);
  test::write_bytes(paths[1], bytes);
  m = expect_failure(out, [&] { quantize_model(dir.path(), out / "m.gguf", q8_plan()); }, ErrorCode::malformed_file);
  EXPECT_TRUE(contains(m, paths[1].string())) << m;

  test::TempDir split;
  const auto shards = test::write_gguf_split(split.path(), "m", tensors, {2, 4});
  bytes = test::read_bytes(shards[2]);
  bytes.resize(bytes.size() - 100);
  test::write_bytes(shards[2], bytes);
  m = expect_failure(out, [&] { quantize_model(shards[0], out / "m.gguf", q8_plan()); }, ErrorCode::malformed_file);
  EXPECT_TRUE(contains(m, shards[2].string())) << m;
}

TEST(ShardedInput, SplitKeysThatDisagreeAreNamed) {
  const auto tensors = sharded_model_tensors();
  test::TempDir out;
  const auto fails = [&](auto keys, const std::string& expected, ErrorCode code = ErrorCode::malformed_file) {
    test::TempDir dir;
    const auto shards = test::write_gguf_split(dir.path(), "m", tensors, {2, 4}, keys);
    const std::string m =
        expect_failure(out, [&] { quantize_model(shards[0], out / "m.gguf", q8_plan()); }, code);
    EXPECT_TRUE(contains(m, expected)) << m;
  };
  using Keys = test::SplitKeyValues;
  fails([](std::size_t k, Keys& s) { if (k == 1) s.no = 2; },
        "m-00002-of-00003.gguf: shard 2 of a split of 3, but its split.no is 2");
  fails([](std::size_t k, Keys& s) { if (k == 2) s.count = 4; },
        "m-00003-of-00003.gguf: shard 3 of a split of 3, but its split.count is 4");
  fails([](std::size_t k, Keys& s) { if (k == 1) s.tensors = 7; },
        "m-00002-of-00003.gguf: shard 2 of a split of 3: its split.tensors.count is 7, m-00001-of-00003.gguf's 6");
  fails([](std::size_t, Keys& s) { s.tensors = 5; }, "split.tensors.count is 5, but the 3 shards hold 6 tensors");
  fails([](std::size_t k, Keys& s) { if (k == 2) s.no.reset(); }, "shard 3 of a split of 3: it lacks split.no");

  // The second shard given instead of the first; a first shard whose name does not match its count.
  test::TempDir dir;
  const auto shards = test::write_gguf_split(dir.path(), "m", tensors, {2, 4});
  std::string m = expect_failure(out, [&] { quantize_model(shards[1], out / "m.gguf", q8_plan()); },
                                 ErrorCode::malformed_file);
  EXPECT_TRUE(contains(m, "is shard 2 of a split of 3; give the first shard, m-00001-of-00003.gguf")) << m;
  std::filesystem::copy_file(shards[0], dir / "renamed.gguf");
  m = expect_failure(out, [&] { quantize_model(dir / "renamed.gguf", out / "m.gguf", q8_plan()); },
                     ErrorCode::malformed_file);
  EXPECT_TRUE(contains(m, "not named as the first shard of such a split (NAME-00001-of-00003.gguf)")) << m;
  // A missing shard.
  std::filesystem::remove(shards[2]);
  m = expect_failure(out, [&] { quantize_model(shards[0], out / "m.gguf", q8_plan()); }, ErrorCode::io);
  EXPECT_TRUE(contains(m, "1 of its 3 shards missing beside it: 'm-00003-of-00003.gguf'")) << m;
}

TEST(ShardedInput, SplitKeysOfAnotherType) {
  test::TempDir dir, out;
  GgufWriter writer(dir / "m-00001-of-00002.gguf");
  writer.set("split.count", GgufValue::u32(2));
  writer.add_tensor("a", {32}, 0);
  writer.write_header();
  writer.write_tensor_data("a", test::float_bytes(std::vector<float>(32, 1.0f)));
  writer.finish();
  const std::string m = expect_failure(
      out, [&] { quantize_model(dir / "m-00001-of-00002.gguf", out / "m.gguf", q8_plan()); }, ErrorCode::malformed_file);
  EXPECT_TRUE(contains(m, "key split.count is a u32; llama.cpp writes a u16")) << m;
}

TEST(ShardedInput, FolderContents) {
  test::TempDir empty, both, out;
  EXPECT_TRUE(contains(test::error_message([&] { model::find_model_files(empty.path()); }, ErrorCode::invalid_argument),
                       "no model in this folder"));
  test::write_safetensors_model(both / "a.safetensors", sharded_model_tensors());
  test::write_gguf_model(both / "b.gguf", sharded_model_tensors());
  EXPECT_TRUE(contains(test::error_message([&] { model::find_model_files(both.path()); }, ErrorCode::invalid_argument),
                       "holds more than one model ('b.gguf' and 'a.safetensors')"));
  std::filesystem::remove(both / "a.safetensors");
  const auto files = model::find_model_files(both.path());
  ASSERT_EQ(files.files.size(), 1u);
  EXPECT_EQ(files.files[0], both / "b.gguf");
}

TEST(SplitNames, ParsedAndWrittenAsLlamaCppNamesThem) {
  const auto n = model::parse_split_name("dir-x/Model-Q4-00002-of-00015.gguf");
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(n->prefix, "dir-x/Model-Q4");
  EXPECT_EQ(n->number, 2u);
  EXPECT_EQ(n->count, 15u);
  EXPECT_EQ(model::split_file_name("m", 3, 12), "m-00003-of-00012.gguf");
  for (const char* bad : {"m-00000-of-00003.gguf", "m-00004-of-00003.gguf", "m-0001-of-00003.gguf",
                          "-00001-of-00003.gguf", "m-00001-of-00003.safetensors", "m-0000a-of-00003.gguf"}) {
    EXPECT_FALSE(model::parse_split_name(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace qlinear
