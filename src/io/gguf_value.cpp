// GgufValue: metadata values of every GGUF type.

#include <qlinear/error.hpp>
#include <qlinear/gguf.hpp>

#include <bit>
#include <charconv>
#include <limits>
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

std::string quoted(const std::string& s, std::size_t max_bytes) {
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
  out.string_ = std::move(v);
  return out;
}

GgufValue GgufValue::array(GgufValueType element_type, std::vector<GgufValue> elements) {
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
  out.array_ = std::move(elements);
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
  return string_;
}

const std::vector<GgufValue>& GgufValue::as_array() const {
  if (type_ != T::array) wrong_type(type_, "an array");
  return array_;
}

std::string GgufValue::to_display_string(std::size_t max_array_items,
                                         std::size_t max_string_bytes) const {
  switch (type_) {
    case T::string: return quoted(string_, max_string_bytes);
    case T::boolean: return bits_ != 0 ? "true" : "false";
    case T::f32: return shortest(std::bit_cast<float>(static_cast<std::uint32_t>(bits_)));
    case T::f64: return shortest(std::bit_cast<double>(bits_));
    case T::array: {
      std::string out = "[";
      const std::size_t shown = array_.size() <= max_array_items ? array_.size() : max_array_items;
      for (std::size_t i = 0; i < shown; ++i) {
        if (i > 0) out += ", ";
        out += array_[i].to_display_string(max_array_items, max_string_bytes);
      }
      if (shown < array_.size()) {
        out += (shown > 0 ? ", ... (" : "... (") + std::to_string(array_.size()) + " items)";
      }
      return out + "]";
    }
    default:
      return is_signed_type(type_) ? std::to_string(static_cast<std::int64_t>(bits_))
                                   : std::to_string(bits_);
  }
}

bool GgufValue::operator==(const GgufValue& other) const {
  return type_ == other.type_ && bits_ == other.bits_ && string_ == other.string_ &&
         (type_ != T::array || (element_type_ == other.element_type_ && array_ == other.array_));
}

}  // namespace qlinear
