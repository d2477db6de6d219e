// GGUF writer: the layout ggml's writer produces (and its reader requires), described in gguf.hpp.

#include "io/atomic_file.hpp"
#include "io/ggml_types.hpp"
#include "io/gguf_parser.hpp"
#include "io/writer_checks.hpp"

#include <qlinear/error.hpp>
#include <qlinear/gguf.hpp>

#include <limits>
#include <span>
#include <string>

namespace qlinear {

using io::writer_misuse;

namespace {

using T = GgufValueType;

// The header as it is built: GgufValue::append_encoded() adds values to the same buffer.
class Bytes {
 public:
  template <typename U>
  void le(U value) {
    auto v = static_cast<std::uint64_t>(value);
    for (std::size_t i = 0; i < sizeof(U); ++i, v >>= 8) out_.push_back(static_cast<char>(v & 0xff));
  }
  void string(const std::string& s) {
    le<std::uint64_t>(s.size());
    out_ += s;
  }
  void pad_to(std::uint64_t alignment) {
    while (out_.size() % alignment != 0) out_.push_back('\0');
  }
  std::string& buffer() noexcept { return out_; }
  std::span<const std::byte> bytes() const noexcept { return std::as_bytes(std::span(out_.data(), out_.size())); }

 private:
  std::string out_;
};

bool power_of_two(std::uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

std::uint64_t round_up(std::uint64_t n, std::uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

}  // namespace

GgufWriter::GgufWriter(std::filesystem::path target, std::uint64_t alignment) : alignment_(alignment) {
  if (!power_of_two(alignment) || alignment > std::numeric_limits<std::uint32_t>::max()) {
    writer_misuse(target, "GGUF alignment " + std::to_string(alignment) + " is not a power of two below 2^32");
  }
  if (alignment != io::kGgufDefaultAlignment) {
    metadata_.emplace_back("general.alignment", GgufValue::u32(static_cast<std::uint32_t>(alignment)));
  }
  file_ = std::make_unique<io::AtomicFile>(std::move(target));
}

GgufWriter::~GgufWriter() = default;

void GgufWriter::set(std::string key, GgufValue value) {
  const auto& target = file_->target();
  if (state_ != State::declaring) writer_misuse(target, "set('" + key + "') after write_header()");
  if (key.empty()) writer_misuse(target, "GGUF metadata keys must not be empty");
  if (key.size() > 65535) writer_misuse(target, "GGUF metadata key of " + std::to_string(key.size()) + " bytes; at most 65535");
  if (value.type() == T::array && value.element_type() == T::array) {
    throw Error(ErrorCode::unsupported, target.string() + ": key '" + key +
                                            "' holds an array of arrays, which ggml's reader rejects");
  }
  if (key == "general.alignment") {
    if (value.type() != T::u32 || !power_of_two(value.as_u64())) {
      writer_misuse(target, "general.alignment must be a u32 power of two, got " +
                                std::string(gguf_value_type_name(value.type())) + " " + value.to_display_string());
    }
    alignment_ = value.as_u64();
  }
  for (auto& [k, v] : metadata_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  metadata_.emplace_back(std::move(key), std::move(value));
}

void GgufWriter::add_tensor(std::string name, std::vector<std::uint64_t> shape, std::uint32_t ggml_type) {
  const auto& target = file_->target();
  const std::string context = "tensor '" + name + "'";
  if (state_ != State::declaring) writer_misuse(target, "add_tensor(" + context + ") after write_header()");
  if (name.empty()) writer_misuse(target, "GGUF tensor names must not be empty");
  if (name.size() > io::kGgufMaxNameBytes) {
    writer_misuse(target, context + ": name of " + std::to_string(name.size()) + " bytes; ggml allows at most 63");
  }
  for (const GgufTensorInfo& t : tensors_) {
    if (t.name == name) writer_misuse(target, context + " declared twice");
  }
  if (shape.empty() || shape.size() > io::kGgufMaxDims) {
    writer_misuse(target, context + ": " + std::to_string(shape.size()) + " dimensions; GGUF needs 1 to 4");
  }
  const io::GgmlTypeTraits* traits = io::sized_ggml_type(ggml_type);
  if (traits == nullptr) writer_misuse(target, context + ": " + std::to_string(ggml_type) + " is not a ggml type with a size");
  std::uint64_t elements = 1;
  for (const std::uint64_t d : shape) {
    if (d == 0) writer_misuse(target, context + ": zero-sized dimension (old ggml readers cannot load it)");
    if (__builtin_mul_overflow(elements, d, &elements) ||
        elements >= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      writer_misuse(target, context + ": element count overflows int64");
    }
  }
  if (shape.back() % traits->block_size != 0) {
    writer_misuse(target, context + ": rows of " + std::to_string(shape.back()) +
                              " elements are not a multiple of the " + std::string(traits->name) +
                              " block size " + std::to_string(traits->block_size));
  }
  GgufTensorInfo info;
  if (__builtin_mul_overflow(elements / traits->block_size, std::uint64_t{traits->type_size}, &info.nbytes)) {
    writer_misuse(target, context + ": byte size overflows");
  }
  info.name = std::move(name);
  info.shape = std::move(shape);
  info.ggml_type = ggml_type;
  tensors_.push_back(std::move(info));
}

void GgufWriter::write_header() {
  if (state_ != State::declaring) writer_misuse(file_->target(), "write_header() called twice");
  std::uint64_t offset = 0;
  for (GgufTensorInfo& t : tensors_) {
    t.offset = offset;
    offset += round_up(t.nbytes, alignment_);
  }
  Bytes out;
  out.le<std::uint32_t>(0x46554747u);  // "GGUF" read as a little-endian u32
  out.le<std::uint32_t>(io::kGgufVersion);
  out.le<std::uint64_t>(tensors_.size());
  out.le<std::uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    out.string(key);
    out.le<std::uint32_t>(static_cast<std::uint32_t>(value.type()));
    value.append_encoded(out.buffer());
  }
  for (const GgufTensorInfo& t : tensors_) {
    out.string(t.name);
    out.le<std::uint32_t>(static_cast<std::uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) out.le<std::uint64_t>(*it);  // ne[0] first
    out.le<std::uint32_t>(t.ggml_type);
    out.le<std::uint64_t>(t.offset);
  }
  out.pad_to(alignment_);
  file_->write(out.bytes());
  data_start_ = out.bytes().size();
  state_ = State::writing;
}

void GgufWriter::write_tensor_data(std::string_view name, std::span<const std::byte> bytes) {
  const GgufTensorInfo& t =
      io::next_declared_tensor(file_->target(), state_ == State::writing, tensors_, next_tensor_, name, bytes.size(),
                               [](const GgufTensorInfo& declared) { return std::size_t(declared.nbytes); });
  file_->write(bytes);
  file_->write_zeros(static_cast<std::size_t>(round_up(t.nbytes, alignment_) - t.nbytes));
  ++next_tensor_;
}

void GgufWriter::finish() {
  io::check_all_written(file_->target(), state_ == State::writing, tensors_, next_tensor_);
  file_->commit();
  state_ = State::finished;
}

}  // namespace qlinear
