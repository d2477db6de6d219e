#include "io/mapped_file.hpp"

#include <qlinear/error.hpp>

#include <cerrno>
#include <cstring>
#include <limits>
#include <string>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace qlinear::io {
namespace {

[[noreturn]] void io_error(const std::filesystem::path& path, const std::string& what, int err) {
  throw Error(ErrorCode::io, path.string() + ": " + what + ": " + std::strerror(err));
}

// Closes the descriptor on every path out of open(): the mapping does not need it.
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::shared_ptr<const MappedFile> MappedFile::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) io_error(path, "cannot open for reading", errno);
  FdGuard guard{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) io_error(path, "cannot stat", errno);
  if (!S_ISREG(st.st_mode)) {
    throw Error(ErrorCode::io, path.string() + ": not a regular file");
  }
  if (static_cast<std::uintmax_t>(st.st_size) > std::numeric_limits<std::size_t>::max()) {
    throw Error(ErrorCode::io, path.string() + ": file too large to map");
  }
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  file->size_ = static_cast<std::size_t>(st.st_size);
  if (file->size_ == 0) return file;
  void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) io_error(path, "cannot map " + std::to_string(file->size_) + " bytes", errno);
  file->data_ = static_cast<const std::byte*>(p);
  file->mapped_ = true;
  return file;
}

std::shared_ptr<const MappedFile> MappedFile::from_bytes(std::filesystem::path label,
                                                         std::vector<std::byte> bytes) {
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = std::move(label);
  file->owned_ = std::move(bytes);
  file->data_ = file->owned_.data();
  file->size_ = file->owned_.size();
  return file;
}

void MappedFile::release(std::span<const std::byte> range) const noexcept {
  if (!mapped_ || range.empty()) return;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<std::uintptr_t>(range.data()) + page - 1) / page * page;
  const auto end = (reinterpret_cast<std::uintptr_t>(range.data()) + range.size()) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (mapped_) ::munmap(const_cast<std::byte*>(data_), size_);
}

}  // namespace qlinear::io
