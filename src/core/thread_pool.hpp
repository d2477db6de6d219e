#pragma once
// The one persistent thread pool. parallel_for(count, task) runs task(i) for every i in [0, count)
// exactly once, spread over the pool's threads and the caller, and returns when all have run. Which
// thread runs which index varies from call to call; callers make each index own a fixed set of
// outputs computed in a fixed order, so results never depend on the thread count.

#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <type_traits>

namespace qlinear::core {

using TaskFn = void (*)(void* context, std::size_t index) noexcept;

// Runs the tasks on the pool; inline on the caller when the pool has one thread, when it is busy
// with another caller's work, or when called from inside a task.
void parallel_for_erased(std::size_t count, TaskFn fn, void* context);

// An exception thrown by a task is caught on the thread that ran it; the tasks not started yet are
// skipped, and once every thread has left the call the first exception caught is rethrown to the
// caller (which one, when several tasks throw at once, is not specified).
template <typename F>
void parallel_for(std::size_t count, F&& task) {
  using Task = std::remove_reference_t<F>;
  struct Context {
    explicit Context(Task* t) noexcept : task(t) {}
    Task* task;
    std::atomic<bool> failed{false};
    std::mutex mutex;
    std::exception_ptr error;
  } context(&task);
  parallel_for_erased(
      count,
      [](void* erased, std::size_t index) noexcept {
        auto& c = *static_cast<Context*>(erased);
        if (c.failed.load(std::memory_order_relaxed)) return;
        try {
          (*c.task)(index);
        } catch (...) {
          std::lock_guard<std::mutex> lock(c.mutex);
          if (!c.error) c.error = std::current_exception();
          c.failed.store(true, std::memory_order_relaxed);
        }
      },
      &context);
  if (context.error) std::rethrow_exception(context.error);
}

// Threads a parallel_for may use now, the caller included.
std::size_t pool_threads();

}  // namespace qlinear::core
