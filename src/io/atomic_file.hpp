#pragma once
// Writing a file so that its name only ever refers to a complete file: the bytes go to a temporary
// file in the target's folder (same file system, so the final rename is atomic), which is flushed,
// fsync'ed and renamed over the target by commit(). Until then the target, if it existed, is
// untouched; an error or a destructor without commit() removes the temporary file. A process killed
// mid-write leaves at most a hidden ".NAME.tmp-*" file beside the target, never a partial target.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

namespace qlinear::io {

class AtomicFile {
 public:
  // Creates the temporary file (Error(io) when the folder is not writable).
  explicit AtomicFile(std::filesystem::path target);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  void write(std::span<const std::byte> bytes);
  void write_zeros(std::size_t count);
  std::uint64_t position() const noexcept { return position_; }  // bytes written so far

  // Flushes, fsyncs and renames the temporary file over the target. Error(io) on failure, after
  // which the temporary file is gone and the target is as it was.
  void commit();
  bool committed() const noexcept { return committed_; }

  const std::filesystem::path& target() const noexcept { return target_; }
  const std::filesystem::path& temp_path() const noexcept { return temp_; }

 private:
  void flush_buffer();
  void start_writeback() noexcept;
  [[noreturn]] void fail(const char* what, int err);
  void discard() noexcept;

  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
  std::vector<std::byte> buffer_;
  std::uint64_t position_ = 0;
  std::uint64_t written_back_ = 0;  // bytes from the start whose write-out to disk has been started
  bool committed_ = false;
};

}  // namespace qlinear::io
