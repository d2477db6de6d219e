// --jobs: several tensors in flight give the bytes and the report of one at a time, fail as one at
// a time does (nothing written), and keep peak memory within jobs × 2 × the largest tensor + 64 MiB.

#include "model/ordered_jobs.hpp"
#include "cli_run.hpp"
#include "sharded_model.hpp"

#include <qlinear/calibration_file.hpp>
#include <qlinear/model.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>


namespace qlinear {
namespace {

TEST(OrderedJobs, ResultsArriveInOrderWithAtMostJobsAlive) {
  std::atomic<int> alive{0}, most{0};
  std::vector<std::size_t> order;
  struct Counted {
    std::size_t i;
    std::atomic<int>* alive;
    Counted(std::size_t index, std::atomic<int>* a) : i(index), alive(a) { ++*alive; }
    Counted(Counted&& o) noexcept : i(o.i), alive(o.alive) { o.alive = nullptr; }
    Counted& operator=(Counted&& o) noexcept {
      if (alive) --*alive;
      i = o.i;
      alive = o.alive;
      o.alive = nullptr;
      return *this;
    }
    ~Counted() {
      if (alive) --*alive;
    }
  };
  model::run_ordered<Counted>(
      40, 3,
      [&](std::size_t i) {
        Counted c(i, &alive);
        int m = most.load();
        while (alive.load() > m && !most.compare_exchange_weak(m, alive.load())) {
        }
        if (i % 7 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // out of order
        return c;
      },
      [&](std::size_t i, Counted& c) {
        EXPECT_EQ(c.i, i);
        order.push_back(i);
      });
  ASSERT_EQ(order.size(), 40u);
  for (std::size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i);
  EXPECT_LE(most.load(), 3);
  EXPECT_EQ(alive.load(), 0);

  // A failing item is thrown when its turn comes; the items before it were consumed.
  std::size_t consumed = 0;
  EXPECT_THROW(model::run_ordered<int>(
                   20, 4,
                   [](std::size_t i) -> int {
                     if (i == 9) throw Error(ErrorCode::internal, "item 9");
                     return static_cast<int>(i);
                   },
                   [&](std::size_t, int) { ++consumed; }),
               Error);
  EXPECT_EQ(consumed, 9u);
}

OutputOptions split_every(std::size_t tensors) {
  OutputOptions o;
  o.split_max_tensors = tensors;
  return o;
}

struct Case {
  std::string name, output;
  QuantPlan plan;
  OutputOptions options;
};

std::vector<Case> cases() {
  std::vector<Case> out;
  QuantPlan q4;
  q4.default_format = Format::q4_0;  // the fused pass, and an f16 fallback
  out.push_back({"q4_0", "m.gguf", q4, {}});
  QuantPlan search = q4;
  search.method = Method::search;  // quantize() and measure()
  out.push_back({"search", "m.gguf", search, {}});
  QuantPlan i8;
  i8.default_format = Format::i8;  // affine: several GGUF tensors each
  out.push_back({"i8", "m.gguf", i8, {}});
  QuantPlan f16;
  f16.default_format = Format::f16;
  out.push_back({"f16", "m.safetensors", f16, {}});
  out.push_back({"split", "m.gguf", q4, split_every(2)});
  return out;
}

// Quantizes `input` as each case says with 1, 2 and 5 jobs: the files and the reports must agree.
// Returns the reports of the runs with one job.
std::vector<ModelReport> expect_the_bytes_of_one_job(const std::filesystem::path& input, const std::vector<Case>& cases,
                                                     std::size_t tensor_count) {
  std::vector<ModelReport> one_job;
  for (const Case& c : cases) {
    std::vector<std::vector<std::vector<std::byte>>> outputs;
    std::vector<ModelReport> reports;
    for (std::size_t jobs : {1, 2, 5}) {
      test::TempDir out;
      OutputOptions options = c.options;
      options.jobs = jobs;
      std::vector<std::size_t> progress;
      reports.push_back(quantize_model(input, out / c.output, c.plan,
                                       [&](const ModelProgress& p) { progress.push_back(p.index); }, options));
      std::vector<std::vector<std::byte>> files;
      for (const auto& f : reports.back().files) files.push_back(test::read_bytes(f));
      outputs.push_back(std::move(files));
      EXPECT_EQ(progress.size(), tensor_count) << c.name;
      for (std::size_t i = 0; i < progress.size(); ++i) EXPECT_EQ(progress[i], i + 1) << c.name;
    }
    one_job.push_back(reports[0]);
    for (std::size_t k = 1; k < outputs.size(); ++k) {
      EXPECT_EQ(outputs[k], outputs[0]) << c.name << ", run " << k;
      if (reports[k].tensors.size() != reports[0].tensors.size()) {
        ADD_FAILURE() << c.name << ": " << reports[k].tensors.size() << " tensors, not " << reports[0].tensors.size();
        continue;
      }
      for (std::size_t i = 0; i < reports[0].tensors.size(); ++i) {
        const TensorReport &a = reports[0].tensors[i], &b = reports[k].tensors[i];
        EXPECT_EQ(a.decision.name, b.decision.name);
        EXPECT_EQ(a.method, b.method) << a.decision.name;
        EXPECT_EQ(a.bytes_out, b.bytes_out) << a.decision.name;
        EXPECT_EQ(a.stats.has_value(), b.stats.has_value()) << a.decision.name;
        if (a.stats && b.stats) {
          EXPECT_EQ(a.stats->rmse, b.stats->rmse) << a.decision.name;
        }
        EXPECT_EQ(a.output_error.has_value(), b.output_error.has_value()) << a.decision.name;
        if (a.output_error && b.output_error) {
          EXPECT_EQ(*a.output_error, *b.output_error) << a.decision.name;
        }
      }
    }
  }
  return one_job;
}

std::vector<test::ShardTensor> model_with_extras() {
  auto tensors = test::sharded_model_tensors();
  for (int i = 0; i < 10; ++i) {  // more tensors than jobs, of several sizes
    tensors.push_back({"extra." + std::to_string(i) + ".weight", {std::uint64_t(8 + 8 * i), 96},
                       test::gaussian((8 + 8 * i) * 96, 100 + i, 0.1f)});
  }
  return tensors;
}

TEST(Jobs, TheBytesAndReportOfOneAtATime) {
  test::TempDir dir;
  const auto tensors = model_with_extras();
  test::write_safetensors_model(dir / "in.safetensors", tensors);
  expect_the_bytes_of_one_job(dir / "in.safetensors", cases(), tensors.size());
}

// gptq and search with calibration data: several tensors at once each call OpenBLAS (XᵀX, the
// Cholesky factorization, gptq's blocked updates) from a thread of their own, concurrently, and
// the rows of several passes share the pool; the bytes must still be one job's.
TEST(Jobs, GptqAndSearchWithCalibrationGiveTheBytesOfOneJob) {
  test::TempDir dir;
  auto tensors = model_with_extras();
  // Large enough that OpenBLAS runs its calls on threads of its own (XᵀX of 512 inputs from 300
  // rows, gptq's updates of 256 rows), while other tensors' calls run beside them.
  tensors.push_back({"big.weight", {256, 512}, test::gaussian(256 * 512, 77, 0.05f)});
  test::write_safetensors_model(dir / "in.safetensors", tensors);
  {  // activations for every matrix: 40 rows of its inputs, correlated columns
    SafetensorsWriter w(dir / "x.safetensors");
    std::vector<std::pair<std::string, std::vector<float>>> acts;
    for (const auto& t : tensors) {
      if (t.shape.size() != 2) continue;
      const std::size_t in = t.shape[1], rows = in == 512 ? 300 : 40;
      std::vector<float> x = test::gaussian(rows * in, static_cast<std::uint32_t>(7 + acts.size()), 1.0f);
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t c = 1; c < in; ++c) x[r * in + c] += 0.5f * x[r * in + c - 1];
      }
      w.add_tensor(t.name, "F32", {rows, in});
      acts.emplace_back(t.name, std::move(x));
    }
    w.write_header();
    for (const auto& [name, x] : acts) w.write_tensor_data(name, std::as_bytes(std::span<const float>(x)));
    w.finish();
  }
  const auto calibration = std::make_shared<const CalibrationFile>(CalibrationFile::open(dir / "x.safetensors"));
  std::vector<Case> with_data;
  for (const Method method : {Method::gptq, Method::search}) {
    for (const Format format : {Format::q4_0, Format::q5_1, Format::q8_0}) {
      QuantPlan plan;
      plan.default_format = format;
      plan.method = method;
      plan.calibration = calibration;
      with_data.push_back({std::string(method == Method::gptq ? "gptq " : "search ") + std::string(format_name(format)),
                           "m.gguf", plan, {}});
    }
  }
  with_data.push_back({"gptq q4_0, split", "m.gguf", with_data[0].plan, split_every(3)});
  QuantPlan i4;  // an affine format, grouped (one file: i4 tensors cannot be split)
  i4.default_format = Format::i4;
  i4.affine = {.symmetric = false, .granularity = AffineOptions::Granularity::group, .group_size = 32};
  i4.method = Method::gptq;
  i4.calibration = calibration;
  with_data.push_back({"gptq i4/g32", "m.gguf", i4, {}});
  const std::vector<ModelReport> reports = expect_the_bytes_of_one_job(dir / "in.safetensors", with_data, tensors.size());
  for (std::size_t c = 0; c < with_data.size(); ++c) {  // the method ran, with the data
    const TensorReport& big = reports[c].tensors.back();
    EXPECT_EQ(big.method, with_data[c].plan.method == Method::gptq ? "gptq" : "search") << with_data[c].name;
    EXPECT_TRUE(big.output_error.has_value()) << with_data[c].name;
  }
}

TEST(Jobs, AFailureLeavesNothing) {
  test::TempDir dir;
  auto tensors = test::sharded_model_tensors();
  tensors[3].values[17] = NAN;
  test::write_safetensors_model(dir / "in.safetensors", tensors);
  QuantPlan plan;
  plan.default_format = Format::q8_0;
  OutputOptions options;
  options.jobs = 3;
  const std::string m = test::error_message(
      [&] { quantize_model(dir / "in.safetensors", dir / "out.gguf", plan, {}, options); }, ErrorCode::non_finite);
  EXPECT_NE(m.find("tensor 'blk.0.ffn_down.weight'"), std::string::npos) << m;
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"in.safetensors"});
  tensors[3].values[17] = 0.0f;
  test::write_safetensors_model(dir / "in.safetensors", tensors);
  options.split_max_tensors = 2;
  EXPECT_THROW(quantize_model(dir / "in.safetensors", dir / "out.gguf", plan,
                              [](const ModelProgress& p) {
                                if (p.index == 5) throw std::runtime_error("stopped");
                              },
                              options),
               std::runtime_error);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"in.safetensors"});
}

#if defined(QLINEAR_CLI_PATH) && !defined(__SANITIZE_ADDRESS__)
// 32 tensors of 4 MiB and one of 8 MiB (136 MiB of f32) with 2 jobs: the bound, 2 × 2 × 8 MiB +
// 64 MiB = 96 MiB, is well below the model, which would not fit if pages were not given back.
TEST(Jobs, PeakMemoryWithinJobsTimesTwiceTheLargestTensor) {
  test::TempDir dir;
  std::vector<test::ShardTensor> tensors;
  for (int i = 0; i < 32; ++i) {
    tensors.push_back({"layer." + std::to_string(i) + ".weight", {1024, 1024}, test::gaussian(1024 * 1024, i)});
  }
  tensors.push_back({"largest.weight", {1024, 2048}, test::gaussian(1024 * 2048, 99)});
  test::write_safetensors_model(dir / "m.safetensors", tensors);
  tensors.clear();
  const std::uint64_t largest = 1024ull * 2048 * 4, jobs = 2;

  const std::string in = (dir / "m.safetensors").string(), out = (dir / "m.gguf").string(),
                    report = (dir / "r.json").string();
  // A process of its own, so that the report's peak is the quantization's alone.
  const test::CliRun run = test::run_cli(dir, "quantize " + in + " " + out + " --type q8_0 --jobs 2 -q --report " + report);
  ASSERT_EQ(run.code, 0) << run.output;
  const auto bytes = test::read_bytes(report);
  const auto json = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  const auto peak = json["totals"]["peak_rss_bytes"].get<std::uint64_t>();
  const auto before = json["totals"]["rss_before_bytes"].get<std::uint64_t>();
  ASSERT_GT(peak, 0u) << "no /proc/self/status here";
  EXPECT_LT(peak - before, jobs * 2 * largest + (64ull << 20)) << "peak " << peak << ", before " << before;
  std::printf("[ figures  ] --jobs 2: peak memory grew by %.1f MiB (bound %.1f MiB)\n",
              static_cast<double>(peak - before) / (1 << 20),
              static_cast<double>(jobs * 2 * largest + (64ull << 20)) / (1 << 20));
}
#endif

}  // namespace
}  // namespace qlinear
