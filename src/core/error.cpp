#include <qlinear/error.hpp>

namespace qlinear {

std::string_view error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::invalid_argument: return "invalid_argument";
    case ErrorCode::size_mismatch: return "size_mismatch";
    case ErrorCode::non_finite: return "non_finite";
    case ErrorCode::unknown_format: return "unknown_format";
    case ErrorCode::unsupported: return "unsupported";
    case ErrorCode::io: return "io";
    case ErrorCode::malformed_file: return "malformed_file";
    case ErrorCode::internal: return "internal";
  }
  return "unknown";
}

Error::Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}

}  // namespace qlinear
