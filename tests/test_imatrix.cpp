// Importance matrices: both kinds llama.cpp writes, read back with the values llama-quantize would
// use (checked against the same division in double precision, rounded once to float), and their use
// by quantize_model() and `qlinear quantize --imatrix`. Malformed files are in the corpus
// (corpus/imatrix_corpus.cpp, run by test_malformed.cpp).

#include "corpus/byte_builder.hpp"
#include "io/imatrix_parser.hpp"
#include "temp_dir.hpp"
#include "test_support.hpp"

#include <qlinear/gguf.hpp>
#include <qlinear/imatrix.hpp>
#include <qlinear/model.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace qlinear {
namespace {

using test::ByteBuilder;

// Positive sums of squares of varied magnitude.
std::vector<float> sums(std::size_t n, std::uint64_t seed) {
  std::vector<float> v = test::gaussian(n, seed, 3.0f);
  for (float& x : v) x = x * x;
  return v;
}

float quotient(float a, double b) { return static_cast<float>(static_cast<double>(a) / b); }

void add_f32(GgufWriter& w, const std::string& name, std::vector<std::uint64_t> shape) {
  w.add_tensor(name, std::move(shape), 0);
}
void write_f32(GgufWriter& w, const std::string& name, const std::vector<float>& v) {
  w.write_tensor_data(name, std::as_bytes(std::span(v)));
}

ByteBuilder& dat_entry(ByteBuilder& b, std::string_view name, std::int32_t ncall, const std::vector<float>& values) {
  b.le(static_cast<std::int32_t>(name.size())).raw(name).le(ncall).le(static_cast<std::int32_t>(values.size()));
  for (float v : values) b.f32(v);
  return b;
}

TEST(ImportanceMatrix, GgufKindDividesSumsByRoundedCountsAndGivesOneToExpertsWithoutTokens) {
  test::TempDir dir;
  const auto path = dir / "imatrix.gguf";
  const auto dense = sums(8, 1), experts = sums(3 * 4, 2), other = sums(5, 3);
  // Counts as llama-imatrix stores them (floats); llama-quantize rounds them half away from zero:
  // 2.5 → 3, 0.4 → 0, 0 → 0.
  const std::vector<float> dense_count = {12.0f}, expert_counts = {2.5f, 0.0f, 0.4f};
  {
    GgufWriter w(path);
    w.set("general.type", GgufValue::string("imatrix"));
    w.set("imatrix.datasets", GgufValue::array(GgufValueType::string,
                                               {GgufValue::string("wiki.train.raw"), GgufValue::string("code.txt")}));
    w.set("imatrix.chunk_count", GgufValue::u32(100));
    w.set("imatrix.chunk_size", GgufValue::u32(512));
    add_f32(w, "blk.0.attn_q.weight.in_sum2", {1, 8});
    add_f32(w, "blk.0.attn_q.weight.counts", {1, 1});
    add_f32(w, "blk.0.ffn_up_exps.weight.in_sum2", {3, 4});
    add_f32(w, "blk.0.ffn_up_exps.weight.counts", {3, 1});
    add_f32(w, "not.an.entry", {5});  // ignored, as llama-quantize ignores it
    w.write_header();
    write_f32(w, "blk.0.attn_q.weight.in_sum2", dense);
    write_f32(w, "blk.0.attn_q.weight.counts", dense_count);
    write_f32(w, "blk.0.ffn_up_exps.weight.in_sum2", experts);
    write_f32(w, "blk.0.ffn_up_exps.weight.counts", expert_counts);
    write_f32(w, "not.an.entry", other);
    w.finish();
  }
  const ImportanceMatrix m = ImportanceMatrix::open(path);
  EXPECT_EQ(m.kind(), ImportanceMatrix::Kind::gguf);
  EXPECT_EQ(m.path(), path);
  EXPECT_EQ(m.names(), (std::vector<std::string>{"blk.0.attn_q.weight", "blk.0.ffn_up_exps.weight"}));
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m.datasets(), (std::vector<std::string>{"wiki.train.raw", "code.txt"}));
  EXPECT_EQ(m.dataset(), "wiki.train.raw");
  EXPECT_EQ(m.chunks(), 100u);
  EXPECT_EQ(m.chunk_size(), 512u);
  EXPECT_FALSE(m.find("not.an.entry"));
  EXPECT_FALSE(m.find("blk.0.attn_q"));

  const auto q = m.find("blk.0.attn_q.weight");
  ASSERT_TRUE(q);
  ASSERT_EQ(q->size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ((*q)[i], quotient(dense[i], 12.0)) << i;

  const auto e = m.find("blk.0.ffn_up_exps.weight");
  ASSERT_TRUE(e);
  ASSERT_EQ(e->size(), 12u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*e)[i], quotient(experts[i], 3.0)) << i;
    EXPECT_EQ((*e)[4 + i], 1.0f) << i;  // count 0
    EXPECT_EQ((*e)[8 + i], 1.0f) << i;  // count 0.4, rounded to 0
  }
}

std::vector<std::byte> dat_file(bool chunk_count, bool dataset) {
  ByteBuilder b;
  b.le(std::int32_t{3});
  dat_entry(b, "blk.0.attn_k.weight", 10, sums(6, 4));
  dat_entry(b, "blk.0.attn_v.weight", 0, sums(3, 5));
  dat_entry(b, "output.weight", 7, sums(4, 6));
  if (chunk_count) b.le(std::int32_t{42});
  if (dataset) b.le(std::int32_t{9}).raw("calib.txt");
  return b.take();
}

TEST(ImportanceMatrix, DatKindDividesByNcallAndReadsTheOptionalTrailer) {
  test::TempDir dir;
  const auto path = dir / "imatrix.dat";
  test::write_bytes(path, dat_file(true, true));
  const ImportanceMatrix m = ImportanceMatrix::open(path);
  EXPECT_EQ(m.kind(), ImportanceMatrix::Kind::legacy_dat);
  EXPECT_EQ(m.names(), (std::vector<std::string>{"blk.0.attn_k.weight", "blk.0.attn_v.weight", "output.weight"}));
  EXPECT_EQ(m.chunks(), 42u);
  EXPECT_EQ(m.chunk_size(), 0u);
  EXPECT_EQ(m.datasets(), std::vector<std::string>{"calib.txt"});

  const auto k = m.find("blk.0.attn_k.weight");
  ASSERT_TRUE(k);
  const auto k_raw = sums(6, 4);
  ASSERT_EQ(k->size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ((*k)[i], quotient(k_raw[i], 10.0)) << i;
  const auto v = m.find("blk.0.attn_v.weight");  // ncall 0: taken as stored
  ASSERT_TRUE(v);
  EXPECT_EQ(std::vector<float>(v->begin(), v->end()), sums(3, 5));
  const auto o = m.find("output.weight");
  ASSERT_TRUE(o);
  const auto o_raw = sums(4, 6);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ((*o)[i], quotient(o_raw[i], 7.0)) << i;

  test::write_bytes(path, dat_file(false, false));
  const ImportanceMatrix bare = ImportanceMatrix::open(path);
  EXPECT_EQ(bare.chunks(), 0u);
  EXPECT_TRUE(bare.datasets().empty());
  EXPECT_EQ(bare.dataset(), "");
  test::write_bytes(path, dat_file(true, false));
  EXPECT_EQ(ImportanceMatrix::open(path).chunks(), 42u);
}

// The trailer is optional, so exactly three prefixes open: the entries alone, with the chunk count,
// and the whole file. Every other prefix is malformed, never a crash.
TEST(ImportanceMatrix, DatKindOpensOnlyAtTheEndOfEachPart) {
  const auto whole = dat_file(true, true);
  const std::size_t entries = dat_file(false, false).size(), with_count = dat_file(true, false).size();
  std::vector<std::size_t> opened;
  for (std::size_t n = 0; n <= whole.size(); ++n) {
    try {
      (void)io::ImatrixParser::parse(io::MappedFile::from_bytes(
          "cut.dat", std::vector<std::byte>(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n))));
      opened.push_back(n);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::malformed_file) << n << ": " << e.what();
    }
  }
  EXPECT_EQ(opened, (std::vector<std::size_t>{entries, with_count, whole.size()}));
}

TEST(ImportanceMatrix, ErrorsNameTheFileTheOffsetAndTheEntry) {
  ByteBuilder b;
  dat_entry(b.le(std::int32_t{1}), "blk.3.ffn_down.weight", 2, {1.0f, 2.0f, -4.0f});
  const auto message = test::error_message(
      [&] { (void)io::ImatrixParser::parse(io::MappedFile::from_bytes("bad.dat", b.take())); },
      ErrorCode::malformed_file);
  // The third value: 4 (count) + 4 + 21 (name) + 4 (ncall) + 4 (nval) + 2 × 4.
  EXPECT_EQ(message.rfind("bad.dat: byte offset 45: entry 'blk.3.ffn_down.weight': value 2 is -4", 0), 0u) << message;

  test::TempDir dir;
  EXPECT_EQ(test::error_code_of([&] { (void)ImportanceMatrix::open(dir / "absent.dat"); }), ErrorCode::io);
}

// ---- quantize_model ---------------------------------------------------------------------------------

struct Model {
  std::vector<float> a = test::gaussian(4 * 64, 11), b = test::gaussian(3 * 64, 12),
                     experts = test::gaussian(2 * 3 * 64, 13), norm = test::gaussian(64, 14);
};

std::filesystem::path write_model(const test::TempDir& dir, const Model& m) {
  const auto path = dir / "model.gguf";
  GgufWriter w(path);
  add_f32(w, "a.weight", {4, 64});
  add_f32(w, "b.weight", {3, 64});
  add_f32(w, "experts.weight", {2, 3, 64});
  add_f32(w, "norm.weight", {64});
  w.write_header();
  write_f32(w, "a.weight", m.a);
  write_f32(w, "b.weight", m.b);
  write_f32(w, "experts.weight", m.experts);
  write_f32(w, "norm.weight", m.norm);
  w.finish();
  return path;
}

// Importance that matters: a few columns weigh a thousand times the others.
std::vector<float> skewed(std::size_t n) {
  std::vector<float> v(n, 0.01f);
  for (std::size_t i = 0; i < n; i += 9) v[i] = 10.0f;
  return v;
}

std::filesystem::path write_dat(const test::TempDir& dir, const std::vector<std::pair<std::string, std::vector<float>>>& entries) {
  ByteBuilder b;
  b.le(static_cast<std::int32_t>(entries.size()));
  for (const auto& [name, values] : entries) dat_entry(b, name, 1, values);
  b.le(std::int32_t{5}).le(std::int32_t{8}).raw("wiki.txt");
  const auto path = dir / "imatrix.dat";
  test::write_bytes(path, b.take());
  return path;
}

const TensorReport& report_of(const ModelReport& r, std::string_view name) {
  for (const auto& t : r.tensors) {
    if (t.decision.name == name) return t;
  }
  throw std::runtime_error("no tensor " + std::string(name));
}

TEST(ImportanceMatrix, QuantizeModelGivesEachTensorItsEntryAndRecordsTheMatrix) {
  test::TempDir dir;
  const Model m;
  const auto input = write_model(dir, m);
  QuantPlan plan;
  plan.default_format = Format::i4;
  plan.affine.calibration = AffineOptions::Calibration::mse;
  plan.rules = {TensorRule::parse("experts.weight=q8_0")};
  plan.importance = std::make_shared<const ImportanceMatrix>(ImportanceMatrix::open(
      write_dat(dir, {{"a.weight", skewed(64)}, {"experts.weight", skewed(128)}, {"unused", {1.0f}}})));
  const ModelReport r = quantize_model(input, dir / "out.gguf", plan);

  // a.weight: exactly what quantize() gives with the entry, which differs from what it gives without.
  const std::vector<float> importance = skewed(64);
  const QuantizeOptions with{plan.affine, importance};
  const QuantStats expected = measure(m.a, quantize(m.a, 4, 64, Format::i4, with));
  const QuantStats plain = measure(m.a, quantize(m.a, 4, 64, Format::i4, plan.affine));
  ASSERT_TRUE(report_of(r, "a.weight").stats);
  EXPECT_EQ(report_of(r, "a.weight").stats->rmse, expected.rmse);
  EXPECT_NE(expected.rmse, plain.rmse);
  EXPECT_TRUE(report_of(r, "a.weight").importance);
  // b.weight has no entry; q8_0 ignores importance, so experts.weight is not reported as weighted.
  EXPECT_EQ(report_of(r, "b.weight").stats->rmse, measure(m.b, quantize(m.b, 3, 64, Format::i4, plan.affine)).rmse);
  EXPECT_FALSE(report_of(r, "b.weight").importance);
  EXPECT_FALSE(report_of(r, "experts.weight").importance);
  EXPECT_NE(r.to_json().find("\"importance\": true"), std::string::npos);

  const GgufFile out = GgufFile::open(dir / "out.gguf");
  ASSERT_TRUE(out.find("quantize.imatrix.file"));
  EXPECT_EQ(out.find("quantize.imatrix.file")->as_string(), (dir / "imatrix.dat").string());
  EXPECT_EQ(out.find("quantize.imatrix.dataset")->as_string(), "wiki.txt");
  ASSERT_EQ(out.find("quantize.imatrix.entries_count")->type(), GgufValueType::u32);  // as llama-quantize
  EXPECT_EQ(out.find("quantize.imatrix.entries_count")->as_u64(), 3u);
  ASSERT_EQ(out.find("quantize.imatrix.chunks_count")->type(), GgufValueType::u32);
  EXPECT_EQ(out.find("quantize.imatrix.chunks_count")->as_u64(), 5u);
}

TEST(ImportanceMatrix, AnEntryOfTheWrongLengthFailsBeforeAnythingIsWritten) {
  test::TempDir dir;
  const auto input = write_model(dir, Model{});
  QuantPlan plan;
  plan.default_format = Format::q8_0;
  plan.importance = std::make_shared<const ImportanceMatrix>(
      ImportanceMatrix::open(write_dat(dir, {{"b.weight", skewed(63)}, {"experts.weight", skewed(3 * 64)}})));
  const auto message = test::error_message([&] { (void)quantize_model(input, dir / "out.gguf", plan); },
                                           ErrorCode::size_mismatch);
  EXPECT_NE(message.find("tensor 'b.weight'"), std::string::npos) << message;
  EXPECT_NE(message.find("has 63 values; expected 64"), std::string::npos) << message;
  EXPECT_FALSE(std::filesystem::exists(dir / "out.gguf"));

  plan.importance = std::make_shared<const ImportanceMatrix>(ImportanceMatrix::open(write_dat(dir, {{"experts.weight", skewed(3 * 64)}})));
  const auto experts = test::error_message([&] { (void)quantize_model(input, dir / "out.gguf", plan); },
                                           ErrorCode::size_mismatch);
  EXPECT_NE(experts.find("expected 64 (one per column) or 128 (a row per expert)"), std::string::npos) << experts;
}

// An expert tensor's rows are quantized with their expert's row of importance, as llama-quantize
// does: the bytes equal each expert quantized on its own.
TEST(ImportanceMatrix, ExpertTensorsGetOneRowOfImportancePerExpert) {
  test::TempDir dir;
  const Model m;
  const auto input = write_model(dir, m);
  const auto importance = skewed(128);
  std::vector<std::byte> expected;
  for (std::size_t e = 0; e < 2; ++e) {
    const auto part = quantize(std::span(m.experts).subspan(e * 192, 192), 3, 64, Format::q4_0,
                               QuantizeOptions{{}, std::span(importance).subspan(e * 64, 64)});
    expected.insert(expected.end(), part.data().begin(), part.data().end());
  }
  QuantPlan plan;
  plan.default_format = Format::q4_0;
  plan.importance = std::make_shared<const ImportanceMatrix>(ImportanceMatrix::open(write_dat(dir, {{"experts.weight", importance}})));
  const ModelReport r = quantize_model(input, dir / "out.gguf", plan);
  EXPECT_TRUE(report_of(r, "experts.weight").importance);
  const GgufFile out = GgufFile::open(dir / "out.gguf");
  const auto bytes = out.tensor_data(*out.find_tensor("experts.weight"));
  EXPECT_EQ(std::vector<std::byte>(bytes.begin(), bytes.end()), expected);
}

// Block formats of f32 input take the one-pass path (quantize and measure together): the entry must
// reach it as it reaches quantize().
TEST(ImportanceMatrix, BlockFormatsWrittenInOnePassUseTheirEntry) {
  test::TempDir dir;
  const Model m;
  const auto input = write_model(dir, m);
  for (Format f : {Format::q4_0, Format::q4_1, Format::iq4_nl}) {
    SCOPED_TRACE(format_name(f));
    QuantPlan plan;
    plan.default_format = f;
    plan.importance =
        std::make_shared<const ImportanceMatrix>(ImportanceMatrix::open(write_dat(dir, {{"a.weight", skewed(64)}})));
    const ModelReport r = quantize_model(input, dir / "out.gguf", plan);
    const auto weighted = quantize(m.a, 4, 64, f, QuantizeOptions{{}, skewed(64)});
    const auto plain = quantize(m.a, 4, 64, f);
    ASSERT_NE(std::vector<std::byte>(weighted.data().begin(), weighted.data().end()),
              std::vector<std::byte>(plain.data().begin(), plain.data().end()));
    const GgufFile out = GgufFile::open(dir / "out.gguf");
    const auto bytes = out.tensor_data(*out.find_tensor("a.weight"));
    EXPECT_EQ(std::vector<std::byte>(bytes.begin(), bytes.end()),
              std::vector<std::byte>(weighted.data().begin(), weighted.data().end()));
    EXPECT_TRUE(report_of(r, "a.weight").importance);
    EXPECT_EQ(report_of(r, "a.weight").stats->rmse, measure(m.a, weighted).rmse);
  }
}

// ---- qlinear quantize --imatrix ------------------------------------------------------------------------

#if defined(QLINEAR_CLI_PATH)
// Runs the tool with stdout and stderr into files; returns the exit status and what it printed.
int run_cli(const test::TempDir& dir, std::vector<std::string> args, std::string& out) {
  args.insert(args.begin(), QLINEAR_CLI_PATH);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = (dir / "cli.log").string();
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  out = text.str();
  return WEXITSTATUS(status);
}

TEST(ImportanceMatrix, CliQuantizesTheBundledModelWithADatMatrixAndRecordsIt) {
  test::TempDir dir;
  const auto matrix = write_dat(dir, {{"linear_85.w_0", skewed(120)}, {"linear_77.w_0", skewed(120)}});
  const std::string weights = test::repo_data("ppocrv4_rec_linear.safetensors"), out = (dir / "out.gguf").string();
  std::string text;
  ASSERT_EQ(run_cli(dir, {"quantize", weights, out, "--type", "i4", "--clip", "mse", "--keep", "conv*",
                          "--imatrix", matrix.string(), "-q"},
                    text),
            0)
      << text;
  EXPECT_NE(text.find("importance matrix " + matrix.string() + ": 2 entries, 5 chunks, dataset wiki.txt; used for 2 of 9"),
            std::string::npos) << text;
  EXPECT_NE(text.find("with importance: linear_77.w_0, linear_85.w_0"), std::string::npos) << text;

  ASSERT_EQ(run_cli(dir, {"inspect", out}, text), 0) << text;
  EXPECT_NE(text.find("quantize.imatrix.file"), std::string::npos) << text;
  EXPECT_NE(text.find("quantize.imatrix.dataset"), std::string::npos) << text;
  EXPECT_NE(text.find("quantize.imatrix.entries_count"), std::string::npos) << text;
  EXPECT_NE(text.find("quantize.imatrix.chunks_count"), std::string::npos) << text;

  write_dat(dir, {{"linear_78.w_0", skewed(119)}});
  ASSERT_EQ(run_cli(dir, {"quantize", weights, out, "--type", "i4", "--imatrix", matrix.string(), "-q"}, text), 1)
      << text;
  EXPECT_NE(text.find("tensor 'linear_78.w_0'"), std::string::npos) << text;
  EXPECT_NE(text.find("has 119 values; expected 120"), std::string::npos) << text;
}
#endif

}  // namespace
}  // namespace qlinear
