// The C API of formats and quantized tensors: quantize, wrap stored bytes, dequantize, measure.

#include "capi/capi_support.hpp"

#include <qlinear/format.hpp>

#include <cstring>
#include <memory>

using namespace qlinear;
using namespace qlinear::capi;

namespace {

const QuantizedTensor& tensor_of(const qlinear_tensor* t, const char* function) {
  require(t, function, "tensor");
  return t->tensor;
}

// Keeps the handle in a unique_ptr until it is handed out, so an exception frees it.
qlinear_tensor* release_tensor(QuantizedTensor tensor) {
  auto handle = std::make_unique<qlinear_tensor>();
  handle->tensor = std::move(tensor);
  return handle.release();
}

}  // namespace

extern "C" {

qlinear_status qlinear_format_name(qlinear_format format, const char** name) {
  return guarded([&] {
    require(name, "qlinear_format_name", "name");
    *name = format_name(to_format(format)).data();
  });
}

qlinear_status qlinear_format_parse(const char* name, qlinear_format* format) {
  return guarded([&] {
    require(name, "qlinear_format_parse", "name");
    require(format, "qlinear_format_parse", "format");
    *format = to_c_format(parse_format(name));
  });
}

qlinear_status qlinear_format_bits_per_weight(qlinear_format format, double* bits) {
  return guarded([&] {
    require(bits, "qlinear_format_bits_per_weight", "bits");
    *bits = format_info(to_format(format)).bits_per_weight;
  });
}

qlinear_status qlinear_format_get_info(qlinear_format format, qlinear_format_info* info) {
  return guarded([&] {
    require(info, "qlinear_format_get_info", "info");
    const FormatInfo& f = format_info(to_format(format));
    // The registry's names and descriptions are string literals, so .data() ends in a zero.
    *info = {f.name.data(),  f.description.data(), f.ggml_type,     f.block_size,
             f.block_bytes,  f.bits_per_weight,     f.row_alignment, f.affine ? 1 : 0};
  });
}

qlinear_status qlinear_quantize_options_init(qlinear_quantize_options* options) {
  return guarded([&] {
    require(options, "qlinear_quantize_options_init", "options");
    const QuantizeOptions d;
    *options = {};
    options->affine.symmetric = d.affine.symmetric ? 1 : 0;
    options->affine.granularity = QLINEAR_GRANULARITY_CHANNEL;
    options->affine.group_size = d.affine.group_size;
    options->affine.clip = QLINEAR_CLIP_MINMAX;
    options->affine.percentile = d.affine.percentile;
    options->method = QLINEAR_METHOD_REFERENCE;
    options->damping = d.damping;
  });
}

qlinear_status qlinear_quantize(const float* w, size_t w_count, size_t rows, size_t cols, qlinear_format format,
                                const qlinear_quantize_options* options, qlinear_tensor** out) {
  return guarded([&] {
    require(out, "qlinear_quantize", "out");
    *out = nullptr;
    const auto weights = array_of(w, w_count, "qlinear_quantize", "w");
    *out = release_tensor(quantize(weights, rows, cols, to_format(format),
                                   to_quantize_options(options, "qlinear_quantize")));
  });
}

qlinear_status qlinear_tensor_from_bytes(qlinear_format format, size_t rows, size_t cols, const void* data,
                                         size_t size, qlinear_tensor** out) {
  return guarded([&] {
    require(out, "qlinear_tensor_from_bytes", "out");
    *out = nullptr;
    const auto bytes = array_of(static_cast<const std::byte*>(data), size, "qlinear_tensor_from_bytes", "data");
    *out = release_tensor(QuantizedTensor::from_blocks(to_format(format), rows, cols, bytes));
  });
}

qlinear_status qlinear_dequantize(const qlinear_tensor* tensor, float* out, size_t out_count) {
  return guarded([&] {
    const QuantizedTensor& q = tensor_of(tensor, "qlinear_dequantize");
    const auto target = output_array(out, out_count, "qlinear_dequantize", "out");
    if (target.size() != q.rows() * q.cols()) {
      throw Error(ErrorCode::size_mismatch, "qlinear_dequantize: out holds " + std::to_string(target.size()) +
                                                " floats, the tensor " + std::to_string(q.rows()) + "×" +
                                                std::to_string(q.cols()) + " needs " +
                                                std::to_string(q.rows() * q.cols()));
    }
    const std::vector<float> w = dequantize(q);
    std::memcpy(target.data(), w.data(), w.size() * sizeof(float));
  });
}

qlinear_status qlinear_measure(const float* original, size_t original_count, const qlinear_tensor* tensor,
                               qlinear_stats* stats) {
  return guarded([&] {
    const QuantizedTensor& q = tensor_of(tensor, "qlinear_measure");
    require(stats, "qlinear_measure", "stats");
    const QuantStats s = measure(array_of(original, original_count, "qlinear_measure", "original"), q);
    *stats = {s.rmse, s.max_abs, s.sqnr_db, s.cosine, s.rel_rmse, s.compression, s.bytes};
  });
}

qlinear_status qlinear_tensor_format(const qlinear_tensor* tensor, qlinear_format* format) {
  return guarded([&] {
    const QuantizedTensor& q = tensor_of(tensor, "qlinear_tensor_format");
    require(format, "qlinear_tensor_format", "format");
    *format = to_c_format(q.format());
  });
}

qlinear_status qlinear_tensor_rows(const qlinear_tensor* tensor, size_t* rows) {
  return guarded([&] {
    const QuantizedTensor& q = tensor_of(tensor, "qlinear_tensor_rows");
    require(rows, "qlinear_tensor_rows", "rows");
    *rows = q.rows();
  });
}

qlinear_status qlinear_tensor_cols(const qlinear_tensor* tensor, size_t* cols) {
  return guarded([&] {
    const QuantizedTensor& q = tensor_of(tensor, "qlinear_tensor_cols");
    require(cols, "qlinear_tensor_cols", "cols");
    *cols = q.cols();
  });
}

qlinear_status qlinear_tensor_row_bytes(const qlinear_tensor* tensor, size_t* row_bytes) {
  return guarded([&] {
    const QuantizedTensor& q = tensor_of(tensor, "qlinear_tensor_row_bytes");
    require(row_bytes, "qlinear_tensor_row_bytes", "row_bytes");
    *row_bytes = q.row_bytes();
  });
}

qlinear_status qlinear_tensor_nbytes(const qlinear_tensor* tensor, size_t* nbytes) {
  return guarded([&] {
    const QuantizedTensor& q = tensor_of(tensor, "qlinear_tensor_nbytes");
    require(nbytes, "qlinear_tensor_nbytes", "nbytes");
    *nbytes = q.nbytes();
  });
}

qlinear_status qlinear_tensor_bits_per_weight(const qlinear_tensor* tensor, double* bits) {
  return guarded([&] {
    const QuantizedTensor& q = tensor_of(tensor, "qlinear_tensor_bits_per_weight");
    require(bits, "qlinear_tensor_bits_per_weight", "bits");
    *bits = q.bits_per_weight();
  });
}

qlinear_status qlinear_tensor_data(const qlinear_tensor* tensor, const void** data, size_t* size) {
  return guarded([&] {
    const QuantizedTensor& q = tensor_of(tensor, "qlinear_tensor_data");
    require(data, "qlinear_tensor_data", "data");
    require(size, "qlinear_tensor_data", "size");
    *data = q.data().data();
    *size = q.data().size();
  });
}

void qlinear_tensor_free(qlinear_tensor* tensor) { delete tensor; }

}  // extern "C"
