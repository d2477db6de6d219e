#include "core/thread_pool.hpp"

#include <qlinear/error.hpp>
#include <qlinear/runtime.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

namespace qlinear::core {
namespace {

constexpr std::size_t kMaxThreads = 1024;

// A waiting thread spins this long before it sleeps in the kernel. Back-to-back forward calls (a
// model's layers, a benchmark loop) then start in well under a microsecond, while an idle program
// stops using the CPU soon after its last call. A futex wake-up costs tens of microseconds here,
// as much as a whole 4096×4096 4-bit GEMV, so some spinning pays.
constexpr auto kSpin = std::chrono::microseconds(200);

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// A value that threads wait on: spin for kSpin, then sleep on a condition variable. (The notifier
// passes through the mutex after changing the value, so a sleeper cannot miss the change.)
template <typename T>
class Signal {
 public:
  T load() const noexcept { return value_.load(std::memory_order_acquire); }

  // Waits until the value differs from `old`; returns the new value.
  T wait_for_change(T old) noexcept {
    const auto deadline = std::chrono::steady_clock::now() + kSpin;
    for (int i = 0;; ++i) {
      const T now = load();
      if (now != old) return now;
      cpu_relax();
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > deadline) break;
    }
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return load() != old; });
    return load();
  }

  void store(T value) noexcept { value_.store(value, std::memory_order_release); }
  T add(T delta) noexcept { return value_.fetch_add(delta, std::memory_order_acq_rel) + delta; }

  void notify() noexcept {
    { std::lock_guard<std::mutex> lock(mutex_); }
    cv_.notify_all();
  }

 private:
  std::atomic<T> value_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
};

thread_local bool t_inside_task = false;

void run_inline(std::size_t count, TaskFn fn, void* context) noexcept {
  for (std::size_t i = 0; i < count; ++i) fn(context, i);
}

// A job is open from the moment it is posted until the caller has run out of tasks; workers join
// it only while it is open, and the caller waits only for those that joined. A worker that the
// operating system has not scheduled yet therefore never delays a call (there are more threads
// than cores whenever set_num_threads asks for more, or other programs run).
class ThreadPool {
 public:
  explicit ThreadPool(std::size_t threads) {
    workers_.reserve(threads - 1);
    for (std::size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_main(); });
  }

  ~ThreadPool() {
    stop_.store(true, std::memory_order_relaxed);
    posted_.add(1);
    posted_.notify();
    for (auto& t : workers_) t.join();
  }

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  std::size_t threads() const noexcept { return workers_.size() + 1; }

  // False, having run nothing, when another caller's work occupies the pool.
  bool try_run(std::size_t count, TaskFn fn, void* context) noexcept {
    std::unique_lock<std::mutex> lock(submit_, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    count_ = count;
    fn_ = fn;
    context_ = context;
    next_.store(0, std::memory_order_relaxed);
    const std::uint64_t generation = (state_.load(std::memory_order_relaxed) >> 32) + 1;
    state_.store(generation << 32, std::memory_order_release);  // open, nobody joined
    posted_.store(static_cast<std::uint32_t>(generation));
    posted_.notify();
    run_tasks();
    // Close the job, then wait for the workers that joined it to finish their last task.
    std::uint64_t s = state_.fetch_or(kClosed, std::memory_order_acq_rel) | kClosed;
    const auto deadline = std::chrono::steady_clock::now() + kSpin;
    for (int i = 0; (s & kActive) != 0; ++i) {
      if (std::chrono::steady_clock::now() < deadline) {
        cpu_relax();
      } else {
        std::this_thread::yield();
      }
      s = state_.load(std::memory_order_acquire);
    }
    return true;
  }

 private:
  static constexpr std::uint64_t kClosed = 1ull << 31;
  static constexpr std::uint64_t kActive = kClosed - 1;

  void run_tasks() noexcept {
    t_inside_task = true;
    for (std::size_t i = next_.fetch_add(1, std::memory_order_relaxed); i < count_;
         i = next_.fetch_add(1, std::memory_order_relaxed)) {
      fn_(context_, i);
    }
    t_inside_task = false;
  }

  void worker_main() noexcept {
    std::uint32_t seen = 0;
    for (;;) {
      seen = posted_.wait_for_change(seen);
      if (stop_.load(std::memory_order_relaxed)) return;
      // Join the job only if it is the one posted and still open.
      std::uint64_t s = state_.load(std::memory_order_acquire);
      bool joined = false;
      while (static_cast<std::uint32_t>(s >> 32) == seen && (s & kClosed) == 0) {
        if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel)) {
          joined = true;
          break;
        }
      }
      if (!joined) continue;
      run_tasks();
      state_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::mutex submit_;  // held by the caller whose job the pool is running
  Signal<std::uint32_t> posted_;        // the generation last posted, for sleeping workers
  std::atomic<std::uint64_t> state_{0};  // generation << 32 | closed bit | workers that joined
  std::atomic<std::size_t> next_{0};
  std::atomic<bool> stop_{false};
  std::size_t count_ = 0;
  TaskFn fn_ = nullptr;
  void* context_ = nullptr;
  std::vector<std::thread> workers_;
};

std::size_t hardware_threads() noexcept {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<std::size_t>(n);
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

// QLINEAR_NUM_THREADS, or 0 when unset. Error while it is set to something that is not a count.
std::size_t env_threads() {
  const char* text = std::getenv("QLINEAR_NUM_THREADS");
  if (text == nullptr || *text == '\0') return 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(text, &end, 10);
  if (*end != '\0' || n == 0 || n > kMaxThreads || *text == '-' || *text == '+') {
    throw Error(ErrorCode::invalid_argument, "QLINEAR_NUM_THREADS='" + std::string(text) +
                                                 "' is not a thread count in 1.." +
                                                 std::to_string(kMaxThreads));
  }
  return static_cast<std::size_t>(n);
}

struct PoolState {
  std::mutex mutex;
  std::size_t requested = 0;  // 0: the default
  std::shared_ptr<ThreadPool> pool;
};

PoolState& state() {
  static PoolState s;
  return s;
}

std::size_t wanted_threads(std::size_t requested) {
  if (requested != 0) return requested;
  const std::size_t from_env = env_threads();
  return from_env != 0 ? from_env : hardware_threads();
}

// The pool for one call, created or resized on first use after a change. The caller's reference
// keeps a pool alive while set_num_threads() replaces it.
std::shared_ptr<ThreadPool> current_pool() {
  PoolState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  const std::size_t wanted = wanted_threads(s.requested);
  if (!s.pool || s.pool->threads() != wanted) {
    s.pool.reset();  // join the old workers before starting new ones
    s.pool = std::make_shared<ThreadPool>(wanted);
  }
  return s.pool;
}

}  // namespace

void parallel_for_erased(std::size_t count, TaskFn fn, void* context) {
  if (count == 0) return;
  if (count == 1 || t_inside_task) {
    run_inline(count, fn, context);
    return;
  }
  const std::shared_ptr<ThreadPool> pool = current_pool();
  if (pool->threads() == 1 || !pool->try_run(count, fn, context)) run_inline(count, fn, context);
}

std::size_t pool_threads() {
  PoolState& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return wanted_threads(s.requested);
}

}  // namespace qlinear::core

namespace qlinear {

void set_num_threads(std::size_t count) {
  if (count > core::kMaxThreads) {
    throw Error(ErrorCode::invalid_argument, "set_num_threads(" + std::to_string(count) +
                                                 "): at most " + std::to_string(core::kMaxThreads));
  }
  core::PoolState& s = core::state();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.requested = count;
}

std::size_t num_threads() { return core::pool_threads(); }

}  // namespace qlinear
