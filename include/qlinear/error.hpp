#pragma once
// The one exception type qlinear throws. Every message names what was wrong (the tensor, row and
// column, offset, or the expected and actual sizes), so a caller can show it as it is.

#include <qlinear/export.h>
#include <stdexcept>
#include <string>
#include <string_view>

namespace qlinear {

enum class ErrorCode {
  invalid_argument,  // a parameter out of its range (group size, percentile, thread count, ...)
  size_mismatch,     // a span, shape or bias whose size is not what the other arguments imply
  non_finite,        // NaN or Inf where a finite value is required
  unknown_format,    // a format name or id qlinear does not know
  unsupported,       // a valid request that this build or format cannot serve
  io,                // the operating system refused a file operation
  malformed_file,    // a file whose contents break its format's rules
  internal,          // a broken invariant inside qlinear (a bug: please report it)
};

QLINEAR_API std::string_view error_code_name(ErrorCode code) noexcept;

class QLINEAR_API Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message);
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace qlinear
