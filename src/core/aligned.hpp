#pragma once
// 64-byte aligned storage (a cache line, and the widest vector load any kernel makes).
// (Offering large packed weights to the kernel as transparent huge pages was tried: this machine's
// kernel granted few of them, and GEMV times did not change measurably.)

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>

namespace qlinear::core {

inline constexpr std::size_t kStorageAlignment = 64;

// For a caller that writes every byte itself.
inline std::shared_ptr<std::byte> allocate_uninitialized(std::size_t bytes) {
  auto* p = static_cast<std::byte*>(::operator new(bytes == 0 ? 1 : bytes, std::align_val_t{kStorageAlignment}));
  return {p, [](std::byte* q) { ::operator delete(q, std::align_val_t{kStorageAlignment}); }};
}

inline std::shared_ptr<std::byte> allocate_zeroed(std::size_t bytes) {
  auto p = allocate_uninitialized(bytes);
  std::memset(p.get(), 0, bytes);
  return p;
}

}  // namespace qlinear::core
