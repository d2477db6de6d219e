// The guard's message store, the C enums and the library's, version and threads.

#include "capi/capi_support.hpp"

#include <qlinear/format.hpp>
#include <qlinear/runtime.hpp>
#include <qlinear/version.hpp>

#include <array>
#include <string>

namespace qlinear::capi {
namespace {

thread_local std::string last_message;
thread_local const char* fixed_message = nullptr;  // set when last_message could not be stored

// The C numbers are a stable ABI while the C++ enum may grow in its own order, so the mapping is
// written out, not cast (the tests check that every library format has a C number).
constexpr std::array<std::pair<qlinear_format, Format>, QLINEAR_FORMAT_COUNT> format_table{{
    {QLINEAR_F32, Format::f32},       {QLINEAR_F16, Format::f16},       {QLINEAR_BF16, Format::bf16},
    {QLINEAR_Q8_0, Format::q8_0},     {QLINEAR_Q8_1, Format::q8_1},     {QLINEAR_Q4_0, Format::q4_0},
    {QLINEAR_Q4_1, Format::q4_1},     {QLINEAR_Q5_0, Format::q5_0},     {QLINEAR_Q5_1, Format::q5_1},
    {QLINEAR_Q2_K, Format::q2_K},     {QLINEAR_Q3_K, Format::q3_K},     {QLINEAR_Q4_K, Format::q4_K},
    {QLINEAR_Q5_K, Format::q5_K},     {QLINEAR_Q6_K, Format::q6_K},     {QLINEAR_IQ4_NL, Format::iq4_nl},
    {QLINEAR_IQ4_XS, Format::iq4_xs}, {QLINEAR_I8, Format::i8},         {QLINEAR_I4, Format::i4},
}};

}  // namespace

qlinear_status fail(qlinear_status status, const char* message) noexcept {
  try {
    last_message = message;
    fixed_message = nullptr;
  } catch (...) {
    fixed_message = "out of memory (while storing an error message)";
  }
  return status;
}

qlinear_status status_for(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::invalid_argument: return QLINEAR_INVALID_ARGUMENT;
    case ErrorCode::size_mismatch: return QLINEAR_SIZE_MISMATCH;
    case ErrorCode::non_finite: return QLINEAR_NON_FINITE;
    case ErrorCode::unknown_format: return QLINEAR_UNKNOWN_FORMAT;
    case ErrorCode::unsupported: return QLINEAR_UNSUPPORTED;
    case ErrorCode::io: return QLINEAR_IO;
    case ErrorCode::malformed_file: return QLINEAR_MALFORMED_FILE;
    case ErrorCode::internal: return QLINEAR_INTERNAL;
  }
  return QLINEAR_INTERNAL;
}

void require(const void* p, const char* function, const char* name) {
  if (p == nullptr) throw Error(ErrorCode::invalid_argument, std::string(function) + ": " + name + " is NULL");
}

Format to_format(qlinear_format format) {
  for (const auto& [c, f] : format_table) {
    if (c == format) return f;
  }
  throw Error(ErrorCode::unknown_format, "format number " + std::to_string(static_cast<int>(format)) +
                                             " is not a qlinear_format (0.." +
                                             std::to_string(QLINEAR_FORMAT_COUNT - 1) + ")");
}

qlinear_format to_c_format(Format format) {
  for (const auto& [c, f] : format_table) {
    if (f == format) return c;
  }
  throw Error(ErrorCode::internal, "format " + std::string(format_name(format)) + " has no qlinear_format number");
}

AffineOptions to_affine(const qlinear_affine_options& options) {
  AffineOptions a;
  a.symmetric = options.symmetric != 0;
  switch (options.granularity) {
    case QLINEAR_GRANULARITY_TENSOR: a.granularity = AffineOptions::Granularity::tensor; break;
    case QLINEAR_GRANULARITY_CHANNEL: a.granularity = AffineOptions::Granularity::channel; break;
    case QLINEAR_GRANULARITY_GROUP: a.granularity = AffineOptions::Granularity::group; break;
    default:
      throw Error(ErrorCode::invalid_argument, "affine granularity " + std::to_string(options.granularity) +
                                                   " is not tensor (0), channel (1) or group (2)");
  }
  a.group_size = options.group_size;
  switch (options.clip) {
    case QLINEAR_CLIP_MINMAX: a.calibration = AffineOptions::Calibration::minmax; break;
    case QLINEAR_CLIP_PERCENTILE: a.calibration = AffineOptions::Calibration::percentile; break;
    case QLINEAR_CLIP_MSE: a.calibration = AffineOptions::Calibration::mse; break;
    default:
      throw Error(ErrorCode::invalid_argument,
                  "affine clip " + std::to_string(options.clip) + " is not minmax (0), percentile (1) or mse (2)");
  }
  a.percentile = options.percentile;
  return a;
}

Method to_method(qlinear_method method) {
  switch (method) {
    case QLINEAR_METHOD_REFERENCE: return Method::reference;
    case QLINEAR_METHOD_SEARCH: return Method::search;
    case QLINEAR_METHOD_GPTQ: return Method::gptq;
  }
  throw Error(ErrorCode::invalid_argument, "method " + std::to_string(static_cast<int>(method)) +
                                               " is not reference (0), search (1) or gptq (2)");
}

QuantizeOptions to_quantize_options(const qlinear_quantize_options* options, const char* function) {
  QuantizeOptions o;
  if (options == nullptr) return o;
  o.affine = to_affine(options->affine);
  o.importance = array_of(options->importance, options->importance_count, function, "options->importance");
  o.method = to_method(options->method);
  o.calibration = options->calibration != nullptr ? &options->calibration->calibration : nullptr;
  o.damping = options->damping;
  return o;
}

}  // namespace qlinear::capi

using namespace qlinear;
using namespace qlinear::capi;

extern "C" {

const char* qlinear_version(void) { return version_string; }

const char* qlinear_status_name(qlinear_status status) {
  switch (status) {
    case QLINEAR_OK: return "ok";
    case QLINEAR_OUT_OF_MEMORY: return "out_of_memory";
    case QLINEAR_INVALID_ARGUMENT: case QLINEAR_SIZE_MISMATCH: case QLINEAR_NON_FINITE:
    case QLINEAR_UNKNOWN_FORMAT: case QLINEAR_UNSUPPORTED: case QLINEAR_IO: case QLINEAR_MALFORMED_FILE:
    case QLINEAR_INTERNAL:
      // The C numbers follow ErrorCode's order, one apart from it.
      return error_code_name(static_cast<ErrorCode>(status - 1)).data();
  }
  return "unknown";
}

const char* qlinear_last_error(void) { return fixed_message != nullptr ? fixed_message : last_message.c_str(); }

qlinear_status qlinear_set_num_threads(size_t count) {
  return guarded([&] { set_num_threads(count); });
}

qlinear_status qlinear_get_num_threads(size_t* count) {
  return guarded([&] {
    require(count, "qlinear_get_num_threads", "count");
    *count = num_threads();
  });
}

}  // extern "C"
