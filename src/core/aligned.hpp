#pragma once
// Zeroed, 64-byte aligned storage (a cache line, and the widest vector load any kernel makes).

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>

namespace qlinear::core {

inline constexpr std::size_t kStorageAlignment = 64;

inline std::shared_ptr<std::byte> allocate_zeroed(std::size_t bytes) {
  auto* p = static_cast<std::byte*>(::operator new(bytes == 0 ? 1 : bytes,
                                                   std::align_val_t{kStorageAlignment}));
  std::memset(p, 0, bytes);
  return {p, [](std::byte* q) { ::operator delete(q, std::align_val_t{kStorageAlignment}); }};
}

}  // namespace qlinear::core
