// The C API of quantized linear layers and of calibration statistics.

#include "capi/capi_support.hpp"

#include <cstring>
#include <memory>
#include <string>

using namespace qlinear;
using namespace qlinear::capi;

namespace {

const QuantizedLinear& layer_of(const qlinear_layer* l, const char* function) {
  require(l, function, "layer");
  return l->layer;
}

const Calibration& calibration_of(const qlinear_calibration* c, const char* function) {
  require(c, function, "calibration");
  return c->calibration;
}

qlinear_layer* release_layer(QuantizedLinear layer) {
  auto handle = std::make_unique<qlinear_layer>();
  handle->layer = std::move(layer);
  return handle.release();
}

// Copies a vector the library returned into the caller's array of exactly its size.
template <class T>
void copy_out(const std::vector<T>& values, std::span<T> target, const char* function, const char* what) {
  if (target.size() != values.size()) {
    throw Error(ErrorCode::size_mismatch, std::string(function) + ": out holds " + std::to_string(target.size()) +
                                              " floats, " + what + " are " + std::to_string(values.size()));
  }
  std::memcpy(target.data(), values.data(), values.size() * sizeof(T));
}

}  // namespace

extern "C" {

qlinear_status qlinear_layer_create(const float* w, size_t w_count, const float* bias, size_t bias_count,
                                    size_t out_features, size_t in_features, qlinear_format format,
                                    const qlinear_quantize_options* options, qlinear_layer** out) {
  return guarded([&] {
    const char* function = "qlinear_layer_create";
    require(out, function, "out");
    *out = nullptr;
    *out = release_layer(QuantizedLinear::from_weights(
        array_of(w, w_count, function, "w"), array_of(bias, bias_count, function, "bias"), out_features,
        in_features, to_format(format), to_quantize_options(options, function)));
  });
}

qlinear_status qlinear_layer_from_tensor(const qlinear_tensor* weight, const float* bias, size_t bias_count,
                                         qlinear_layer** out) {
  return guarded([&] {
    const char* function = "qlinear_layer_from_tensor";
    require(out, function, "out");
    *out = nullptr;
    require(weight, function, "weight");
    *out = release_layer(QuantizedLinear::from_quantized(weight->tensor, array_of(bias, bias_count, function, "bias")));
  });
}

qlinear_status qlinear_layer_forward(const qlinear_layer* layer, const float* x, size_t x_count, size_t batch,
                                     float* y, size_t y_count) {
  return guarded([&] {
    const char* function = "qlinear_layer_forward";
    const QuantizedLinear& l = layer_of(layer, function);
    l.forward(array_of(x, x_count, function, "x"), batch, output_array(y, y_count, function, "y"));
  });
}

qlinear_status qlinear_layer_in_features(const qlinear_layer* layer, size_t* in_features) {
  return guarded([&] {
    const QuantizedLinear& l = layer_of(layer, "qlinear_layer_in_features");
    require(in_features, "qlinear_layer_in_features", "in_features");
    *in_features = l.in_features();
  });
}

qlinear_status qlinear_layer_out_features(const qlinear_layer* layer, size_t* out_features) {
  return guarded([&] {
    const QuantizedLinear& l = layer_of(layer, "qlinear_layer_out_features");
    require(out_features, "qlinear_layer_out_features", "out_features");
    *out_features = l.out_features();
  });
}

qlinear_status qlinear_layer_format(const qlinear_layer* layer, qlinear_format* format) {
  return guarded([&] {
    const QuantizedLinear& l = layer_of(layer, "qlinear_layer_format");
    require(format, "qlinear_layer_format", "format");
    *format = to_c_format(l.format());
  });
}

qlinear_status qlinear_layer_compression_ratio(const qlinear_layer* layer, double* ratio) {
  return guarded([&] {
    const QuantizedLinear& l = layer_of(layer, "qlinear_layer_compression_ratio");
    require(ratio, "qlinear_layer_compression_ratio", "ratio");
    *ratio = l.compression_ratio();
  });
}

qlinear_status qlinear_layer_dequantize_weights(const qlinear_layer* layer, float* out, size_t out_count) {
  return guarded([&] {
    const char* function = "qlinear_layer_dequantize_weights";
    const QuantizedLinear& l = layer_of(layer, function);
    const auto target = output_array(out, out_count, function, "out");
    if (target.size() != l.out_features() * l.in_features()) {
      throw Error(ErrorCode::size_mismatch, std::string(function) + ": out holds " + std::to_string(target.size()) +
                                                " floats, the weights " + std::to_string(l.out_features()) + "×" +
                                                std::to_string(l.in_features()) + " need " +
                                                std::to_string(l.out_features() * l.in_features()));
    }
    copy_out(l.dequantize_weights(), target, function, "the weights");
  });
}

qlinear_status qlinear_layer_weight(const qlinear_layer* layer, qlinear_tensor** out) {
  return guarded([&] {
    require(out, "qlinear_layer_weight", "out");
    *out = nullptr;
    const QuantizedLinear& l = layer_of(layer, "qlinear_layer_weight");
    auto handle = std::make_unique<qlinear_tensor>();
    handle->tensor = l.weight();  // shares the stored bytes
    *out = handle.release();
  });
}

void qlinear_layer_free(qlinear_layer* layer) { delete layer; }

qlinear_status qlinear_calibration_new(size_t in_features, qlinear_calibration** out) {
  return guarded([&] {
    require(out, "qlinear_calibration_new", "out");
    *out = nullptr;
    *out = new qlinear_calibration(in_features);
  });
}

qlinear_status qlinear_calibration_add(qlinear_calibration* calibration, const float* x, size_t x_count,
                                       size_t rows) {
  return guarded([&] {
    require(calibration, "qlinear_calibration_add", "calibration");
    calibration->calibration.add(array_of(x, x_count, "qlinear_calibration_add", "x"), rows);
  });
}

qlinear_status qlinear_calibration_merge(qlinear_calibration* calibration, const qlinear_calibration* other) {
  return guarded([&] {
    require(calibration, "qlinear_calibration_merge", "calibration");
    require(other, "qlinear_calibration_merge", "other");
    calibration->calibration.merge(other->calibration);
  });
}

qlinear_status qlinear_calibration_in_features(const qlinear_calibration* calibration, size_t* in_features) {
  return guarded([&] {
    const Calibration& c = calibration_of(calibration, "qlinear_calibration_in_features");
    require(in_features, "qlinear_calibration_in_features", "in_features");
    *in_features = c.in_features();
  });
}

qlinear_status qlinear_calibration_rows(const qlinear_calibration* calibration, uint64_t* rows) {
  return guarded([&] {
    const Calibration& c = calibration_of(calibration, "qlinear_calibration_rows");
    require(rows, "qlinear_calibration_rows", "rows");
    *rows = c.rows();
  });
}

qlinear_status qlinear_calibration_importance(const qlinear_calibration* calibration, float* out,
                                              size_t out_count) {
  return guarded([&] {
    const char* function = "qlinear_calibration_importance";
    const Calibration& c = calibration_of(calibration, function);
    copy_out(c.importance(), output_array(out, out_count, function, "out"), function, "the in_features importances");
  });
}

void qlinear_calibration_free(qlinear_calibration* calibration) { delete calibration; }

}  // extern "C"
