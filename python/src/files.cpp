// Files: read_tensors (zero-copy views of a mapped GGUF or safetensors file), read_metadata, the
// GGUF and safetensors writers, calibration statistics, and whole-model quantization.

#include "common.hpp"

#include "model/affine_gguf.hpp"  // i8/i4 tensors in GGUF as the model writer stores them

#include <qlinear/calibration_file.hpp>
#include <qlinear/gguf.hpp>
#include <qlinear/model.hpp>
#include <qlinear/safetensors.hpp>

#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

namespace qlinear::python {

namespace {

namespace fs = std::filesystem;

// An open, memory-mapped model file: what the arrays and tensors read_tensors returns point into.
// Each of them holds a reference to it, so the mapping lives as long as any view does.
struct MappedModel {
  fs::path path;
  std::optional<GgufFile> gguf;
  std::optional<SafetensorsFile> safetensors;
};

bool is_gguf(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in && std::memcmp(magic, "GGUF", 4) == 0;
}

std::shared_ptr<MappedModel> open_model(const fs::path& path) {
  auto m = std::make_shared<MappedModel>();
  m->path = path;
  if (is_gguf(path)) {
    m->gguf = GgufFile::open(path);
  } else {
    m->safetensors = SafetensorsFile::open(path);  // Error(io) for a file that cannot be read
  }
  return m;
}

std::vector<py::ssize_t> shape_of(const std::vector<std::uint64_t>& shape) {
  return {shape.begin(), shape.end()};
}

// rows = the product of the outer dimensions, cols = the innermost (1 × 1 for a scalar).
std::pair<std::size_t, std::size_t> matrix_of(const std::vector<std::uint64_t>& shape) {
  std::size_t rows = 1;
  for (std::size_t i = 0; i + 1 < shape.size(); ++i) rows *= shape[i];
  return {rows, shape.empty() ? 1 : shape.back()};
}

// A tensor of a block format (or bf16) over the mapping: no copy when the bytes are 16-byte
// aligned, which GGUF's default alignment of 32 gives; a copy otherwise.
py::object block_tensor(const std::shared_ptr<MappedModel>& model, Format format, const std::vector<std::uint64_t>& shape,
                        std::span<const std::byte> bytes) {
  const auto [rows, cols] = matrix_of(shape);
  if (reinterpret_cast<std::uintptr_t>(bytes.data()) % 16 == 0) {
    std::shared_ptr<const std::byte> view(model, bytes.data());
    return py::cast(QuantizedTensor::view_blocks(format, rows, cols, std::move(view), bytes.size()));
  }
  return py::cast(QuantizedTensor::from_blocks(format, rows, cols, bytes));
}

py::object array_view(py::handle base, const char* dtype, const std::vector<std::uint64_t>& shape,
                      std::span<const std::byte> bytes) {
  py::array a(py::dtype(dtype), shape_of(shape), {}, bytes.data(), base);
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

py::dict read_gguf(const std::shared_ptr<MappedModel>& model, py::handle base) {
  const GgufFile& file = *model->gguf;
  py::dict out;
  for (const GgufTensorInfo& info : file.tensors()) {
    if (model::is_affine_companion(file, info.name)) continue;  // read with its affine tensor
    const std::span<const std::byte> bytes = file.tensor_data(info);
    if (auto affine = model::read_affine(file, info.name)) {
      out[py::str(info.name)] = py::cast(std::move(*affine));
      continue;
    }
    const char* dtype = nullptr;
    switch (info.ggml_type) {
      case 0: dtype = "float32"; break;
      case 1: dtype = "float16"; break;
      case 24: dtype = "int8"; break;
      case 25: dtype = "int16"; break;
      case 26: dtype = "int32"; break;
      case 27: dtype = "int64"; break;
      case 28: dtype = "float64"; break;
      default: break;
    }
    if (dtype) {
      out[py::str(info.name)] = array_view(base, dtype, info.shape, bytes);
    } else if (const auto format = info.format()) {
      out[py::str(info.name)] = block_tensor(model, *format, info.shape, bytes);
    } else {  // a ggml type qlinear has no format for (iq2_xxs, ...): its bytes as they are
      out[py::str(info.name)] = array_view(base, "uint8", {bytes.size()}, bytes);
    }
  }
  return out;
}

const char* numpy_dtype_for_safetensors(const std::string& dtype) {
  static const std::pair<const char*, const char*> kMap[] = {
      {"F64", "float64"}, {"F32", "float32"}, {"F16", "float16"}, {"I64", "int64"}, {"I32", "int32"},
      {"I16", "int16"},   {"I8", "int8"},     {"U8", "uint8"},    {"U16", "uint16"}, {"U32", "uint32"},
      {"U64", "uint64"},  {"BOOL", "bool"}};
  for (const auto& [name, np] : kMap) {
    if (dtype == name) return np;
  }
  return nullptr;
}

py::dict read_safetensors(const std::shared_ptr<MappedModel>& model, py::handle base) {
  const SafetensorsFile& file = *model->safetensors;
  py::dict out;
  for (const SafetensorsTensorInfo& info : file.tensors()) {
    const std::span<const std::byte> bytes = file.tensor_data(info);
    if (info.dtype == "BF16" && !bytes.empty()) {
      out[py::str(info.name)] = block_tensor(model, Format::bf16, info.shape, bytes);
    } else if (const char* dtype = numpy_dtype_for_safetensors(info.dtype)) {
      out[py::str(info.name)] = array_view(base, dtype, info.shape, bytes);
    } else {
      out[py::str(info.name)] = array_view(base, "uint8", {bytes.size()}, bytes);
    }
  }
  return out;
}

py::object from_gguf_value(const GgufValue& v) {
  switch (v.type()) {
    case GgufValueType::boolean: return py::bool_(v.as_bool());
    case GgufValueType::string: return py::str(v.as_string());
    case GgufValueType::f32:
    case GgufValueType::f64: return py::float_(v.as_f64());
    case GgufValueType::array: {
      py::list items;
      for (std::size_t i = 0; i < v.array_size(); ++i) items.append(from_gguf_value(v.array_element(i)));
      return items;
    }
    case GgufValueType::i8:
    case GgufValueType::i16:
    case GgufValueType::i32:
    case GgufValueType::i64: return py::int_(v.as_i64());
    default: return py::int_(v.as_u64());
  }
}

// Python ints become u32 (i32 when negative), or u64/i64 beyond 32 bits, as llama.cpp types its
// counts; floats f32; bools, strings; lists of one of these an array of the widest such type.
GgufValueType int_type(const py::int_& v) {
  const py::object zero = py::int_(0);
  if (v >= zero) return v <= py::int_(std::numeric_limits<std::uint32_t>::max()) ? GgufValueType::u32 : GgufValueType::u64;
  return v >= py::int_(std::numeric_limits<std::int32_t>::min()) ? GgufValueType::i32 : GgufValueType::i64;
}

GgufValue scalar_value(py::handle v, GgufValueType type) {
  switch (type) {
    case GgufValueType::boolean: return GgufValue::boolean(v.cast<bool>());
    case GgufValueType::string: return GgufValue::string(v.cast<std::string>());
    case GgufValueType::f32: return GgufValue::f32(v.cast<float>());
    case GgufValueType::u32: return GgufValue::u32(v.cast<std::uint32_t>());
    case GgufValueType::u64: return GgufValue::u64(v.cast<std::uint64_t>());
    case GgufValueType::i32: return GgufValue::i32(v.cast<std::int32_t>());
    default: return GgufValue::i64(v.cast<std::int64_t>());
  }
}

GgufValueType scalar_type(py::handle v, const std::string& key) {
  if (py::isinstance<py::bool_>(v)) return GgufValueType::boolean;
  if (py::isinstance<py::int_>(v)) return int_type(py::reinterpret_borrow<py::int_>(v));
  if (py::isinstance<py::float_>(v)) return GgufValueType::f32;
  if (py::isinstance<py::str>(v)) return GgufValueType::string;
  throw py::type_error("metadata '" + key + "': a bool, int, float, str or a list of them, got " +
                       std::string(py::str(py::type::of(v).attr("__name__"))));
}

GgufValue to_gguf_value(py::handle v, const std::string& key) {
  if (!py::isinstance<py::list>(v) && !py::isinstance<py::tuple>(v)) return scalar_value(v, scalar_type(v, key));
  const auto items = py::reinterpret_borrow<py::sequence>(v);
  GgufValueType type = GgufValueType::u32;
  bool first = true;
  for (py::handle item : items) {
    const GgufValueType t = scalar_type(item, key);
    const auto rank = [](GgufValueType x) {  // integer types widen: u32 < i32 < u64 < i64
      return x == GgufValueType::u32 ? 0 : x == GgufValueType::i32 ? 1 : x == GgufValueType::u64 ? 2 : 3;
    };
    const bool both_int = (t == GgufValueType::u32 || t == GgufValueType::i32 || t == GgufValueType::u64 ||
                           t == GgufValueType::i64) &&
                          (type == GgufValueType::u32 || type == GgufValueType::i32 || type == GgufValueType::u64 ||
                           type == GgufValueType::i64);
    if (first || (both_int && rank(t) > rank(type))) {
      type = t;
    } else if (t != type && !both_int) {
      throw py::type_error("metadata '" + key + "': the elements of a list must all be of one type");
    }
    if (both_int && type == GgufValueType::u64 && t == GgufValueType::i32) type = GgufValueType::i64;
    first = false;
  }
  std::vector<GgufValue> elements;
  for (py::handle item : items) elements.push_back(scalar_value(item, type));
  return GgufValue::array(type, elements);
}

// A tensor for a writer: its dtype or ggml type, shape and bytes, with what keeps the bytes alive.
struct PendingTensor {
  std::string name;
  std::vector<std::uint64_t> shape;
  std::uint32_t ggml_type = 0;
  std::string dtype;
  std::span<const std::byte> bytes;
  py::object keep;                          // the array or tensor the bytes belong to
  std::shared_ptr<std::vector<std::byte>> owned;  // bytes made here (affine parts)
};

struct ArrayDtype {
  const char* numpy;
  const char* safetensors;
  int ggml;  // -1: GGUF has no such type
};

constexpr ArrayDtype kArrayDtypes[] = {
    {"float32", "F32", 0}, {"float16", "F16", 1}, {"float64", "F64", 28}, {"int8", "I8", 24},
    {"int16", "I16", 25},  {"int32", "I32", 26},  {"int64", "I64", 27},   {"uint8", "U8", -1},
    {"uint16", "U16", -1}, {"uint32", "U32", -1}, {"uint64", "U64", -1},  {"bool", "BOOL", -1}};

PendingTensor array_tensor(const std::string& name, py::handle obj, bool gguf) {
  py::array a = py::array::ensure(obj, py::array::c_style);
  if (!a) throw py::type_error("tensor '" + name + "': expected a QuantizedTensor or an array");
  const std::string dtype = py::str(a.dtype());
  for (const ArrayDtype& d : kArrayDtypes) {
    if (dtype != d.numpy || (gguf && d.ggml < 0)) continue;
    PendingTensor t;
    t.name = name;
    for (py::ssize_t i = 0; i < a.ndim(); ++i) t.shape.push_back(static_cast<std::uint64_t>(a.shape(i)));
    if (gguf && t.shape.empty()) t.shape.push_back(1);  // GGUF has no rank 0
    t.ggml_type = static_cast<std::uint32_t>(std::max(d.ggml, 0));
    t.dtype = d.safetensors;
    t.bytes = {static_cast<const std::byte*>(a.data()), static_cast<std::size_t>(a.nbytes())};
    t.keep = std::move(a);
    return t;
  }
  throw py::type_error("tensor '" + name + "': dtype " + dtype + " cannot be stored in " +
                       (gguf ? "GGUF (float32, float16, float64, int8, int16, int32, int64)" : "safetensors"));
}

void write_gguf(const fs::path& path, const py::dict& tensors, py::handle metadata, std::uint64_t alignment) {
  GgufWriter writer(path, alignment);
  bool quantized = false;
  std::vector<PendingTensor> pending;
  for (auto [key, value] : tensors) {
    const std::string name = py::str(key);
    if (!py::isinstance<QuantizedTensor>(value)) {
      pending.push_back(array_tensor(name, value, true));
      continue;
    }
    const auto& q = value.cast<const QuantizedTensor&>();
    const std::vector<std::uint64_t> shape = {q.rows(), q.cols()};
    if (format_info(q.format()).affine) {
      const auto planned = model::affine_tensors(name, shape, q.format(), q.affine_options());
      auto parts = model::affine_tensor_bytes(q);
      model::add_affine_metadata(writer, name, shape, q.format(), q.affine_options());
      for (std::size_t i = 0; i < planned.size(); ++i) {
        PendingTensor t{planned[i].name, planned[i].shape, planned[i].ggml_type, {}, {}, value.cast<py::object>(),
                        std::make_shared<std::vector<std::byte>>(std::move(parts[i]))};
        t.bytes = *t.owned;
        pending.push_back(std::move(t));
      }
      continue;
    }
    const Format f = q.format();
    quantized = quantized || (f != Format::f32 && f != Format::f16 && f != Format::bf16);
    pending.push_back({name, shape, ggml_type_for(f), {}, gguf_tensor_bytes(q), value.cast<py::object>(), nullptr});
  }
  if (!metadata.is_none()) {
    for (auto [key, value] : py::reinterpret_borrow<py::dict>(metadata)) {
      const std::string k = py::str(key);
      writer.set(k, to_gguf_value(value, k));
    }
  }
  const bool has_version = !metadata.is_none() &&
                           py::reinterpret_borrow<py::dict>(metadata).contains("general.quantization_version");
  if (quantized && !has_version) writer.set("general.quantization_version", GgufValue::u32(ggml_quantization_version));
  for (const PendingTensor& t : pending) writer.add_tensor(t.name, t.shape, t.ggml_type);
  py::gil_scoped_release release;
  writer.write_header();
  for (const PendingTensor& t : pending) writer.write_tensor_data(t.name, t.bytes);
  writer.finish();
}

void write_safetensors(const fs::path& path, const py::dict& tensors, py::handle metadata) {
  SafetensorsWriter writer(path);
  std::vector<PendingTensor> pending;
  for (auto [key, value] : tensors) {
    const std::string name = py::str(key);
    if (!py::isinstance<QuantizedTensor>(value)) {
      pending.push_back(array_tensor(name, value, false));
      continue;
    }
    const auto& q = value.cast<const QuantizedTensor&>();
    const Format f = q.format();
    if (f != Format::f32 && f != Format::f16 && f != Format::bf16) {
      throw Error(ErrorCode::unsupported, "tensor '" + name + "': safetensors holds f32, f16 and bf16 tensors, not " +
                                              std::string(format_name(f)) + " (write_gguf stores every format)");
    }
    const char* dtype = f == Format::f32 ? "F32" : f == Format::f16 ? "F16" : "BF16";
    pending.push_back({name, {q.rows(), q.cols()}, 0, dtype, q.data(), value.cast<py::object>(), nullptr});
  }
  if (!metadata.is_none()) {
    for (auto [key, value] : py::reinterpret_borrow<py::dict>(metadata)) {
      writer.set_metadata(py::str(key), py::str(value));
    }
  }
  for (const PendingTensor& t : pending) writer.add_tensor(t.name, t.dtype, t.shape);
  py::gil_scoped_release release;
  writer.write_header();
  for (const PendingTensor& t : pending) writer.write_tensor_data(t.name, t.bytes);
  writer.finish();
}

void write_calibration(const fs::path& path, const py::dict& calibrations, const std::vector<std::string>& datasets) {
  std::vector<CalibrationEntry> entries;
  std::vector<const Calibration*> sources;
  for (auto [key, value] : calibrations) {
    const auto& c = value.cast<const Calibration&>();
    entries.push_back({py::str(key), c.in_features(), c.rows()});
    sources.push_back(&c);
  }
  py::gil_scoped_release release;
  write_calibration_statistics(path, entries, datasets, [&](std::size_t i) { return *sources[i]; });
}

// rules: "PATTERN=FORMAT" strings, (pattern, format or None) pairs, or a dict {pattern: format or None}.
std::vector<TensorRule> rules_from(py::handle obj) {
  std::vector<TensorRule> rules;
  if (obj.is_none()) return rules;
  const auto rule = [](py::handle pattern, py::handle format) {
    TensorRule r{py::str(pattern), std::nullopt};
    if (!format.is_none() && std::string(py::str(format)) != "keep") r.format = format_from(py::str(format));
    return r;
  };
  if (py::isinstance<py::dict>(obj)) {
    for (auto [k, v] : py::reinterpret_borrow<py::dict>(obj)) rules.push_back(rule(k, v));
    return rules;
  }
  for (py::handle item : obj) {
    if (py::isinstance<py::str>(item)) {
      rules.push_back(TensorRule::parse(item.cast<std::string>()));
    } else {
      const auto pair = py::reinterpret_borrow<py::sequence>(item);
      if (pair.size() != 2) throw py::type_error("a rule is 'PATTERN=FORMAT' or a (pattern, format) pair");
      rules.push_back(rule(pair[0], pair[1]));
    }
  }
  return rules;
}

struct PlanArguments {
  std::string type;
  py::object rules, keep, affine, fallback;
  bool pure, keep_1d;
  std::optional<fs::path> imatrix, calibration;
  std::string method;
  double damping;
};

QuantPlan make_plan(const PlanArguments& a) {
  QuantPlan plan;
  if (const auto mix = find_mix(a.type)) {
    plan.mix = mix;
    plan.default_format = mix_info(*mix).base;
    plan.pure = a.pure;
  } else {
    plan.default_format = format_from(a.type);
  }
  if (!a.keep.is_none()) {
    for (py::handle pattern : a.keep) plan.rules.push_back({py::str(pattern), std::nullopt});
  }
  for (TensorRule& r : rules_from(a.rules)) plan.rules.push_back(std::move(r));
  plan.affine = affine_from(a.affine);
  plan.keep_1d = a.keep_1d;
  if (!a.fallback.is_none()) plan.fallback = format_from(py::str(a.fallback));
  if (a.imatrix) plan.importance = std::make_shared<const ImportanceMatrix>(ImportanceMatrix::open(*a.imatrix));
  plan.method = method_from(a.method);
  if (a.calibration) plan.calibration = std::make_shared<const CalibrationFile>(CalibrationFile::open(*a.calibration));
  plan.damping = a.damping;
  if (plan.method == Method::gptq && !plan.calibration) {
    throw Error(ErrorCode::invalid_argument, "method='gptq' needs calibration=FILE (activations or statistics)");
  }
  return plan;
}

py::dict run_quantize_model(const fs::path& input, const fs::path& output, const PlanArguments& args,
                            py::handle progress) {
  const QuantPlan plan = make_plan(args);
  ProgressCallback callback;
  py::object sink;
  if (PyCallable_Check(progress.ptr())) {
    sink = py::reinterpret_borrow<py::object>(progress);
  } else if (PyObject_IsTrue(progress.ptr()) == 1) {
    sink = py::module_::import("qlinear").attr("_print_progress");
  }
  if (sink) {
    callback = [&sink](const ModelProgress& p) {
      py::gil_scoped_acquire acquire;
      py::dict d;
      d["index"] = p.index;
      d["count"] = p.count;
      d["name"] = std::string(p.name);
      d["bytes_done"] = p.bytes_done;
      d["bytes_total"] = p.bytes_total;
      sink(d);
    };
  }
  ModelReport report;
  {
    py::gil_scoped_release release;
    report = quantize_model(input, output, plan, callback);
  }
  py::dict out = py::module_::import("json").attr("loads")(report.to_json());
  std::ostringstream text;
  report.print(text);
  out["text"] = text.str();
  return out;
}

py::list run_plan_model(const fs::path& input, const PlanArguments& args, bool gguf) {
  const QuantPlan plan = make_plan(args);
  py::list out;
  for (const TensorDecision& d : plan_model(input, plan, gguf)) {
    py::dict t;
    t["name"] = d.name;
    t["shape"] = d.shape;
    t["format_in"] = d.format_in;
    t["format"] = d.target ? py::object(py::str(std::string(format_name(*d.target)))) : py::object(py::none());
    t["reason"] = d.reason;
    out.append(t);
  }
  return out;
}

constexpr const char* kPlanDoc =
    "type: a format ('q4_0', 'q8_0', 'i4', ...) or llama-quantize's mix ('q4_k_m', any case; mixes()), which\n"
    "on a GGUF model with llama.cpp's names picks each tensor's type as llama-quantize does. rules:\n"
    "['PATTERN=FORMAT', ...], (pattern, format) pairs or {pattern: format}; format None or 'keep' keeps the\n"
    "tensor; patterns are globs on the whole name ('re:' for a regular expression); first match wins. keep:\n"
    "patterns kept as they are. imatrix: a llama.cpp importance matrix file. calibration: an activations or\n"
    "statistics file (qlinear calibrate, write_calibration) for method 'search' or 'gptq'. affine: for i8/i4.\n"
    "fallback: the format of rows a block format cannot hold in GGUF. pure: with a mix, every tensor in its\n"
    "base format. keep_1d: keep 1-D tensors (biases, norms) as they are.";

}  // namespace

void bind_files(py::module_& m) {
  py::class_<MappedModel, std::shared_ptr<MappedModel>>(m, "MappedFile",
                                                        "A memory-mapped model file that read_tensors' arrays and tensors view.")
      .def_property_readonly("path", [](const MappedModel& f) { return f.path; })
      .def("__repr__", [](const MappedModel& f) { return "MappedFile('" + f.path.string() + "')"; });

  m.def("read_tensors",
        [](const fs::path& path) {
          const std::shared_ptr<MappedModel> model = open_model(path);
          const py::object base = py::cast(model);
          return model->gguf ? read_gguf(model, base) : read_safetensors(model, base);
        },
        py::arg("path"),
        "Every tensor of a GGUF or safetensors file (told apart by content), by name, in file order:\n"
        "float32/float16/float64 and integer tensors as read-only numpy arrays of their shape, block formats\n"
        "(q4_0, q4_K, ...) and bf16 as QuantizedTensor ([product of the outer dims, innermost dim]), qlinear's\n"
        "affine i8/i4 tensors as QuantizedTensor, and ggml types qlinear lacks as their raw uint8 bytes.\n"
        "Arrays and block tensors view the memory-mapped file without a copy (a tensor whose bytes are not\n"
        "16-byte aligned is copied) and keep the mapping alive (a MappedFile, the arrays' .base).\n"
        "Raises qlinear.Error ('io', 'malformed_file', ...) naming the file and offset.");
  m.def("read_metadata",
        [](const fs::path& path) {
          const std::shared_ptr<MappedModel> model = open_model(path);
          py::dict out;
          if (model->gguf) {
            for (const auto& [key, value] : model->gguf->metadata()) out[py::str(key)] = from_gguf_value(value);
          } else {
            for (const auto& [key, value] : model->safetensors->metadata()) out[py::str(key)] = value;
          }
          return out;
        },
        py::arg("path"), "A GGUF file's metadata (key → bool, int, float, str or list), or a safetensors file's\n"
                         "__metadata__ (str → str).");
  m.def("write_gguf", &write_gguf, py::arg("path"), py::arg("tensors"), py::arg("metadata") = py::none(),
        py::arg("alignment") = 32,
        "Writes a GGUF file through qlinear's writer: tensors {name: QuantizedTensor or array} in order\n"
        "(QuantizedTensor as [rows, cols]; block formats need cols a multiple of their block; i8/i4 as qlinear\n"
        "stores them, NAME + NAME.scale (+ NAME.zero_point) with qlinear.affine.NAME.* metadata; arrays of\n"
        "float32, float16, float64, int8..int64). metadata {key: bool/int/float/str/list}: ints become u32\n"
        "(i32 when negative; 64 bits beyond), floats f32. general.quantization_version is added when a\n"
        "tensor is quantized. Atomic: a failure leaves no file.");
  m.def("write_safetensors", &write_safetensors, py::arg("path"), py::arg("tensors"), py::arg("metadata") = py::none(),
        "Writes a safetensors file: tensors {name: array, or a QuantizedTensor of f32/f16/bf16}, metadata\n"
        "{str: str}. Atomic: a failure leaves no file.");
  m.def("write_calibration", &write_calibration, py::arg("path"), py::arg("calibrations"),
        py::arg("datasets") = std::vector<std::string>{},
        "Writes {weight name: Calibration} as qlinear's calibration GGUF (what `qlinear calibrate` writes;\n"
        "quantize_model(calibration=path) and llama.cpp's --imatrix read it).");
  m.def("quantize_model",
        [](const fs::path& input, const fs::path& output, const std::string& type, py::object rules, py::object keep,
           std::optional<fs::path> calibration, std::optional<fs::path> imatrix, const std::string& method,
           double damping, py::object affine, py::object fallback, bool pure, bool keep_1d, py::handle progress) {
          const PlanArguments args{type, rules, keep, affine, fallback, pure, keep_1d, imatrix, calibration, method, damping};
          return run_quantize_model(input, output, args, progress);
        },
        py::arg("input"), py::arg("output"), py::kw_only(), py::arg("type") = "q8_0", py::arg("rules") = py::none(),
        py::arg("keep") = py::none(), py::arg("calibration") = py::none(), py::arg("imatrix") = py::none(),
        py::arg("method") = "reference", py::arg("damping") = 0.01, py::arg("affine") = py::none(),
        py::arg("fallback") = py::none(), py::arg("pure") = false, py::arg("keep_1d") = true,
        py::arg("progress") = false,
        (std::string("Quantizes every tensor of a safetensors or GGUF model into `output` (.gguf, or .safetensors\n"
                     "for float types), tensor by tensor, as `qlinear quantize` does; the output appears only when\n"
                     "everything succeeded. Returns the report as a dict (the JSON of `qlinear quantize --report`:\n"
                     "'tensors', 'totals', ...) plus 'text', the printed table.\n") +
         kPlanDoc +
         "\nprogress: True prints to stderr; a callable gets {index, count, name, bytes_done, bytes_total}\n"
         "after each tensor. Runs without the GIL.")
            .c_str());
  m.def("plan_model",
        [](const fs::path& input, const std::string& type, py::object rules, py::object keep, py::object affine,
           py::object fallback, bool pure, bool keep_1d, std::optional<fs::path> imatrix, bool gguf) {
          const PlanArguments args{type, rules, keep, affine, fallback, pure, keep_1d, imatrix, std::nullopt,
                                   "reference", 0.01};
          return run_plan_model(input, args, gguf);
        },
        py::arg("input"), py::kw_only(), py::arg("type") = "q8_0", py::arg("rules") = py::none(),
        py::arg("keep") = py::none(), py::arg("affine") = py::none(), py::arg("fallback") = py::none(),
        py::arg("pure") = false, py::arg("keep_1d") = true, py::arg("imatrix") = py::none(), py::arg("gguf") = true,
        (std::string("What quantize_model would do to each tensor, writing nothing: a list of dicts {name, shape,\n"
                     "format_in, format (None: kept), reason}. gguf=False plans a safetensors output.\n") +
         kPlanDoc)
            .c_str());
}

}  // namespace qlinear::python
