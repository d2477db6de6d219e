// safetensors writer: a JSON header in declaration order (metadata first), padded with spaces to a
// multiple of 8 bytes so the data starts 8-aligned, then the tensors back to back.

#include "io/atomic_file.hpp"
#include "io/writer_checks.hpp"

#include <qlinear/error.hpp>
#include <qlinear/safetensors.hpp>

#include <nlohmann/json.hpp>

#include <string>

namespace qlinear {

using io::writer_misuse;

namespace {

}  // namespace

SafetensorsWriter::SafetensorsWriter(std::filesystem::path target)
    : file_(std::make_unique<io::AtomicFile>(std::move(target))) {}

SafetensorsWriter::~SafetensorsWriter() = default;

void SafetensorsWriter::set_metadata(std::string key, std::string value) {
  if (state_ != State::declaring) writer_misuse(file_->target(), "set_metadata('" + key + "') after write_header()");
  metadata_[std::move(key)] = std::move(value);
}

void SafetensorsWriter::add_tensor(std::string name, std::string dtype, std::vector<std::uint64_t> shape) {
  const auto& target = file_->target();
  const std::string context = "tensor '" + name + "'";
  if (state_ != State::declaring) writer_misuse(target, "add_tensor(" + context + ") after write_header()");
  if (name.empty() || name == "__metadata__") writer_misuse(target, "'" + name + "' cannot name a tensor");
  for (const auto& t : tensors_) {
    if (t.name == name) writer_misuse(target, context + " declared twice");
  }
  const std::size_t bits = safetensors_dtype_bits(dtype);
  if (bits == 0) writer_misuse(target, context + ": unknown dtype '" + dtype + "'");
  std::uint64_t total_bits = bits;
  for (const std::uint64_t d : shape) {
    if (__builtin_mul_overflow(total_bits, d, &total_bits)) writer_misuse(target, context + ": size overflows");
  }
  if (total_bits % 8 != 0) writer_misuse(target, context + ": " + dtype + " × shape is not a whole number of bytes");
  SafetensorsTensorInfo info;
  info.begin = tensors_.empty() ? 0 : tensors_.back().end;
  if (__builtin_add_overflow(info.begin, total_bits / 8, &info.end)) writer_misuse(target, context + ": size overflows");
  info.name = std::move(name);
  info.dtype = std::move(dtype);
  info.shape = std::move(shape);
  tensors_.push_back(std::move(info));
}

void SafetensorsWriter::write_header() {
  const auto& target = file_->target();
  if (state_ != State::declaring) writer_misuse(target, "write_header() called twice");
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    auto& meta = header["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata_) meta[k] = v;
  }
  for (const auto& t : tensors_) {
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    writer_misuse(target, std::string("a name or metadata string is not valid UTF-8: ") + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  std::byte length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::byte>((text.size() >> (8 * i)) & 0xff);
  file_->write(length);
  file_->write(std::as_bytes(std::span(text.data(), text.size())));
  state_ = State::writing;
}

void SafetensorsWriter::write_tensor_data(std::string_view name, std::span<const std::byte> bytes) {
  io::next_declared_tensor(file_->target(), state_ == State::writing, tensors_, next_tensor_, name, bytes.size(),
                           [](const SafetensorsTensorInfo& declared) { return declared.nbytes(); });
  file_->write(bytes);
  ++next_tensor_;
}

void SafetensorsWriter::finish() {
  io::check_all_written(file_->target(), state_ == State::writing, tensors_, next_tensor_);
  file_->commit();
  state_ = State::finished;
}

}  // namespace qlinear
