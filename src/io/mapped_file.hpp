#pragma once
// A read-only view of a whole file: memory-mapped from disk, or a buffer in memory (tests and fuzz
// targets parse bytes without touching the disk). Readers keep a shared_ptr to it, so the tensor views
// they hand out stay valid while any copy of the reader lives.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

namespace qlinear::io {

class MappedFile {
 public:
  // Maps the whole file read-only. Error(io) naming the file when it cannot be opened, is not a
  // regular file, or cannot be mapped. An empty file gives an empty view.
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path);

  // The same view over bytes held in memory; `label` stands for the file name in error messages.
  static std::shared_ptr<const MappedFile> from_bytes(std::filesystem::path label,
                                                      std::vector<std::byte> bytes);

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const std::filesystem::path& path() const noexcept { return path_; }
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  std::size_t size() const noexcept { return size_; }

  // Hands the pages wholly inside `range` back to the kernel (they are re-read from the file if
  // touched again), so that streaming through a large file keeps little of it resident. A no-op for
  // in-memory buffers.
  void release(std::span<const std::byte> range) const noexcept;

 private:
  MappedFile() = default;

  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  bool mapped_ = false;          // data_ came from mmap and is unmapped on destruction
  std::vector<std::byte> owned_;  // from_bytes keeps its bytes here
};

}  // namespace qlinear::io
