// The extension module qlinear._qlinear: formats, runtime settings, QuantizedTensor, quantize,
// dequantize and measure. qlinear/__init__.py re-exports it.

#include "common.hpp"

#include <qlinear/mix.hpp>
#include <qlinear/runtime.hpp>
#include <qlinear/version.hpp>

#include <pybind11/stl.h>

#include <cmath>
#include <string_view>

namespace qlinear::python {

namespace {

py::handle error_type;     // qlinear.Error
py::handle argument_type;  // qlinear.ArgumentError

void raise(const Error& e) {
  const ErrorCode c = e.code();
  const bool argument = c == ErrorCode::invalid_argument || c == ErrorCode::size_mismatch ||
                        c == ErrorCode::non_finite || c == ErrorCode::unknown_format;
  const py::handle type = argument ? argument_type : error_type;
  py::object instance = type(e.what());
  instance.attr("code") = std::string(error_code_name(c));
  PyErr_SetObject(type.ptr(), instance.ptr());
}

constexpr const char* kErrorDoc =
    "An error from the qlinear library. ``code`` names its kind, as the C++ ErrorCode does:\n"
    "'invalid_argument', 'size_mismatch', 'non_finite', 'unknown_format', 'unsupported', 'io',\n"
    "'malformed_file' or 'internal'. The message names what is wrong (the tensor, row and column,\n"
    "file offset, or the expected and actual sizes).";

constexpr const char* kArgumentErrorDoc =
    "A qlinear.Error that is also a ValueError: an argument out of range, a shape or size that does\n"
    "not match, NaN or Inf where finite values are needed, or an unknown format name.";

const char* granularity_name(AffineOptions::Granularity g) {
  switch (g) {
    case AffineOptions::Granularity::tensor: return "tensor";
    case AffineOptions::Granularity::channel: return "channel";
    case AffineOptions::Granularity::group: return "group";
  }
  return "?";
}

const char* calibration_name(AffineOptions::Calibration c) {
  switch (c) {
    case AffineOptions::Calibration::minmax: return "minmax";
    case AffineOptions::Calibration::percentile: return "percentile";
    case AffineOptions::Calibration::mse: return "mse";
  }
  return "?";
}

AffineOptions::Granularity granularity_from(const std::string& s) {
  if (s == "tensor") return AffineOptions::Granularity::tensor;
  if (s == "channel") return AffineOptions::Granularity::channel;
  if (s == "group") return AffineOptions::Granularity::group;
  throw Error(ErrorCode::invalid_argument, "granularity must be 'tensor', 'channel' or 'group', got '" + s + "'");
}

AffineOptions::Calibration calibration_from(const std::string& s) {
  if (s == "minmax") return AffineOptions::Calibration::minmax;
  if (s == "percentile") return AffineOptions::Calibration::percentile;
  if (s == "mse") return AffineOptions::Calibration::mse;
  throw Error(ErrorCode::invalid_argument, "calibration must be 'minmax', 'percentile' or 'mse', got '" + s + "'");
}

AffineOptions make_affine(bool symmetric, const std::string& granularity, std::size_t group_size,
                          const std::string& calibration, double percentile) {
  AffineOptions o;
  o.symmetric = symmetric;
  o.granularity = granularity_from(granularity);
  o.group_size = group_size;
  o.calibration = calibration_from(calibration);
  o.percentile = percentile;
  return o;
}

std::string affine_repr(const AffineOptions& o) {
  std::string s = std::string("AffineOptions(symmetric=") + (o.symmetric ? "True" : "False") + ", granularity='" +
                  granularity_name(o.granularity) + "'";
  if (o.granularity == AffineOptions::Granularity::group) s += ", group_size=" + std::to_string(o.group_size);
  s += std::string(", calibration='") + calibration_name(o.calibration) + "'";
  if (o.calibration == AffineOptions::Calibration::percentile) s += ", percentile=" + std::to_string(o.percentile);
  return s + ")";
}

py::dict format_dict(const FormatInfo& f) {
  py::dict d;
  d["name"] = std::string(f.name);
  d["ggml_type"] = f.ggml_type;
  d["block_size"] = f.block_size;
  d["block_bytes"] = f.block_bytes;
  d["bits_per_weight"] = f.bits_per_weight;
  d["row_alignment"] = f.row_alignment;
  d["affine"] = f.affine;
  d["description"] = std::string(f.description);
  return d;
}

py::object tensor_affine(const QuantizedTensor& q) {
  if (!format_info(q.format()).affine) return py::none();
  return py::cast(q.affine_options());
}

std::string tensor_repr(const QuantizedTensor& q) {
  return "QuantizedTensor(" + std::string(format_name(q.format())) + ", shape=(" + std::to_string(q.rows()) + ", " +
         std::to_string(q.cols()) + "), nbytes=" + std::to_string(q.nbytes()) + ")";
}

py::array dequantize_array(const QuantizedTensor& q) {
  std::vector<float> w;
  {
    py::gil_scoped_release release;
    w = dequantize(q);
  }
  py::array_t<float> out({static_cast<py::ssize_t>(q.rows()), static_cast<py::ssize_t>(q.cols())});
  std::copy(w.begin(), w.end(), out.mutable_data());
  return out;
}

void bind_runtime(py::module_& m) {
  m.def("set_num_threads", [](std::size_t n) { set_num_threads(n); }, py::arg("count"),
        "Threads that forward passes and quantization may use, the calling thread included.\n"
        "0 restores the default: QLINEAR_NUM_THREADS when set, else the number of hardware threads.\n"
        "Results are bit-identical for any count.");
  m.def("get_num_threads", [] { return num_threads(); }, "The thread count in use (see set_num_threads).");
  m.def("isa", [] { return std::string(isa_name(active_isa())); },
        "The kernel level in use: 'avx512', 'avxvnni', 'avx2' or 'scalar' on x86-64 (QLINEAR_ISA or set_isa() may lower it).");
  m.def("set_isa", [](const std::string& name) { set_isa(parse_isa(name)); }, py::arg("name"),
        "Forces the kernel level 'scalar', 'avx2', 'avxvnni' or 'avx512' (one the CPU supports).");
  m.def("formats", [] {
    py::list out;
    for (const FormatInfo& f : all_formats()) out.append(format_dict(f));
    return out;
  }, "Every format as a dict: name, ggml_type (-1 for the affine ones), block_size, block_bytes,\n"
     "bits_per_weight, row_alignment, affine, description.");
  m.def("mixes", [] {
    py::dict out;
    for (const MixInfo& mix : all_mixes()) out[py::str(std::string(mix.name))] = std::string(format_name(mix.base));
    return out;
  }, "llama-quantize's mixes (quantize_model's type=), each with its base format: {'q4_K_M': 'q4_K', ...}.");
}

void bind_affine(py::module_& m) {
  py::class_<AffineOptions>(m, "AffineOptions",
                            "How the affine formats i8 and i4 choose their scales (ignored by the block formats).\n\n"
                            "symmetric: w = s*q (zero exact), else w = s*(q - z) with an integer zero point.\n"
                            "granularity: 'tensor', 'channel' (one scale per output row) or 'group'\n"
                            "(group_size inputs per scale, a multiple of 8).\n"
                            "calibration: 'minmax', 'percentile' (clip at that percentile) or 'mse'\n"
                            "(the clipping range with the least squared error).\n"
                            "Functions that take affine= also accept a dict of these keywords.")
      .def(py::init(&make_affine), py::kw_only(), py::arg("symmetric") = true, py::arg("granularity") = "channel",
           py::arg("group_size") = 0, py::arg("calibration") = "minmax", py::arg("percentile") = 99.99)
      .def_readwrite("symmetric", &AffineOptions::symmetric)
      .def_property("granularity", [](const AffineOptions& o) { return granularity_name(o.granularity); },
                    [](AffineOptions& o, const std::string& s) { o.granularity = granularity_from(s); })
      .def_readwrite("group_size", &AffineOptions::group_size)
      .def_property("calibration", [](const AffineOptions& o) { return calibration_name(o.calibration); },
                    [](AffineOptions& o, const std::string& s) { o.calibration = calibration_from(s); })
      .def_readwrite("percentile", &AffineOptions::percentile)
      .def("as_dict", [](const AffineOptions& o) {
        py::dict d;
        d["symmetric"] = o.symmetric;
        d["granularity"] = granularity_name(o.granularity);
        d["group_size"] = o.group_size;
        d["calibration"] = calibration_name(o.calibration);
        d["percentile"] = o.percentile;
        return d;
      }, "The options as a dict of the constructor's keywords.")
      .def("__repr__", &affine_repr);
}

void bind_stats(py::module_& m) {
  py::class_<QuantStats>(m, "QuantStats", "What quantizing a matrix cost, as measure() computes it (in double).")
      .def_readonly("rmse", &QuantStats::rmse, "sqrt(mean((w - w_hat)^2))")
      .def_readonly("rel_rmse", &QuantStats::rel_rmse, "rmse / sqrt(mean(w^2))")
      .def_readonly("max_abs", &QuantStats::max_abs, "max |w - w_hat|")
      .def_readonly("sqnr_db", &QuantStats::sqnr_db, "10 log10(sum w^2 / sum (w - w_hat)^2); inf when exact")
      .def_readonly("cosine", &QuantStats::cosine, "cosine similarity of w and w_hat")
      .def_readonly("bytes", &QuantStats::bytes, "every stored byte (QuantizedTensor.nbytes)")
      .def_readonly("compression", &QuantStats::compression, "4 * rows * cols / bytes")
      .def("as_dict", [](const QuantStats& s) {
        py::dict d;
        d["rmse"] = s.rmse;
        d["rel_rmse"] = s.rel_rmse;
        d["max_abs"] = s.max_abs;
        d["sqnr_db"] = s.sqnr_db;
        d["cosine"] = s.cosine;
        d["bytes"] = s.bytes;
        d["compression"] = s.compression;
        return d;
      }, "The statistics as a dict.")
      .def("__repr__", [](const QuantStats& s) {
        return "QuantStats(rmse=" + std::to_string(s.rmse) + ", rel_rmse=" + std::to_string(s.rel_rmse) +
               ", sqnr_db=" + std::to_string(s.sqnr_db) + ", cosine=" + std::to_string(s.cosine) +
               ", max_abs=" + std::to_string(s.max_abs) + ", bytes=" + std::to_string(s.bytes) + ")";
      });
}

void bind_quantized_tensor(py::module_& m) {
  py::class_<QuantizedTensor>(m, "QuantizedTensor", py::buffer_protocol(),
                              "A quantized [rows, cols] weight matrix (rows = out_features). Immutable.\n\n"
                              "np.asarray(q) is the stored bytes as uint8 [rows, row_bytes], read-only and\n"
                              "without a copy: ggml's block layout, each row zero-padded to the format's\n"
                              "row alignment (32 or 256 inputs). Affine tensors (i8, i4) keep their scales\n"
                              "and zero points beside the codes: q.scales, q.zero_points.")
      .def_buffer([](const QuantizedTensor& q) {
        return py::buffer_info(const_cast<std::byte*>(q.data().data()), 1, py::format_descriptor<std::uint8_t>::format(),
                               2, {static_cast<py::ssize_t>(q.rows()), static_cast<py::ssize_t>(q.row_bytes())},
                               {static_cast<py::ssize_t>(q.row_bytes()), py::ssize_t{1}}, true);
      })
      .def_property_readonly("format", [](const QuantizedTensor& q) { return std::string(format_name(q.format())); },
                             "The format's name, e.g. 'q4_K'.")
      .def_property_readonly("shape", [](const QuantizedTensor& q) { return py::make_tuple(q.rows(), q.cols()); },
                             "(rows, cols): the true shape, without padding.")
      .def_property_readonly("rows", &QuantizedTensor::rows)
      .def_property_readonly("cols", &QuantizedTensor::cols)
      .def_property_readonly("padded_cols", &QuantizedTensor::padded_cols, "cols rounded up to the row alignment")
      .def_property_readonly("row_bytes", &QuantizedTensor::row_bytes, "stored bytes per row")
      .def_property_readonly("nbytes", &QuantizedTensor::nbytes,
                             "Every byte held: codes, scales, zero points and padding.")
      .def_property_readonly("bits_per_weight", &QuantizedTensor::bits_per_weight, "nbytes * 8 / (rows * cols)")
      .def_property_readonly("affine", &tensor_affine, "The AffineOptions of an i8/i4 tensor; None otherwise.")
      .def_property_readonly("group_size", &QuantizedTensor::group_size, "Affine: columns per scale (0 otherwise).")
      .def_property_readonly("scales", [](py::object self) {
        const auto& q = self.cast<const QuantizedTensor&>();
        return readonly_view(q.scales().data(), {static_cast<py::ssize_t>(q.scales().size())}, self);
      }, "Affine: the float32 scales, row-major [rows, groups_per_row] (one for granularity 'tensor'); a\n"
         "read-only view. Empty for the block formats.")
      .def_property_readonly("zero_points", [](py::object self) {
        const auto& q = self.cast<const QuantizedTensor&>();
        return readonly_view(q.zero_points().data(), {static_cast<py::ssize_t>(q.zero_points().size())}, self);
      }, "Affine asymmetric: the uint8 zero points beside the scales; a read-only view. Empty otherwise.")
      .def("dequantize", &dequantize_array, "The weights as float32 [rows, cols] (qlinear.dequantize(q)).")
      .def_static("from_blocks",
                  [](const std::string& format, std::size_t rows, std::size_t cols, py::buffer data) {
                    const py::buffer_info b = data.request();
                    py::ssize_t expected = b.itemsize;
                    for (py::ssize_t i = b.ndim - 1; i >= 0; --i) {
                      if (b.shape[i] != 1 && b.strides[i] != expected) {
                        throw Error(ErrorCode::invalid_argument, "from_blocks: data must be C-contiguous bytes");
                      }
                      expected *= b.shape[i];
                    }
                    const auto* p = static_cast<const std::byte*>(b.ptr);
                    return QuantizedTensor::from_blocks(format_from(format), rows, cols,
                                                        {p, static_cast<std::size_t>(b.size * b.itemsize)});
                  },
                  py::arg("format"), py::arg("rows"), py::arg("cols"), py::arg("data"),
                  "A tensor of blocks already quantized (copied): rows * row_bytes bytes in the stored\n"
                  "layout, e.g. np.asarray(q) of another tensor or a GGUF tensor's bytes.")
      .def_static("from_affine",
                  [](const std::string& format, std::size_t rows, std::size_t cols, py::handle affine,
                     py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast> codes, py::handle scales,
                     py::handle zero_points) {
                    const FloatArray s = as_float32(scales, "scales");
                    py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast> z;
                    if (!zero_points.is_none()) z = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>::ensure(zero_points);
                    const auto* c = reinterpret_cast<const std::byte*>(codes.data());
                    return QuantizedTensor::from_affine(
                        format_from(format), rows, cols, affine_from(affine), {c, static_cast<std::size_t>(codes.size())},
                        span_of(s),
                        zero_points.is_none() ? std::span<const std::uint8_t>{}
                                              : std::span<const std::uint8_t>{z.data(), static_cast<std::size_t>(z.size())});
                  },
                  py::arg("format"), py::arg("rows"), py::arg("cols"), py::arg("affine"), py::arg("codes"),
                  py::arg("scales"), py::arg("zero_points") = py::none(),
                  "An i8/i4 tensor from its parts (copied and checked against the options): codes as\n"
                  "np.asarray(q) gives them, scales and (asymmetric) zero points as q.scales and q.zero_points.")
      .def("__repr__", &tensor_repr);
}

}  // namespace

namespace {

// FloatArray::check_ without making a dtype object per call: on the path of every layer call, where
// it saved a measurable part of the call's overhead on a 64×64 layer.
bool is_native_float32_c_contiguous(py::handle obj) {
  const auto& api = py::detail::npy_api::get();
  if (!api.PyArray_Check_(obj.ptr())) return false;
  const auto* a = py::detail::array_proxy(obj.ptr());
  const auto* d = py::detail::array_descriptor_proxy(a->descr);
  constexpr int kFlags = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
  return d->type_num == py::detail::npy_api::NPY_FLOAT_ && d->byteorder != '>' && (a->flags & kFlags) == kFlags;
}

}  // namespace

FloatArray as_float32(py::handle obj, const char* what) {
  if (is_native_float32_c_contiguous(obj)) return py::reinterpret_borrow<FloatArray>(obj);
  py::array a = py::array::ensure(obj);
  if (!a) {
    throw py::type_error(std::string(what) + ": expected an array of float32 (or numbers numpy converts), got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  const char kind = a.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
    throw py::type_error(std::string(what) + ": dtype " + std::string(py::str(a.dtype())) +
                         " cannot be converted to float32");
  }
  return py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
}

void require_ndim(const py::array& a, int ndim, const char* what, const char* expected) {
  if (a.ndim() != ndim) {
    throw Error(ErrorCode::size_mismatch, std::string(what) + " must be " + expected + ", got shape " + shape_string(a));
  }
}

std::string shape_string(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

Format format_from(const std::string& name) { return parse_format(name); }

Method method_from(const std::string& name) {
  if (name == "reference") return Method::reference;
  if (name == "search") return Method::search;
  if (name == "gptq") return Method::gptq;
  throw Error(ErrorCode::invalid_argument, "method must be 'reference', 'search' or 'gptq', got '" + name + "'");
}

AffineOptions affine_from(py::handle obj) {
  if (obj.is_none()) return {};
  if (py::isinstance<AffineOptions>(obj)) return obj.cast<AffineOptions>();
  if (py::isinstance<py::dict>(obj)) {
    return py::type::of<AffineOptions>()(**py::reinterpret_borrow<py::dict>(obj)).cast<AffineOptions>();
  }
  throw py::type_error("affine must be None, an AffineOptions or a dict of its keywords, got " +
                       std::string(py::str(py::type::of(obj).attr("__name__"))));
}

QuantizeArguments::QuantizeArguments(py::handle importance_obj, const std::string& method, py::handle calibration,
                                     py::handle affine, double damping) {
  options.affine = affine_from(affine);
  options.method = method_from(method);
  options.damping = damping;
  if (!importance_obj.is_none()) {
    importance = as_float32(importance_obj, "importance");
    require_ndim(importance, 1, "importance", "1-D [cols]");
    options.importance = span_of(importance);
  }
  if (!calibration.is_none()) {
    if (!py::isinstance<Calibration>(calibration)) {
      throw py::type_error("calibration must be a qlinear.Calibration or None, got " +
                           std::string(py::str(py::type::of(calibration).attr("__name__"))));
    }
    options.calibration = &calibration.cast<const Calibration&>();
  }
}

void register_errors(py::module_& m) {
  PyObject* error = PyErr_NewExceptionWithDoc("qlinear.Error", kErrorDoc, PyExc_Exception, nullptr);
  PyObject* bases = PyTuple_Pack(2, error, PyExc_ValueError);
  PyObject* argument = PyErr_NewExceptionWithDoc("qlinear.ArgumentError", kArgumentErrorDoc, bases, nullptr);
  Py_DECREF(bases);
  if (!error || !argument) throw py::error_already_set();
  // The module holds them for the life of the interpreter; these handles borrow.
  error_type = error;
  argument_type = argument;
  m.add_object("Error", py::reinterpret_steal<py::object>(error));
  m.add_object("ArgumentError", py::reinterpret_steal<py::object>(argument));
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      raise(e);
    }
  });
}

void bind_tensor(py::module_& m) {
  bind_runtime(m);
  bind_affine(m);
  bind_stats(m);
  bind_quantized_tensor(m);

  m.def("quantize",
        [](py::handle w_obj, const std::string& format, py::handle importance, const std::string& method,
           py::handle calibration, py::handle affine, double damping) {
          const FloatArray w = as_float32(w_obj, "w");
          require_ndim(w, 2, "w", "2-D [rows, cols]");
          const QuantizeArguments args(importance, method, calibration, affine, damping);
          const Format f = format_from(format);
          const auto rows = static_cast<std::size_t>(w.shape(0)), cols = static_cast<std::size_t>(w.shape(1));
          py::gil_scoped_release release;
          return quantize(span_of(w), rows, cols, f, args.options);
        },
        py::arg("w"), py::arg("format"), py::arg("importance") = py::none(), py::arg("method") = "reference",
        py::arg("calibration") = py::none(), py::arg("affine") = py::none(), py::arg("damping") = 0.01,
        "Quantizes a [rows, cols] weight matrix (rows = out_features) into `format` ('q4_0', 'q4_K', 'i4', ...;\n"
        "see formats()). Returns a QuantizedTensor, byte-identical to ggml's quantizers for the ggml formats.\n\n"
        "w: float32 C-contiguous; anything else (float64, a strided view, a list, a torch tensor) is\n"
        "converted once. importance: one weight >= 0 per column (e.g. mean x^2 of the column's inputs), for\n"
        "the formats that search their scales. method: 'reference' (ggml's rule), 'search' (per block, the\n"
        "scales with the least weighted error) or 'gptq' (needs calibration=, a qlinear.Calibration of the\n"
        "layer's inputs; damping is the fraction of mean(diag XᵀX) added to its diagonal). affine: an\n"
        "AffineOptions or a dict, for i8/i4. Runs without the GIL.\n"
        "Raises ArgumentError (a ValueError) for a wrong shape, NaN/Inf (naming row and column) or an\n"
        "unknown format, TypeError for a dtype that holds no real numbers.");
  m.def("dequantize", &dequantize_array, py::arg("q"), "The weights of a QuantizedTensor as float32 [rows, cols].");
  m.def("measure",
        [](py::handle w_obj, const QuantizedTensor& q) {
          const FloatArray w = as_float32(w_obj, "w");
          if (w.ndim() != 2 || static_cast<std::size_t>(w.shape(0)) != q.rows() ||
              static_cast<std::size_t>(w.shape(1)) != q.cols()) {
            throw Error(ErrorCode::size_mismatch, "w must have the tensor's shape (" + std::to_string(q.rows()) +
                                                      ", " + std::to_string(q.cols()) + "), got " + shape_string(w));
          }
          py::gil_scoped_release release;
          return measure(span_of(w), q);
        },
        py::arg("w"), py::arg("q"),
        "What quantization cost: q against the original weights w ([rows, cols], as given to quantize),\n"
        "as a QuantStats (rmse, rel_rmse, max_abs, sqnr_db, cosine, bytes, compression; .as_dict()).");
}

}  // namespace qlinear::python

PYBIND11_MODULE(_qlinear, m) {
  namespace qp = qlinear::python;
  m.doc() = "qlinear's C++ library: quantized weights and linear layers on CPU (see the package qlinear).";
  m.attr("__version__") = qlinear::version_string;
  qp::register_errors(m);
  qp::bind_tensor(m);
  qp::bind_linear(m);
  qp::bind_files(m);
}
