#pragma once
// One tensor's bytes written on a thread of its own while the caller quantizes the next tensor:
// writing (a copy into the page cache) then overlaps quantizing instead of following it. Writes
// stay in the order they are started, since each waits for the one before.

#include <future>
#include <span>
#include <string>
#include <utility>

namespace qlinear::model {

template <typename Writer>
class BackgroundWrite {
 public:
  explicit BackgroundWrite(Writer& writer) : writer_(writer) {}
  BackgroundWrite(const BackgroundWrite&) = delete;
  BackgroundWrite& operator=(const BackgroundWrite&) = delete;
  ~BackgroundWrite() {
    if (pending_.valid()) pending_.wait();  // an error is already on its way out; this one is lost
  }

  // Waits for the write in flight, if any, and throws what it threw.
  void wait() {
    if (pending_.valid()) pending_.get();
  }

  // Starts writing `bytes` as tensor `name`; they must stay valid until the next wait().
  void start(std::string name, std::span<const std::byte> bytes) {
    wait();
    pending_ = std::async(std::launch::async,
                          [this, name = std::move(name), bytes] { writer_.write_tensor_data(name, bytes); });
  }

 private:
  Writer& writer_;
  std::future<void> pending_;
};

}  // namespace qlinear::model
