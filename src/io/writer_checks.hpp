#pragma once
// The calling protocol both file writers (GGUF, safetensors) enforce: declare the tensors, write the
// header, write each tensor's data in declaration order and at its declared size, then finish().
// A call out of that order is Error(invalid_argument), a wrong size Error(size_mismatch); both name
// the target file.

#include <qlinear/error.hpp>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace qlinear::io {

[[noreturn]] inline void writer_misuse(const std::filesystem::path& target, const std::string& message) {
  throw Error(ErrorCode::invalid_argument, target.string() + ": " + message);
}

// Checks write_tensor_data(name, size bytes) where tensors[next] is the next tensor to be written
// and size_of(tensor) its declared size; returns that tensor.
template <class Tensor, class SizeOf>
const Tensor& next_declared_tensor(const std::filesystem::path& target, bool writing,
                                   const std::vector<Tensor>& tensors, std::size_t next,
                                   std::string_view name, std::size_t size, SizeOf size_of) {
  const std::string quoted = std::string("'").append(name).append("'");
  if (!writing) writer_misuse(target, "write_tensor_data(" + quoted + ") outside write_header() .. finish()");
  if (next >= tensors.size()) {
    writer_misuse(target, "tensor " + quoted + " was not declared (all declared tensors are written)");
  }
  const Tensor& t = tensors[next];
  if (t.name != name) {
    writer_misuse(target, "tensor " + quoted + " written out of order: the next declared tensor is '" + t.name + "'");
  }
  const std::size_t declared = size_of(t);
  if (size != declared) {
    throw Error(ErrorCode::size_mismatch, target.string() + ": tensor " + quoted + " is " +
                                              std::to_string(declared) + " bytes, got " + std::to_string(size));
  }
  return t;
}

// Checks finish(): the header is written and every declared tensor's data too.
template <class Tensor>
void check_all_written(const std::filesystem::path& target, bool writing, const std::vector<Tensor>& tensors,
                       std::size_t next) {
  if (!writing) writer_misuse(target, "finish() needs write_header() first and may be called once");
  if (next != tensors.size()) {
    writer_misuse(target, "finish() before the data of tensor '" + tensors[next].name + "' was written");
  }
}

}  // namespace qlinear::io
