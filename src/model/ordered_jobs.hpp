#pragma once
// Several items in flight, their results used in order: compute(i) runs on `jobs` threads of its
// own, item after item, at most `jobs` items ahead of the caller, which consumes each result in
// index order (for a model: tensors quantized side by side, written in the file's order). Memory
// therefore holds at most `jobs` results: the one being consumed and those computed or being
// computed after it.
//
// An exception from compute(i) is rethrown by the caller when it reaches item i; one from
// consume() stops the threads. Either way every thread has finished when run_ordered() returns or
// throws.

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

namespace qlinear::model {

template <typename Result, typename Compute, typename Consume>
void run_ordered(std::size_t count, std::size_t jobs, Compute&& compute, Consume&& consume) {
  if (jobs == 0) jobs = 1;
  struct Slot {
    std::optional<Result> result;
    std::exception_ptr error;
    bool ready = false;
  };
  std::vector<Slot> slots(jobs);  // item i lives in slot i % jobs: at most `jobs` are alive
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t next = 0, consumed = 0;
  bool stop = false;

  const auto work = [&] {
    for (;;) {
      std::size_t i = 0;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return stop || next >= count || next < consumed + jobs; });
        if (stop || next >= count) return;
        i = next++;
      }
      Slot computed;
      try {
        computed.result.emplace(compute(i));
      } catch (...) {
        computed.error = std::current_exception();
      }
      {
        std::lock_guard lock(mutex);
        Slot& slot = slots[i % jobs];
        slot.result = std::move(computed.result);
        slot.error = computed.error;
        slot.ready = true;
      }
      changed.notify_all();
    }
  };

  std::vector<std::thread> threads;
  const auto finish = [&] {
    {
      std::lock_guard lock(mutex);
      stop = true;
    }
    changed.notify_all();
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  };
  try {
    for (std::size_t j = 0; j < jobs && j < count; ++j) threads.emplace_back(work);
    for (std::size_t i = 0; i < count; ++i) {
      Slot taken;
      {
        std::unique_lock lock(mutex);
        Slot& slot = slots[i % jobs];
        changed.wait(lock, [&] { return slot.ready; });
        taken.result = std::move(slot.result);
        taken.error = slot.error;
        slot = Slot{};
      }
      if (taken.error) std::rethrow_exception(taken.error);
      consume(i, *taken.result);
      taken.result.reset();  // its memory goes before the next item may start
      {
        std::lock_guard lock(mutex);
        consumed = i + 1;
      }
      changed.notify_all();
    }
  } catch (...) {
    finish();
    throw;
  }
  finish();
}

}  // namespace qlinear::model
