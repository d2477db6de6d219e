#pragma once
// What the three source files of the extension share: turning Python arguments into the C++ API's
// types (float32 arrays, formats, options) and qlinear::Error into qlinear's Python exceptions.

#include <qlinear/calibration.hpp>
#include <qlinear/error.hpp>
#include <qlinear/format.hpp>
#include <qlinear/tensor.hpp>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace qlinear::python {

namespace py = pybind11;

// C-contiguous float32: what every C++ call takes. Anything else is converted to it once.
using FloatArray = py::array_t<float, py::array::c_style>;

// `obj` as a C-contiguous float32 array: returned as it is when it already is one (no copy), else
// converted once by numpy (float64, float16, integers, bool, strided views, lists, torch tensors).
// Complex, object, string and other dtypes that hold no real numbers: TypeError naming `what`.
FloatArray as_float32(py::handle obj, const char* what);

// `obj` must have `ndim` dimensions: Error(size_mismatch) naming `what` and the shape otherwise.
void require_ndim(const py::array& a, int ndim, const char* what, const char* expected);

inline std::span<const float> span_of(const FloatArray& a) {
  return {a.data(), static_cast<std::size_t>(a.size())};
}

std::string shape_string(const py::array& a);  // "(2, 3)"

Format format_from(const std::string& name);   // Error(unknown_format) listing the valid names
Method method_from(const std::string& name);   // "reference", "search" or "gptq"

// None, an AffineOptions, or a dict of AffineOptions' keyword arguments.
AffineOptions affine_from(py::handle obj);

// The keyword arguments quantize() and QuantizedLinear share, with the arrays they point into kept
// alive by this object for as long as the options are used.
struct QuantizeArguments {
  QuantizeOptions options;
  FloatArray importance;  // empty handle when none was given

  QuantizeArguments(py::handle importance, const std::string& method, py::handle calibration,
                    py::handle affine, double damping);
};

// A numpy array of `count` elements of T that views memory owned by `base` (kept alive by the
// array), read-only: the bytes behind a QuantizedTensor or a mapped file never change.
template <typename T>
py::array readonly_view(const T* data, std::vector<py::ssize_t> shape, py::handle base) {
  py::array a(py::dtype::of<T>(), std::move(shape), {}, data, base);
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

// The Python exception for a qlinear::Error: qlinear.ArgumentError (a ValueError) for invalid
// arguments, sizes, non-finite values and unknown formats, qlinear.Error for the rest; `.code` holds
// error_code_name().
void register_errors(py::module_& m);

void bind_tensor(py::module_& m);  // module.cpp: formats, QuantizedTensor, quantize, measure
void bind_linear(py::module_& m);  // linear.cpp: QuantizedLinear, Calibration
void bind_files(py::module_& m);   // files.cpp: read_tensors, writers, quantize_model

}  // namespace qlinear::python
