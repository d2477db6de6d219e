// QuantizedLinear and Calibration. The forward pass is the hot path: a float32 C-contiguous input
// goes to the kernels without a copy, the output array is allocated once, and the GIL is released
// while the kernels run, so Python threads run layers in parallel.

#include "common.hpp"

#include <qlinear/linear.hpp>

#include <chrono>
#include <cstring>
#include <string>

namespace qlinear::python {

namespace {

// A new C-contiguous float32 array straight from numpy's C API with one dtype made once: the
// general py::array_t constructor builds a dtype and shape vectors per call, a measurable part of
// a 64×64 layer's call.
FloatArray new_float_array(int ndim, const py::ssize_t* dims) {
  static PyObject* const descr = py::dtype::of<float>().release().ptr();  // lives as long as the process
  const auto& api = py::detail::npy_api::get();
  Py_INCREF(descr);  // PyArray_NewFromDescr steals a reference
  PyObject* a = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, ndim, dims, nullptr, nullptr, 0, nullptr);
  if (!a) throw py::error_already_set();
  return py::reinterpret_steal<FloatArray>(a);
}

// x: [batch, in] or [in]. Returns y shaped like x with in_features replaced by out_features.
py::array forward_array(const QuantizedLinear& layer, py::handle x_obj, py::handle out_obj) {
  const FloatArray x = as_float32(x_obj, "x");
  if (x.ndim() != 1 && x.ndim() != 2) {
    throw Error(ErrorCode::size_mismatch,
                "x must be [batch, in_features] or [in_features] with in_features = " +
                    std::to_string(layer.in_features()) + ", got shape " + shape_string(x));
  }
  const std::size_t batch = x.ndim() == 2 ? static_cast<std::size_t>(x.shape(0)) : 1;
  const auto out_features = static_cast<py::ssize_t>(layer.out_features());
  FloatArray y;
  if (out_obj.is_none()) {
    const py::ssize_t dims[2] = {static_cast<py::ssize_t>(batch), out_features};
    y = x.ndim() == 2 ? new_float_array(2, dims) : new_float_array(1, dims + 1);
  } else {
    // Written in place: it must already be what forward writes, so no conversion happens behind the
    // caller's back.
    if (!FloatArray::check_(out_obj) || !py::reinterpret_borrow<py::array>(out_obj).writeable()) {
      throw py::type_error("out must be a writable C-contiguous float32 array");
    }
    y = py::reinterpret_borrow<FloatArray>(out_obj);
    if (static_cast<std::size_t>(y.size()) != batch * layer.out_features() || y.ndim() != x.ndim()) {
      throw Error(ErrorCode::size_mismatch, "out must have shape " +
                                                (x.ndim() == 2 ? "(" + std::to_string(batch) + ", " : std::string("(")) +
                                                std::to_string(out_features) + (x.ndim() == 2 ? ")" : ",)") +
                                                ", got " + shape_string(y));
    }
  }
  const std::span<const float> xs = span_of(x);
  const std::span<float> ys(y.mutable_data(), static_cast<std::size_t>(y.size()));
  {
    py::gil_scoped_release release;
    layer.forward(xs, batch, ys);
  }
  return y;
}

py::object bias_view(py::object self) {
  const auto& layer = self.cast<const QuantizedLinear&>();
  if (layer.bias().empty()) return py::none();
  return readonly_view(layer.bias().data(), {static_cast<py::ssize_t>(layer.bias().size())}, self);
}

std::vector<float> bias_values(py::handle bias_obj) {
  if (bias_obj.is_none()) return {};
  const FloatArray b = as_float32(bias_obj, "bias");
  require_ndim(b, 1, "bias", "1-D [out_features]");
  return {b.data(), b.data() + b.size()};
}

QuantizedLinear make_layer(py::handle w_obj, py::handle bias_obj, const std::string& format, py::handle importance,
                           const std::string& method, py::handle calibration, py::handle affine, double damping) {
  const FloatArray w = as_float32(w_obj, "w");
  require_ndim(w, 2, "w", "2-D [out_features, in_features]");
  const std::vector<float> bias = bias_values(bias_obj);
  const QuantizeArguments args(importance, method, calibration, affine, damping);
  const Format f = format_from(format);
  const auto out = static_cast<std::size_t>(w.shape(0)), in = static_cast<std::size_t>(w.shape(1));
  py::gil_scoped_release release;
  return QuantizedLinear::from_weights(span_of(w), bias, out, in, f, args.options);
}

std::string layer_repr(const QuantizedLinear& l) {
  return "QuantizedLinear(in_features=" + std::to_string(l.in_features()) + ", out_features=" +
         std::to_string(l.out_features()) + ", format='" + std::string(format_name(l.format())) +
         "', bias=" + (l.bias().empty() ? "False" : "True") + ")";
}

// Rows of x for Calibration.add: [rows, in] or [in] (one row); leading dimensions of a higher-rank
// array (batch, sequence) are rows too, as a layer sees them.
void calibration_add(Calibration& c, py::handle x_obj) {
  const FloatArray x = as_float32(x_obj, "x");
  if (x.ndim() == 0 || static_cast<std::size_t>(x.shape(x.ndim() - 1)) != c.in_features()) {
    throw Error(ErrorCode::size_mismatch, "x must be [..., in_features] with in_features = " +
                                              std::to_string(c.in_features()) + ", got shape " + shape_string(x));
  }
  const std::size_t rows = static_cast<std::size_t>(x.size()) / c.in_features();
  const std::span<const float> xs = span_of(x);
  py::gil_scoped_release release;
  c.add(xs, rows);
}

template <typename T>
py::array_t<T> copy_array(std::span<const T> values, std::vector<py::ssize_t> shape) {
  py::array_t<T> a(std::move(shape));
  if (!values.empty()) std::memcpy(a.mutable_data(), values.data(), values.size_bytes());
  return a;
}

void bind_quantized_linear(py::module_& m) {
  py::class_<QuantizedLinear>(m, "QuantizedLinear",
                              "y = x @ W.T + b with W stored quantized: qlinear's C++ QuantizedLinear.\n\n"
                              "QuantizedLinear(w, bias=None, format='q4_0', ...) quantizes w [out_features,\n"
                              "in_features] (keywords as quantize()); QuantizedLinear.from_quantized(q, bias)\n"
                              "wraps a QuantizedTensor. layer(x) takes x [batch, in_features] or [in_features]\n"
                              "and returns float32 [batch, out_features] or [out_features]. Calls release the\n"
                              "GIL and may come from several threads at once.")
      .def(py::init(&make_layer), py::arg("w"), py::arg("bias") = py::none(), py::arg("format") = "q4_0",
           py::arg("importance") = py::none(), py::arg("method") = "reference", py::arg("calibration") = py::none(),
           py::arg("affine") = py::none(), py::arg("damping") = 0.01)
      .def_static("from_quantized",
                  [](const QuantizedTensor& q, py::handle bias) {
                    const std::vector<float> b = bias_values(bias);
                    py::gil_scoped_release release;
                    return QuantizedLinear::from_quantized(q, b);
                  },
                  py::arg("q"), py::arg("bias") = py::none(),
                  "A layer around weights already quantized (e.g. from read_tensors); bias: out_features values\n"
                  "or None. The weight bytes are shared, not copied.")
      .def("__call__", &forward_array, py::arg("x"), py::arg("out") = py::none(),
           "y = x @ dequantize(W).T + b as the kernels compute it (see forward).")
      .def("forward", &forward_array, py::arg("x"), py::arg("out") = py::none(),
           "y = x @ W.T + b. x: [batch, in_features] or [in_features], float32 C-contiguous (anything else\n"
           "is converted once). out: optional float32 C-contiguous array of the result's shape, written in\n"
           "place. For the quantized formats each row of x is first quantized per block of 32 to q8_0, as\n"
           "ggml's CPU backend does; f32/f16/bf16 weights compute in float. Releases the GIL.")
      .def_property_readonly("in_features", &QuantizedLinear::in_features)
      .def_property_readonly("out_features", &QuantizedLinear::out_features)
      .def_property_readonly("format", [](const QuantizedLinear& l) { return std::string(format_name(l.format())); })
      .def_property_readonly("weight", &QuantizedLinear::weight, "The QuantizedTensor (shared, not copied).")
      .def_property_readonly("bias", &bias_view, "The bias as a read-only float32 view, or None.")
      .def_property_readonly("weight_bytes", &QuantizedLinear::weight_bytes, "The weight's nbytes.")
      .def_property_readonly("compression_ratio", &QuantizedLinear::compression_ratio,
                             "4 * out_features * in_features / weight_bytes")
      .def("dequantize_weights", [](const QuantizedLinear& l) {
        const std::vector<float> w = l.dequantize_weights();
        return copy_array<float>(w, {static_cast<py::ssize_t>(l.out_features()), static_cast<py::ssize_t>(l.in_features())});
      }, "The weights as float32 [out_features, in_features].")
      .def("__repr__", &layer_repr)
      .def("_time_forward",
           [](const QuantizedLinear& layer, const FloatArray& x, std::size_t calls) {
             // The C++ side of bench/python_bench.py: `calls` forward passes on x [batch, in] into
             // one output buffer, timed in C++, so the Python call's overhead is the difference.
             require_ndim(x, 2, "x", "2-D [batch, in_features]");
             const auto batch = static_cast<std::size_t>(x.shape(0));
             std::vector<float> y(batch * layer.out_features());
             py::gil_scoped_release release;
             const auto start = std::chrono::steady_clock::now();
             for (std::size_t i = 0; i < calls; ++i) layer.forward(span_of(x), batch, y);
             return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
           },
           py::arg("x"), py::arg("calls"), "Seconds that `calls` forward passes take in C++ (for benchmarks).");
}

void bind_calibration(py::module_& m) {
  py::class_<Calibration>(m, "Calibration",
                          "Statistics of a linear layer's inputs: XᵀX and Σx² per input column, accumulated in\n"
                          "double. What quantize(method='gptq') needs, and method='search' weights by.\n\n"
                          "cal = Calibration(in_features); cal.add(x) for every batch x [..., in_features].")
      .def(py::init<std::size_t>(), py::arg("in_features"))
      .def_static("from_statistics",
                  [](std::size_t in_features, py::array_t<double, py::array::c_style | py::array::forcecast> xtx,
                     std::uint64_t rows) {
                    return Calibration::from_statistics(in_features, {xtx.data(), static_cast<std::size_t>(xtx.size())},
                                                        rows);
                  },
                  py::arg("in_features"), py::arg("xtx"), py::arg("rows"),
                  "Statistics saved earlier: xtx [in, in] (symmetric, finite), accumulated over `rows` rows.")
      .def("add", &calibration_add, py::arg("x"),
           "Adds the rows of x ([rows, in_features], [in_features], or any [..., in_features]: leading\n"
           "dimensions count as rows), converted to float32 once. NaN/Inf: ArgumentError naming the row and\n"
           "column, and the statistics stay as they were. Releases the GIL.")
      .def("merge", &Calibration::merge, py::arg("other"), "Adds another Calibration's statistics (same in_features).")
      .def_property_readonly("in_features", &Calibration::in_features)
      .def_property_readonly("rows", &Calibration::rows, "Rows added so far.")
      .def("importance", [](const Calibration& c) {
        const std::vector<float> v = c.importance();
        return copy_array<float>(v, {static_cast<py::ssize_t>(v.size())});
      }, "Mean x² per column (what llama.cpp's importance matrix holds), float32; zeros before any add().")
      .def("sum_squares", [](const Calibration& c) {
        const std::vector<double> v = c.sum_squares();
        return copy_array<double>(v, {static_cast<py::ssize_t>(v.size())});
      }, "Σx² per column, float64 (the diagonal of XᵀX).")
      .def_property_readonly("xtx", [](const Calibration& c) {
        const auto n = static_cast<py::ssize_t>(c.in_features());
        return copy_array<double>(c.xtx(), {n, n});
      }, "XᵀX, float64 [in_features, in_features] (a copy).")
      .def("__repr__", [](const Calibration& c) {
        return "Calibration(in_features=" + std::to_string(c.in_features()) + ", rows=" + std::to_string(c.rows()) + ")";
      });
}

}  // namespace

void bind_linear(py::module_& m) {
  bind_quantized_linear(m);
  bind_calibration(m);
}

}  // namespace qlinear::python
