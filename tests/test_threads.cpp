// The thread pool and the thread count: every task runs once, nested and concurrent calls work,
// and forward() and quantize() give the same bits for 1, 2, 3 and 8 threads.

#include "core/thread_pool.hpp"
#include "levels.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>

namespace qlinear {
namespace {

// Restores the default thread count when a test ends.
struct ThreadsScope {
  explicit ThreadsScope(std::size_t n) { set_num_threads(n); }
  ~ThreadsScope() { set_num_threads(0); }
};

TEST(ThreadPool, RunsEveryTaskExactlyOnce) {
  for (std::size_t threads : {1, 2, 3, 8}) {
    const ThreadsScope scope(threads);
    EXPECT_EQ(num_threads(), threads);
    for (std::size_t count : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> runs(count);
      core::parallel_for(count, [&](std::size_t i) { runs[i].fetch_add(1); });
      for (std::size_t i = 0; i < count; ++i) ASSERT_EQ(runs[i].load(), 1) << threads << " threads, task " << i;
    }
  }
}

TEST(ThreadPool, ManyCallsInARowAndNestedCallsComplete) {
  const ThreadsScope scope(3);
  std::atomic<std::size_t> total{0};
  for (int call = 0; call < 2000; ++call) {
    core::parallel_for(5, [&](std::size_t) {
      core::parallel_for(3, [&](std::size_t) { total.fetch_add(1); });  // runs inline inside a task
    });
  }
  EXPECT_EQ(total.load(), 2000u * 5 * 3);
}

TEST(ThreadPool, AnExceptionInATaskReachesTheCallerAndThePoolGoesOn) {
  for (std::size_t threads : {1, 2, 3}) {
    const ThreadsScope scope(threads);
    std::atomic<int> ran{0};
    try {
      core::parallel_for(1000, [&](std::size_t i) {
        ran.fetch_add(1);
        if (i == 17) throw Error(ErrorCode::invalid_argument, "task 17 failed");
      });
      ADD_FAILURE() << threads << " threads: the exception was lost";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
      EXPECT_STREQ(e.what(), "task 17 failed");
    }
    // On one thread the tasks after the failing one are skipped; on more, which ones already ran
    // depends on the scheduling. Then the pool still works.
    if (threads == 1) {
      EXPECT_EQ(ran.load(), 18);
    }
    std::vector<std::atomic<int>> runs(100);
    core::parallel_for(runs.size(), [&](std::size_t i) { runs[i].fetch_add(1); });
    for (auto& r : runs) ASSERT_EQ(r.load(), 1);
  }
}

TEST(ThreadPool, CallersOnSeveralThreadsShareThePool) {
  const ThreadsScope scope(2);
  std::vector<std::thread> callers;
  std::vector<std::size_t> sums(6, 0);
  for (std::size_t t = 0; t < sums.size(); ++t) {
    callers.emplace_back([&, t] {
      for (int call = 0; call < 200; ++call) {
        std::vector<std::size_t> parts(16, 0);
        core::parallel_for(parts.size(), [&](std::size_t i) { parts[i] = i * (t + 1); });
        for (std::size_t p : parts) sums[t] += p;
      }
    });
  }
  for (auto& c : callers) c.join();
  for (std::size_t t = 0; t < sums.size(); ++t) EXPECT_EQ(sums[t], 200u * 120 * (t + 1));
}

TEST(ThreadPool, CountComesFromTheApiThenTheEnvironmentThenTheMachine) {
  set_num_threads(0);
  ::setenv("QLINEAR_NUM_THREADS", "3", 1);
  EXPECT_EQ(num_threads(), 3u);
  set_num_threads(2);
  EXPECT_EQ(num_threads(), 2u);  // the API wins
  set_num_threads(0);
  for (const char* bad : {"0", "-1", "two", "2x", "100000"}) {
    ::setenv("QLINEAR_NUM_THREADS", bad, 1);
    try {
      num_threads();
      ADD_FAILURE() << "QLINEAR_NUM_THREADS=" << bad << " must be refused";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("QLINEAR_NUM_THREADS"), std::string::npos) << e.what();
    }
  }
  ::unsetenv("QLINEAR_NUM_THREADS");
  EXPECT_GE(num_threads(), 1u);
  EXPECT_THROW(set_num_threads(5000), Error);
}

// Each output is computed by one thread in a fixed order: the thread count cannot change a bit, at
// any level.
TEST(Determinism, ForwardIsBitIdenticalFor1_2_3And8Threads) {
  const Isa saved = active_isa();
  for (Isa isa : test::supported_levels()) {
    set_isa(isa);
    for (Format f : {Format::q4_0, Format::q8_0, Format::q4_1, Format::q5_0, Format::q5_1, Format::i4,
                     Format::i8, Format::f32, Format::f16, Format::bf16}) {
      const std::size_t in = 300, out = 203;
      const auto layer =
          QuantizedLinear::from_weights(test::gaussian(out * in, 1), test::gaussian(out, 2), out, in, f);
      for (std::size_t batch : {1, 5, 70}) {
        const auto x = test::gaussian(batch * in, 3 + batch);
        std::vector<float> first;
        for (std::size_t threads : {1, 2, 3, 8}) {
          const ThreadsScope scope(threads);
          const auto y = layer.forward(x, batch);
          if (first.empty()) {
            first = y;
            continue;
          }
          for (std::size_t i = 0; i < y.size(); ++i) {
            ASSERT_EQ(std::bit_cast<std::uint32_t>(y[i]), std::bit_cast<std::uint32_t>(first[i]))
                << format_name(f) << " " << isa_name(isa) << " batch " << batch << ", " << threads
                << " threads, output " << i;
          }
        }
      }
    }
  }
  set_isa(saved);
}

TEST(Determinism, QuantizeIsBitIdenticalFor1_2_3And8Threads) {
  const std::size_t rows = 300, cols = 700;  // several tasks per format
  const auto w = test::gaussian(rows * cols, 7);
  AffineOptions group;
  group.granularity = AffineOptions::Granularity::group;
  group.group_size = 64;
  group.symmetric = false;
  for (Format f : {Format::q4_0, Format::q8_0, Format::q5_1, Format::f16, Format::i4}) {
    std::vector<std::byte> first;
    for (std::size_t threads : {1, 2, 3, 8}) {
      const ThreadsScope scope(threads);
      const QuantizedTensor q = quantize(w, rows, cols, f, group);
      std::vector<std::byte> bytes(q.data().begin(), q.data().end());
      if (first.empty()) first = bytes;
      ASSERT_EQ(bytes, first) << format_name(f) << ", " << threads << " threads";
    }
  }
}

}  // namespace
}  // namespace qlinear
