#pragma once
// The one persistent thread pool. parallel_for(count, task) runs task(i) for every i in [0, count)
// exactly once, spread over the pool's threads and the caller, and returns when all have run. Which
// thread runs which index varies from call to call; callers make each index own a fixed set of
// outputs computed in a fixed order, so results never depend on the thread count.

#include <cstddef>
#include <type_traits>

namespace qlinear::core {

using TaskFn = void (*)(void* context, std::size_t index) noexcept;

// Runs the tasks on the pool; inline on the caller when the pool has one thread, when it is busy
// with another caller's work, or when called from inside a task.
void parallel_for_erased(std::size_t count, TaskFn fn, void* context);

template <typename F>
void parallel_for(std::size_t count, F&& task) {
  using Task = std::remove_reference_t<F>;
  parallel_for_erased(
      count, [](void* context, std::size_t index) noexcept { (*static_cast<Task*>(context))(index); },
      const_cast<void*>(static_cast<const void*>(&task)));
}

// Threads a parallel_for may use now, the caller included.
std::size_t pool_threads();

}  // namespace qlinear::core
