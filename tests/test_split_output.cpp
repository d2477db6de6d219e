// Split outputs: GGUF files split as llama.cpp's gguf-split splits them (its size and count rules,
// the split keys in every file, the metadata in the first), safetensors shards with an index; each
// read back as one model with the tensors of the single-file output; nothing left on failure.

#include "model/split_output.hpp"
#include "sharded_model.hpp"

#include <qlinear/model.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

namespace qlinear {
namespace {

OutputOptions split_every(std::size_t tensors) {
  OutputOptions o;
  o.split_max_tensors = tensors;
  return o;
}

OutputOptions split_at(std::uint64_t bytes) {
  OutputOptions o;
  o.split_max_bytes = bytes;
  return o;
}

TEST(SplitRule, SizeAndCountLimitsAsGgufSplitAppliesThem) {
  using V = std::vector<std::size_t>;
  const std::vector<std::uint64_t> sizes = {100, 100, 100, 50};
  EXPECT_EQ(model::assign_shards(sizes, 200, 0), (V{0, 0, 1, 1}));  // 200 is not above the limit: same file
  EXPECT_EQ(model::assign_shards(sizes, 199, 0), (V{0, 1, 2, 2}));
  EXPECT_EQ(model::assign_shards(std::vector<std::uint64_t>{10, 300, 10}, 200, 0), (V{0, 1, 2}));
  EXPECT_EQ(model::assign_shards(std::vector<std::uint64_t>{300, 10}, 200, 0), (V{0, 1}));  // never an empty first file
  EXPECT_EQ(model::assign_shards(std::vector<std::uint64_t>{1, 1, 1, 1, 1}, 0, 2), (V{0, 0, 1, 1, 2}));
  EXPECT_EQ(model::assign_shards(std::vector<std::uint64_t>{}, 0, 2), V{});
  EXPECT_THROW(model::assign_shards(sizes, 200, 2), Error);
  EXPECT_THROW(model::assign_shards(sizes, 0, 0), Error);
  EXPECT_EQ(model::shard_path("/a/b/out.gguf", 1, 12), std::filesystem::path("/a/b/out-00002-of-00012.gguf"));
  EXPECT_EQ(model::shard_path("m.safetensors", 0, 3), std::filesystem::path("m-00001-of-00003.safetensors"));
}

QuantPlan plan_for(Format f) {
  QuantPlan plan;
  plan.default_format = f;
  return plan;
}

struct Written {
  test::TempDir dir;
  std::filesystem::path one;  // the single-file output
};

// The test model in one safetensors file, quantized into one file `one_name`.
void write_single(Written& w, const QuantPlan& plan, const std::string& one_name) {
  test::write_safetensors_model(w.dir / "in.safetensors", test::sharded_model_tensors());
  w.one = w.dir / one_name;
  quantize_model(w.dir / "in.safetensors", w.one, plan);
}

std::vector<std::pair<std::string, std::string>> keys_and_values(const GgufFile& f) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : f.metadata()) out.emplace_back(k, std::string(gguf_value_type_name(v.type())) + " " + v.to_display_string());
  return out;
}

TEST(SplitOutput, GgufFilesHoldTheSingleFilesTensorsAndKeysAsGgufSplitWrites) {
  for (const OutputOptions options : {split_every(4), split_at(6000)}) {
    Written w;
    write_single(w, plan_for(Format::q8_0), "one.gguf");
    const ModelReport report =
        quantize_model(w.dir / "in.safetensors", w.dir / "out.gguf", plan_for(Format::q8_0), {}, options);
    const GgufFile one = GgufFile::open(w.one);

    // The files gguf-split would make of the single file: its rule on each tensor padded to 32.
    std::vector<std::uint64_t> padded;
    for (const auto& t : one.tensors()) padded.push_back((t.nbytes + 31) / 32 * 32);
    const auto shard_of = model::assign_shards(padded, options.split_max_bytes, options.split_max_tensors);
    const std::size_t count = shard_of.back() + 1;
    ASSERT_GE(count, 2u);
    ASSERT_EQ(report.files.size(), count);
    std::size_t next = 0;
    for (std::size_t k = 0; k < count; ++k) {
      EXPECT_EQ(report.files[k], model::shard_path(w.dir / "out.gguf", k, count));
      const GgufFile shard = GgufFile::open(report.files[k]);
      auto expected = k == 0 ? keys_and_values(one) : decltype(keys_and_values(one)){};
      expected.emplace_back("split.no", "u16 " + std::to_string(k));
      expected.emplace_back("split.count", "u16 " + std::to_string(count));
      expected.emplace_back("split.tensors.count", "i32 " + std::to_string(one.tensors().size()));
      EXPECT_EQ(keys_and_values(shard), expected) << k;
      for (const auto& t : shard.tensors()) {
        ASSERT_LT(next, one.tensors().size());
        const GgufTensorInfo& o = one.tensors()[next];
        EXPECT_EQ(shard_of[next], k) << t.name;
        EXPECT_EQ(t.name, o.name);
        EXPECT_EQ(t.ggml_type, o.ggml_type);
        EXPECT_EQ(t.shape, o.shape);
        const auto a = shard.tensor_data(t), b = one.tensor_data(o);
        EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << t.name;
        ++next;
      }
    }
    EXPECT_EQ(next, one.tensors().size());

    // Read back as one model: the single file's tensors, and its bytes once copied into one file.
    const ModelComparison c = compare_models(w.one, report.files[0]);
    EXPECT_EQ(c.tensors.size(), one.tensors().size());
    EXPECT_TRUE(c.only_in_a.empty() && c.only_in_b.empty());
    EXPECT_EQ(c.rel_rmse, 0.0);
    quantize_model(report.files[0], w.dir / "back.gguf", plan_for(Format::f32));
    quantize_model(w.one, w.dir / "one-f32.gguf", plan_for(Format::f32));
    EXPECT_EQ(test::read_bytes(w.dir / "back.gguf"), test::read_bytes(w.dir / "one-f32.gguf"));
  }
}

TEST(SplitOutput, SafetensorsShardsAndIndexReadBackAsTheSingleFile) {
  Written w;
  write_single(w, plan_for(Format::f16), "one.safetensors");
  const ModelReport report = quantize_model(w.dir / "in.safetensors", w.dir / "out.safetensors",
                                            plan_for(Format::f16), {}, split_every(4));
  const std::vector<std::filesystem::path> expected_files = {
      w.dir / "out-00001-of-00002.safetensors", w.dir / "out-00002-of-00002.safetensors",
      w.dir / "out.safetensors.index.json"};
  EXPECT_EQ(report.files, expected_files);
  const SafetensorsFile one = SafetensorsFile::open(w.one);
  const auto bytes = test::read_bytes(expected_files[2]);
  const auto index = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < one.tensors().size(); ++i) {
    const auto& t = one.tensors()[i];
    const auto shard_name = expected_files[i < 4 ? 0 : 1].filename().string();
    EXPECT_EQ(index["weight_map"][t.name], shard_name) << t.name;
    const SafetensorsFile shard = SafetensorsFile::open(w.dir / shard_name);
    const auto a = shard.tensor_data(shard.tensor(t.name)), b = one.tensor_data(t);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << t.name;
    EXPECT_EQ(shard.tensor(t.name).dtype, t.dtype);
    total += t.nbytes();
  }
  EXPECT_EQ(index["weight_map"].size(), one.tensors().size());
  EXPECT_EQ(index["metadata"]["total_size"], total);
  // The index read as the model: the single file's bytes again.
  quantize_model(expected_files[2], w.dir / "again.safetensors", plan_for(Format::f16));
  EXPECT_EQ(test::read_bytes(w.dir / "again.safetensors"), test::read_bytes(w.one));
}

TEST(SplitOutput, AFailedRunRemovesTheFilesAlreadyWritten) {
  test::TempDir dir;
  test::write_safetensors_model(dir / "in.safetensors", test::sharded_model_tensors());
  const auto fail_midway = [](const ModelProgress& p) {
    if (p.index == 5) throw std::runtime_error("stopped");  // the first two files are complete by now
  };
  for (const char* out : {"out.gguf", "out.safetensors"}) {
    EXPECT_THROW(quantize_model(dir / "in.safetensors", dir / out, plan_for(Format::f16), fail_midway,
                                split_every(2)),
                 std::runtime_error);
    EXPECT_EQ(dir.entries(), std::vector<std::string>{"in.safetensors"}) << out;
  }
  // i8/i4 tensors are several GGUF tensors each: refused before anything is written.
  const std::string m = test::error_message(
      [&] { quantize_model(dir / "in.safetensors", dir / "out.gguf", plan_for(Format::i8), {}, split_every(2)); },
      ErrorCode::unsupported);
  EXPECT_NE(m.find("tensor 'blk.0.attn_q.weight': an i8/i4 tensor"), std::string::npos) << m;
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"in.safetensors"});
}

// A plan's pieces: each file written on its own (here on threads of their own, last file first) is
// the whole run's file, byte for byte.
TEST(SplitOutput, FilesWrittenOneByOneInAnyOrderAreTheWholeRunsBytes) {
  test::TempDir dir;
  test::write_safetensors_model(dir / "in.safetensors", test::sharded_model_tensors());
  for (const auto& [name, format] : {std::pair{"whole.gguf", Format::q4_0}, std::pair{"whole.safetensors", Format::bf16}}) {
    const ModelReport whole =
        quantize_model(dir / "in.safetensors", dir / name, plan_for(format), {}, split_every(2));
    std::vector<std::vector<std::byte>> expected;
    for (const auto& f : whole.files) expected.push_back(test::read_bytes(f));
    const std::size_t count = whole.files.size() - (format == Format::bf16 ? 1 : 0);  // without the index
    ASSERT_EQ(count, 3u);
    test::TempDir pieces;
    std::vector<std::thread> threads;
    for (std::size_t k = count; k-- > 0;) {
      threads.emplace_back([&, k] {
        OutputOptions one = split_every(2);
        one.only_file = k;
        const ModelReport r = quantize_model(dir / "in.safetensors", pieces / name, plan_for(format), {}, one);
        EXPECT_EQ(r.files.front(), model::shard_path(pieces / name, k, count));
      });
    }
    for (auto& t : threads) t.join();
    for (std::size_t k = 0; k < whole.files.size(); ++k) {
      EXPECT_EQ(test::read_bytes(pieces / whole.files[k].filename()), expected[k]) << whole.files[k];
    }
    OutputOptions beyond = split_every(2);
    beyond.only_file = count;
    EXPECT_EQ(test::error_code_of([&] { quantize_model(dir / "in.safetensors", pieces / name, plan_for(format), {}, beyond); }),
              ErrorCode::invalid_argument);
  }
}

}  // namespace
}  // namespace qlinear
