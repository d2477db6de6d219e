// --jobs: several tensors in flight give the bytes and the report of one at a time, fail as one at
// a time does (nothing written), and keep peak memory within jobs × 2 × the largest tensor + 64 MiB.

#include "model/ordered_jobs.hpp"
#include "sharded_model.hpp"

#include <qlinear/model.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

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

TEST(Jobs, TheBytesAndReportOfOneAtATime) {
  test::TempDir dir;
  auto tensors = test::sharded_model_tensors();
  for (int i = 0; i < 10; ++i) {  // more tensors than jobs, of several sizes
    tensors.push_back({"extra." + std::to_string(i) + ".weight", {std::uint64_t(8 + 8 * i), 96},
                       test::gaussian((8 + 8 * i) * 96, 100 + i, 0.1f)});
  }
  test::write_safetensors_model(dir / "in.safetensors", tensors);
  for (const Case& c : cases()) {
    std::vector<std::vector<std::vector<std::byte>>> outputs;
    std::vector<ModelReport> reports;
    for (std::size_t jobs : {1, 2, 5}) {
      test::TempDir out;
      OutputOptions options = c.options;
      options.jobs = jobs;
      std::vector<std::size_t> progress;
      reports.push_back(quantize_model(dir / "in.safetensors", out / c.output, c.plan,
                                       [&](const ModelProgress& p) { progress.push_back(p.index); }, options));
      std::vector<std::vector<std::byte>> files;
      for (const auto& f : reports.back().files) files.push_back(test::read_bytes(f));
      outputs.push_back(std::move(files));
      ASSERT_EQ(progress.size(), tensors.size()) << c.name;
      for (std::size_t i = 0; i < progress.size(); ++i) EXPECT_EQ(progress[i], i + 1) << c.name;
    }
    for (std::size_t k = 1; k < outputs.size(); ++k) {
      EXPECT_EQ(outputs[k], outputs[0]) << c.name << ", run " << k;
      ASSERT_EQ(reports[k].tensors.size(), reports[0].tensors.size());
      for (std::size_t i = 0; i < reports[0].tensors.size(); ++i) {
        const TensorReport &a = reports[0].tensors[i], &b = reports[k].tensors[i];
        EXPECT_EQ(a.decision.name, b.decision.name);
        EXPECT_EQ(a.method, b.method) << a.decision.name;
        EXPECT_EQ(a.bytes_out, b.bytes_out) << a.decision.name;
        ASSERT_EQ(a.stats.has_value(), b.stats.has_value());
        if (a.stats) {
          EXPECT_EQ(a.stats->rmse, b.stats->rmse) << a.decision.name;
        }
      }
    }
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

  const std::string cli = QLINEAR_CLI_PATH, in = (dir / "m.safetensors").string(), out = (dir / "m.gguf").string(),
                    report = (dir / "r.json").string();
  const char* argv[] = {cli.c_str(), "quantize", in.c_str(), out.c_str(), "--type", "q8_0", "--jobs", "2", "-q",
                        "--report", report.c_str(), nullptr};
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, cli.c_str(), &quiet, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&quiet);
  ASSERT_EQ(spawned, 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
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
