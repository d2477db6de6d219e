#pragma once
// What every C entry point shares: the handles' definitions, the format table, and the one guard
// that turns any C++ exception into a status and a thread-local message.

#include <qlinear/calibration.hpp>
#include <qlinear/error.hpp>
#include <qlinear/linear.hpp>
#include <qlinear/qlinear.h>
#include <qlinear/tensor.hpp>

#include <cstddef>
#include <exception>
#include <new>
#include <span>
#include <string>
#include <utility>

struct qlinear_tensor {
  qlinear::QuantizedTensor tensor;
};

struct qlinear_layer {
  qlinear::QuantizedLinear layer;
};

struct qlinear_calibration {
  explicit qlinear_calibration(std::size_t in_features) : calibration(in_features) {}
  qlinear::Calibration calibration;
};

namespace qlinear::capi {

// Records a failure for qlinear_last_error() and returns its status. Never throws: a message that
// cannot be stored leaves a fixed one.
qlinear_status fail(qlinear_status status, const char* message) noexcept;
qlinear_status status_for(ErrorCode code) noexcept;

// Runs body, returning QLINEAR_OK, or the status of whatever it threw.
template <class Body>
qlinear_status guarded(Body&& body) noexcept {
  try {
    std::forward<Body>(body)();
    return QLINEAR_OK;
  } catch (const Error& e) {
    return fail(status_for(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return fail(QLINEAR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(QLINEAR_INTERNAL, e.what());
  } catch (...) {
    return fail(QLINEAR_INTERNAL, "an exception that is not a std::exception");
  }
}

// Error(invalid_argument, "<function>: <name> is NULL") unless p is set.
void require(const void* p, const char* function, const char* name);

// An array the caller passed as a pointer and a count: NULL is only allowed with a count of 0.
template <class T>
std::span<const T> array_of(const T* p, std::size_t count, const char* function, const char* name) {
  if (count != 0) require(p, function, name);
  return {p, count};
}
template <class T>
std::span<T> output_array(T* p, std::size_t count, const char* function, const char* name) {
  require(p, function, name);
  return {p, count};
}

// The C format numbers and the library's formats: Error(unknown_format) for a number that is none.
Format to_format(qlinear_format format);
qlinear_format to_c_format(Format format);

AffineOptions to_affine(const qlinear_affine_options& options);
Method to_method(qlinear_method method);
QuantizeOptions to_quantize_options(const qlinear_quantize_options* options, const char* function);

}  // namespace qlinear::capi
