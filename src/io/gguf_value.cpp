// GgufValue: metadata values of every GGUF type, arrays held compactly (the layout is in gguf.hpp).

#include "io/byte_reader.hpp"
#include "io/gguf_parser.hpp"

#include <qlinear/error.hpp>
#include <qlinear/gguf.hpp>

#include <algorithm>
#include <bit>
#include <charconv>
#include <functional>
#include <limits>
#include <span>
#include <string>

namespace qlinear {
namespace {

using T = GgufValueType;

bool is_signed_type(T t) noexcept { return t == T::i8 || t == T::i16 || t == T::i32 || t == T::i64; }

[[noreturn]] void wrong_type(T actual, const char* wanted) {
  throw Error(ErrorCode::invalid_argument, "GGUF value of type " +
                                               std::string(gguf_value_type_name(actual)) + " is not " +
                                               wanted);
}

template <typename F>
std::string shortest(F value) {
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, result.ptr);
}

std::string quoted(std::string_view s, std::size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  const std::size_t n = s.size() < max_bytes ? s.size() : max_bytes;
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  if (n < s.size()) out += "... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

void append_le(std::string& out, std::uint64_t v, std::size_t size) {
  for (std::size_t i = 0; i < size; ++i, v >>= 8) out.push_back(static_cast<char>(v & 0xff));
}

// Levels of arrays in v: 1 for an array of numbers, bools or strings, else 1 + its deepest element's.
int nesting_depth(const GgufValue& v) {
  if (v.element_type() != T::array) return 1;
  int deepest = 0;
  for (std::size_t i = 0; i < v.array_size(); ++i) deepest = std::max(deepest, nesting_depth(v.array_element(i)));
  return 1 + deepest;
}

}  // namespace

std::string_view gguf_value_type_name(GgufValueType type) noexcept {
  switch (type) {
    case T::u8: return "u8";
    case T::i8: return "i8";
    case T::u16: return "u16";
    case T::i16: return "i16";
    case T::u32: return "u32";
    case T::i32: return "i32";
    case T::f32: return "f32";
    case T::boolean: return "bool";
    case T::string: return "string";
    case T::array: return "array";
    case T::u64: return "u64";
    case T::i64: return "i64";
    case T::f64: return "f64";
  }
  return "unknown";
}

#define QLINEAR_GGUF_SCALAR(name, ctype, bits_expr) \
  GgufValue GgufValue::name(ctype v) {              \
    GgufValue out;                                  \
    out.type_ = T::name;                            \
    out.bits_ = (bits_expr);                        \
    return out;                                     \
  }
QLINEAR_GGUF_SCALAR(u8, std::uint8_t, v)
QLINEAR_GGUF_SCALAR(u16, std::uint16_t, v)
QLINEAR_GGUF_SCALAR(u32, std::uint32_t, v)
QLINEAR_GGUF_SCALAR(u64, std::uint64_t, v)
QLINEAR_GGUF_SCALAR(i8, std::int8_t, static_cast<std::uint64_t>(static_cast<std::int64_t>(v)))
QLINEAR_GGUF_SCALAR(i16, std::int16_t, static_cast<std::uint64_t>(static_cast<std::int64_t>(v)))
QLINEAR_GGUF_SCALAR(i32, std::int32_t, static_cast<std::uint64_t>(static_cast<std::int64_t>(v)))
QLINEAR_GGUF_SCALAR(i64, std::int64_t, static_cast<std::uint64_t>(v))
QLINEAR_GGUF_SCALAR(f32, float, std::bit_cast<std::uint32_t>(v))
QLINEAR_GGUF_SCALAR(f64, double, std::bit_cast<std::uint64_t>(v))
QLINEAR_GGUF_SCALAR(boolean, bool, v ? 1u : 0u)
#undef QLINEAR_GGUF_SCALAR

GgufValue GgufValue::string(std::string v) {
  GgufValue out;
  out.type_ = T::string;
  out.bytes_ = std::move(v);
  return out;
}

GgufValue GgufValue::array(GgufValueType element_type, const std::vector<GgufValue>& elements) {
  if (gguf_value_type_name(element_type) == "unknown") {
    throw Error(ErrorCode::invalid_argument, "unknown GGUF element type " +
                                                 std::to_string(static_cast<std::uint32_t>(element_type)));
  }
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (elements[i].type_ != element_type) {
      throw Error(ErrorCode::invalid_argument,
                  "GGUF array of " + std::string(gguf_value_type_name(element_type)) + ": element " +
                      std::to_string(i) + " is a " +
                      std::string(gguf_value_type_name(elements[i].type_)));
    }
  }
  GgufValue out;
  out.type_ = T::array;
  out.element_type_ = element_type;
  out.bits_ = elements.size();
  if (const std::size_t size = io::gguf_fixed_size(element_type)) {
    out.bytes_.reserve(elements.size() * size);
    for (const GgufValue& e : elements) append_le(out.bytes_, e.bits_, size);
  } else if (element_type == T::string) {
    std::size_t total = 0;
    for (const GgufValue& e : elements) total += e.bytes_.size();
    out.bytes_.reserve(total);
    out.ends_.reserve(elements.size());
    for (const GgufValue& e : elements) {
      out.bytes_ += e.bytes_;
      out.ends_.push_back(out.bytes_.size());
    }
  } else {
    out.ends_.reserve(elements.size());
    for (std::size_t i = 0; i < elements.size(); ++i) {
      if (nesting_depth(elements[i]) >= io::kGgufMaxArrayDepth) {
        throw Error(ErrorCode::invalid_argument,
                    "GGUF array of arrays: element " + std::to_string(i) + " would nest arrays more than " +
                        std::to_string(io::kGgufMaxArrayDepth) + " deep");
      }
      elements[i].append_encoded(out.bytes_);
      out.ends_.push_back(out.bytes_.size());
    }
  }
  return out;
}

GgufValueType GgufValue::element_type() const {
  if (type_ != T::array) wrong_type(type_, "an array");
  return element_type_;
}

bool GgufValue::is_integer() const noexcept {
  switch (type_) {
    case T::u8: case T::i8: case T::u16: case T::i16: case T::u32: case T::i32: case T::u64: case T::i64:
      return true;
    default:
      return false;
  }
}

std::uint64_t GgufValue::as_u64() const {
  if (!is_integer()) wrong_type(type_, "an integer");
  if (is_signed_type(type_) && static_cast<std::int64_t>(bits_) < 0) {
    throw Error(ErrorCode::invalid_argument,
                "GGUF value " + std::to_string(static_cast<std::int64_t>(bits_)) + " is negative");
  }
  return bits_;
}

std::int64_t GgufValue::as_i64() const {
  if (!is_integer()) wrong_type(type_, "an integer");
  if (type_ == T::u64 && bits_ > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    throw Error(ErrorCode::invalid_argument,
                "GGUF value " + std::to_string(bits_) + " does not fit in a signed 64-bit integer");
  }
  return static_cast<std::int64_t>(bits_);
}

double GgufValue::as_f64() const {
  if (type_ == T::f32) return std::bit_cast<float>(static_cast<std::uint32_t>(bits_));
  if (type_ == T::f64) return std::bit_cast<double>(bits_);
  if (is_integer()) {
    return is_signed_type(type_) ? static_cast<double>(static_cast<std::int64_t>(bits_))
                                 : static_cast<double>(bits_);
  }
  wrong_type(type_, "a number");
}

bool GgufValue::as_bool() const {
  if (type_ != T::boolean) wrong_type(type_, "a bool");
  return bits_ != 0;
}

const std::string& GgufValue::as_string() const {
  if (type_ != T::string) wrong_type(type_, "a string");
  return bytes_;
}

std::size_t GgufValue::array_size() const {
  if (type_ != T::array) wrong_type(type_, "an array");
  return static_cast<std::size_t>(bits_);
}

GgufValue GgufValue::array_element(std::size_t i) const {
  if (i >= array_size()) {
    throw Error(ErrorCode::invalid_argument, "GGUF array index " + std::to_string(i) +
                                                 " is out of range for an array of " +
                                                 std::to_string(bits_) + " elements");
  }
  GgufValue out;
  out.type_ = element_type_;
  if (const std::size_t size = io::gguf_fixed_size(element_type_)) {
    out.bits_ = io::gguf_scalar_bits(element_type_, reinterpret_cast<const std::byte*>(bytes_.data()) + i * size);
    return out;
  }
  const std::size_t begin = i == 0 ? 0 : static_cast<std::size_t>(ends_[i - 1]);
  const std::size_t length = static_cast<std::size_t>(ends_[i]) - begin;
  if (element_type_ == T::string) {
    out.bytes_.assign(bytes_, begin, length);
    return out;
  }
  // The bytes were checked when the array was read or made, so this cannot fail.
  const std::filesystem::path label("GGUF array element");
  io::ByteReader reader(std::as_bytes(std::span(bytes_.data(), bytes_.size())).subspan(begin, length), label);
  return io::GgufParser::read_value(reader, T::array, "array element " + std::to_string(i), 0);
}

std::vector<GgufValue> GgufValue::as_array() const {
  std::vector<GgufValue> out;
  out.reserve(array_size());
  for (std::size_t i = 0; i < array_size(); ++i) out.push_back(array_element(i));
  return out;
}

std::size_t GgufValue::memory_bytes() const noexcept {
  std::size_t n = sizeof(GgufValue) + ends_.capacity() * sizeof(std::uint64_t);
  // A short string lives in the object itself (the small-string buffer); a longer one on the heap,
  // with room for its terminating NUL.
  const std::less<const void*> before;
  const bool inside = !before(bytes_.data(), this) && before(bytes_.data(), this + 1);
  if (!inside) n += bytes_.capacity() + 1;
  return n;
}

void GgufValue::append_encoded(std::string& out) const {
  if (const std::size_t size = io::gguf_fixed_size(type_)) {
    append_le(out, bits_, size);
    return;
  }
  if (type_ == T::string) {
    append_le(out, bytes_.size(), 8);
    out += bytes_;
    return;
  }
  append_le(out, static_cast<std::uint32_t>(element_type_), 4);
  append_le(out, bits_, 8);
  if (element_type_ != T::string) {
    out += bytes_;  // numbers and bools little-endian, arrays encoded: as the file has them
    return;
  }
  std::size_t begin = 0;
  for (const std::uint64_t end : ends_) {
    append_le(out, end - begin, 8);
    out.append(bytes_, begin, static_cast<std::size_t>(end) - begin);
    begin = static_cast<std::size_t>(end);
  }
}

std::string GgufValue::to_display_string(std::size_t max_array_items,
                                         std::size_t max_string_bytes) const {
  switch (type_) {
    case T::string: return quoted(bytes_, max_string_bytes);
    case T::boolean: return bits_ != 0 ? "true" : "false";
    case T::f32: return shortest(std::bit_cast<float>(static_cast<std::uint32_t>(bits_)));
    case T::f64: return shortest(std::bit_cast<double>(bits_));
    case T::array: {
      std::string out = "[";
      const std::size_t count = array_size();
      const std::size_t shown = std::min(count, max_array_items);
      for (std::size_t i = 0; i < shown; ++i) {
        if (i > 0) out += ", ";
        if (element_type_ == T::string) {  // straight from the buffer: an element may be long
          const std::size_t begin = i == 0 ? 0 : static_cast<std::size_t>(ends_[i - 1]);
          out += quoted(std::string_view(bytes_).substr(begin, static_cast<std::size_t>(ends_[i]) - begin),
                        max_string_bytes);
        } else {
          out += array_element(i).to_display_string(max_array_items, max_string_bytes);
        }
      }
      if (shown < count) out += (shown > 0 ? ", ... (" : "... (") + std::to_string(count) + " items)";
      return out + "]";
    }
    default:
      return is_signed_type(type_) ? std::to_string(static_cast<std::int64_t>(bits_))
                                   : std::to_string(bits_);
  }
}

bool GgufValue::operator==(const GgufValue& other) const {
  return type_ == other.type_ && bits_ == other.bits_ && bytes_ == other.bytes_ &&
         (type_ != T::array || (element_type_ == other.element_type_ && ends_ == other.ends_));
}

}  // namespace qlinear
