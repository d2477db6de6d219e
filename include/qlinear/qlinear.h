/* qlinear's C API (C11, and valid C++): quantize weight matrices, run quantized linear layers,
 * quantize model files. Link with `pkg-config --cflags --libs qlinear` or CMake's qlinear::shared.
 *
 * Conventions:
 * - Every function that can fail returns a qlinear_status; QLINEAR_OK is 0. On failure it stores a
 *   message naming what was wrong (the sizes, the row and column, the valid names) for
 *   qlinear_last_error(), per thread; a call that succeeds leaves the message as it was. No C++
 *   exception ever leaves the library; running out of memory is QLINEAR_OUT_OF_MEMORY.
 * - Handles (qlinear_tensor, qlinear_layer, qlinear_calibration) are opaque, made by the functions
 *   that take a `**out` and released by their _free function (which accepts NULL). On failure *out
 *   is set to NULL.
 * - Arrays are passed as a pointer and an element count, and the count is checked against the
 *   shape: a wrong count is QLINEAR_SIZE_MISMATCH, never a read past the end. A NULL pointer is
 *   QLINEAR_INVALID_ARGUMENT, except with a count of 0 where an array is optional (bias,
 *   importance).
 * - Matrices are row-major: weights [rows, cols] = [out_features, in_features], inputs
 *   [batch, in_features], outputs [batch, out_features].
 * - Threads: the functions that only read a handle (forward, dequantize, the accessors) may run on
 *   one handle from several threads at once; a handle that is being freed, or a calibration that
 *   is being added to, must be used by one thread only.
 */
#ifndef QLINEAR_H
#define QLINEAR_H

#include <qlinear/export.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The enums below are int-sized in C and C++ alike. In C++ they get int as their fixed underlying
 * type, so that a number a C caller passes that names no enumerator (which the library answers with
 * an error) is still a value of the type, not undefined behaviour. */
#ifdef __cplusplus
#define QLINEAR_ENUM(name) enum name : int
#else
#define QLINEAR_ENUM(name) enum name
#endif

#define QLINEAR_VERSION_MAJOR 0
#define QLINEAR_VERSION_MINOR 1
#define QLINEAR_VERSION_PATCH 0

/* The library's version, "0.1.0" (the library loaded, which may be newer than this header). */
QLINEAR_API const char* qlinear_version(void);

/* The C++ API's qlinear::ErrorCode values, in its order, then what only C can meet. The numbers
 * never change; new codes get new numbers. */
typedef QLINEAR_ENUM(qlinear_status) {
  QLINEAR_OK = 0,
  QLINEAR_INVALID_ARGUMENT = 1, /* a parameter out of its range, a NULL pointer */
  QLINEAR_SIZE_MISMATCH = 2,    /* an array or shape whose size is not what the others imply */
  QLINEAR_NON_FINITE = 3,       /* NaN or Inf where a finite value is required */
  QLINEAR_UNKNOWN_FORMAT = 4,   /* a format name or number qlinear does not know */
  QLINEAR_UNSUPPORTED = 5,      /* a valid request that this build or format cannot serve */
  QLINEAR_IO = 6,               /* the operating system refused a file operation */
  QLINEAR_MALFORMED_FILE = 7,   /* a file whose contents break its format's rules */
  QLINEAR_INTERNAL = 8,         /* a broken invariant inside qlinear (a bug: please report it) */
  QLINEAR_OUT_OF_MEMORY = 9     /* an allocation failed */
} qlinear_status;

/* "ok", "invalid_argument", ... ("unknown" for a number that is no status). Never NULL. */
QLINEAR_API const char* qlinear_status_name(qlinear_status status);

/* The message of the last call that failed on this thread ("" if none did). Valid until the next
 * failing call on this thread. Never NULL. */
QLINEAR_API const char* qlinear_last_error(void);

/* Weight formats: every format of the library (README "Formats"). The numbers never change; new
 * formats get new numbers after the last. */
typedef QLINEAR_ENUM(qlinear_format) {
  QLINEAR_F32 = 0,
  QLINEAR_F16 = 1,
  QLINEAR_BF16 = 2,
  QLINEAR_Q8_0 = 3,
  QLINEAR_Q8_1 = 4,
  QLINEAR_Q4_0 = 5,
  QLINEAR_Q4_1 = 6,
  QLINEAR_Q5_0 = 7,
  QLINEAR_Q5_1 = 8,
  QLINEAR_Q2_K = 9,
  QLINEAR_Q3_K = 10,
  QLINEAR_Q4_K = 11,
  QLINEAR_Q5_K = 12,
  QLINEAR_Q6_K = 13,
  QLINEAR_IQ4_NL = 14,
  QLINEAR_IQ4_XS = 15,
  QLINEAR_I8 = 16, /* affine int8 (qlinear_affine_options) */
  QLINEAR_I4 = 17, /* affine int4 */
  QLINEAR_FORMAT_COUNT = 18
} qlinear_format;

typedef struct qlinear_format_info {
  const char* name;        /* "q4_0"; static storage */
  const char* description; /* one line; static storage */
  int ggml_type;           /* ggml's type number, or -1 (affine formats) */
  size_t block_size;       /* weights per block */
  size_t block_bytes;      /* bytes per block (codes only for the affine formats) */
  double bits_per_weight;  /* of the blocks; affine formats add their scales */
  size_t row_alignment;    /* rows are zero-padded inside qlinear to a multiple of this */
  int affine;              /* 1 for i8 and i4 */
} qlinear_format_info;

QLINEAR_API qlinear_status qlinear_format_name(qlinear_format format, const char** name);
/* "q4_0", "q4_K", ... exactly as qlinear_format_name spells them. QLINEAR_UNKNOWN_FORMAT otherwise,
 * with a message listing the valid names. */
QLINEAR_API qlinear_status qlinear_format_parse(const char* name, qlinear_format* format);
QLINEAR_API qlinear_status qlinear_format_bits_per_weight(qlinear_format format, double* bits);
QLINEAR_API qlinear_status qlinear_format_get_info(qlinear_format format, qlinear_format_info* info);

/* How codes are chosen (docs/methods.md). */
typedef QLINEAR_ENUM(qlinear_method) {
  QLINEAR_METHOD_REFERENCE = 0, /* ggml's rule, byte-identical to ggml */
  QLINEAR_METHOD_SEARCH = 1,    /* per block, the scales with the least weighted error */
  QLINEAR_METHOD_GPTQ = 2       /* error compensation through the inputs' XᵀX (needs a calibration) */
} qlinear_method;

typedef QLINEAR_ENUM(qlinear_granularity) {
  QLINEAR_GRANULARITY_TENSOR = 0,
  QLINEAR_GRANULARITY_CHANNEL = 1, /* one scale per output row */
  QLINEAR_GRANULARITY_GROUP = 2    /* one scale per group_size inputs */
} qlinear_granularity;

typedef QLINEAR_ENUM(qlinear_clip) {
  QLINEAR_CLIP_MINMAX = 0,
  QLINEAR_CLIP_PERCENTILE = 1,
  QLINEAR_CLIP_MSE = 2
} qlinear_clip;

/* The affine formats' options (qlinear::AffineOptions); ignored by the block formats. */
typedef struct qlinear_affine_options {
  int symmetric;                   /* 1: w ≈ s·q; 0: w ≈ s·(q − z) */
  qlinear_granularity granularity; /* default: channel */
  size_t group_size;               /* for QLINEAR_GRANULARITY_GROUP: a multiple of 8 */
  qlinear_clip clip;               /* default: minmax */
  double percentile;               /* for QLINEAR_CLIP_PERCENTILE, in (50, 100]; default 99.99 */
} qlinear_affine_options;

typedef struct qlinear_calibration qlinear_calibration;

/* qlinear::QuantizeOptions. Start from qlinear_quantize_options_init(); a NULL options pointer
 * means the defaults. */
typedef struct qlinear_quantize_options {
  qlinear_affine_options affine;
  const float* importance;                /* cols weights >= 0, or NULL */
  size_t importance_count;                /* cols, or 0 */
  qlinear_method method;                  /* default: reference */
  const qlinear_calibration* calibration; /* gptq needs it; search uses its importance; or NULL */
  double damping;                         /* gptq: fraction of mean(diag XᵀX); default 0.01 */
} qlinear_quantize_options;

QLINEAR_API qlinear_status qlinear_quantize_options_init(qlinear_quantize_options* options);

/* ---- quantized tensors --------------------------------------------------------------------- */

typedef struct qlinear_tensor qlinear_tensor;

/* w: rows·cols floats (w_count). Error on NaN/Inf (naming the row and column), options out of range,
 * importance that is not cols finite values >= 0, gptq without a calibration of cols inputs. */
QLINEAR_API qlinear_status qlinear_quantize(const float* w, size_t w_count, size_t rows, size_t cols,
                                            qlinear_format format,
                                            const qlinear_quantize_options* options, qlinear_tensor** out);

/* Wraps blocks already quantized, e.g. a tensor's bytes read from a GGUF file: rows × row bytes in
 * ggml's layout, rows padded to the format's row alignment (what qlinear_tensor_data returns).
 * The bytes are copied. Block and float formats only (the affine formats store scales apart). */
QLINEAR_API qlinear_status qlinear_tensor_from_bytes(qlinear_format format, size_t rows, size_t cols,
                                                     const void* data, size_t size, qlinear_tensor** out);

/* out: rows·cols floats (out_count). */
QLINEAR_API qlinear_status qlinear_dequantize(const qlinear_tensor* tensor, float* out, size_t out_count);

/* qlinear::QuantStats: what quantization cost. */
typedef struct qlinear_stats {
  double rmse;        /* sqrt(mean((w − ŵ)²)) */
  double max_abs;     /* max |w − ŵ| */
  double sqnr_db;     /* 10·log10(Σw² / Σ(w − ŵ)²); +inf when the error is zero */
  double cosine;      /* of w and ŵ */
  double rel_rmse;    /* rmse / sqrt(mean(w²)) */
  double compression; /* 4·rows·cols / bytes */
  size_t bytes;       /* every byte the tensor holds */
} qlinear_stats;

/* original: the rows·cols floats the tensor was quantized from. */
QLINEAR_API qlinear_status qlinear_measure(const float* original, size_t original_count,
                                           const qlinear_tensor* tensor, qlinear_stats* stats);

QLINEAR_API qlinear_status qlinear_tensor_format(const qlinear_tensor* tensor, qlinear_format* format);
QLINEAR_API qlinear_status qlinear_tensor_rows(const qlinear_tensor* tensor, size_t* rows);
QLINEAR_API qlinear_status qlinear_tensor_cols(const qlinear_tensor* tensor, size_t* cols);
/* Stored bytes per row (padded), and every byte held (codes, scales, zero points, padding). */
QLINEAR_API qlinear_status qlinear_tensor_row_bytes(const qlinear_tensor* tensor, size_t* row_bytes);
QLINEAR_API qlinear_status qlinear_tensor_nbytes(const qlinear_tensor* tensor, size_t* nbytes);
QLINEAR_API qlinear_status qlinear_tensor_bits_per_weight(const qlinear_tensor* tensor, double* bits);
/* The blocks (or an affine tensor's codes) as stored: rows × row_bytes bytes, valid while the
 * tensor lives. Byte-identical to ggml's for the block formats. */
QLINEAR_API qlinear_status qlinear_tensor_data(const qlinear_tensor* tensor, const void** data, size_t* size);
QLINEAR_API void qlinear_tensor_free(qlinear_tensor* tensor);

/* ---- quantized linear layers: y = x · Wᵀ + b --------------------------------------------------- */

typedef struct qlinear_layer qlinear_layer;

/* w: out_features·in_features floats; bias: out_features floats, or NULL with bias_count 0. */
QLINEAR_API qlinear_status qlinear_layer_create(const float* w, size_t w_count, const float* bias,
                                                size_t bias_count, size_t out_features, size_t in_features,
                                                qlinear_format format, const qlinear_quantize_options* options,
                                                qlinear_layer** out);
/* A layer around a quantized tensor (its bytes are shared, not copied; the tensor may be freed). */
QLINEAR_API qlinear_status qlinear_layer_from_tensor(const qlinear_tensor* weight, const float* bias,
                                                     size_t bias_count, qlinear_layer** out);

/* x: batch·in_features floats; y: batch·out_features floats. What it computes per format:
 * qlinear/linear.hpp (the quantized formats quantize x to q8 per block of 32). */
QLINEAR_API qlinear_status qlinear_layer_forward(const qlinear_layer* layer, const float* x, size_t x_count,
                                                 size_t batch, float* y, size_t y_count);
QLINEAR_API qlinear_status qlinear_layer_in_features(const qlinear_layer* layer, size_t* in_features);
QLINEAR_API qlinear_status qlinear_layer_out_features(const qlinear_layer* layer, size_t* out_features);
QLINEAR_API qlinear_status qlinear_layer_format(const qlinear_layer* layer, qlinear_format* format);
/* 4·out·in / bytes stored. */
QLINEAR_API qlinear_status qlinear_layer_compression_ratio(const qlinear_layer* layer, double* ratio);
/* out: out_features·in_features floats. */
QLINEAR_API qlinear_status qlinear_layer_dequantize_weights(const qlinear_layer* layer, float* out,
                                                            size_t out_count);
/* A new tensor handle sharing the layer's weights (free it with qlinear_tensor_free). */
QLINEAR_API qlinear_status qlinear_layer_weight(const qlinear_layer* layer, qlinear_tensor** out);
QLINEAR_API void qlinear_layer_free(qlinear_layer* layer);

/* ---- calibration: statistics of a layer's inputs (XᵀX and Σx², in double) ------------------------ */

QLINEAR_API qlinear_status qlinear_calibration_new(size_t in_features, qlinear_calibration** out);
/* x: rows·in_features floats. On an error the statistics are unchanged. */
QLINEAR_API qlinear_status qlinear_calibration_add(qlinear_calibration* calibration, const float* x,
                                                   size_t x_count, size_t rows);
/* Adds other's statistics (the same in_features). */
QLINEAR_API qlinear_status qlinear_calibration_merge(qlinear_calibration* calibration,
                                                     const qlinear_calibration* other);
QLINEAR_API qlinear_status qlinear_calibration_in_features(const qlinear_calibration* calibration,
                                                           size_t* in_features);
QLINEAR_API qlinear_status qlinear_calibration_rows(const qlinear_calibration* calibration, uint64_t* rows);
/* Mean x² per input column (in_features floats), llama.cpp's importance. */
QLINEAR_API qlinear_status qlinear_calibration_importance(const qlinear_calibration* calibration, float* out,
                                                          size_t out_count);
QLINEAR_API void qlinear_calibration_free(qlinear_calibration* calibration);

/* ---- whole models (qlinear::quantize_model) ---------------------------------------------------- */

/* Start from qlinear_model_options_init(); a NULL options pointer means the defaults. Strings may be
 * NULL (not given). */
typedef struct qlinear_model_options {
  int pure;                      /* with a mix: every tensor in its base format */
  int keep_1d;                   /* keep tensors of rank < 2 as they are (default 1) */
  const char* const* rules;      /* "PATTERN=FORMAT" or "PATTERN=keep", first match wins */
  size_t rule_count;
  const char* fallback;          /* the format of rows a block format cannot hold */
  const char* imatrix;           /* llama.cpp's importance matrix file */
  const char* calibration;       /* activations or statistics file (gptq needs one) */
  qlinear_method method;         /* default: reference */
  double damping;                /* gptq; default 0.01 */
  qlinear_affine_options affine; /* for i8 / i4 targets */
} qlinear_model_options;

typedef struct qlinear_model_summary {
  size_t tensors;     /* tensors written */
  size_t quantized;   /* of them, quantized to a new format */
  uint64_t bytes_in, bytes_out, weights;
  double seconds;
} qlinear_model_summary;

QLINEAR_API qlinear_status qlinear_model_options_init(qlinear_model_options* options);

/* Reads `input` (safetensors or GGUF), quantizes it tensor by tensor to `type` (a format name or
 * one of llama-quantize's mixes: "q4_k_m", ...; any letter case for mixes) and writes `output`
 * (GGUF; safetensors when the name ends in .safetensors). The output appears only on success.
 * summary may be NULL. */
QLINEAR_API qlinear_status qlinear_quantize_model(const char* input, const char* output, const char* type,
                                                  const qlinear_model_options* options,
                                                  qlinear_model_summary* summary);

/* ---- threads --------------------------------------------------------------------------------- */

/* Threads forward and quantize may use, the caller's included; 0 restores the default
 * (QLINEAR_NUM_THREADS, else the hardware threads). Results do not depend on it. */
QLINEAR_API qlinear_status qlinear_set_num_threads(size_t count);
QLINEAR_API qlinear_status qlinear_get_num_threads(size_t* count);

#ifdef __cplusplus
}
#endif

#endif /* QLINEAR_H */
